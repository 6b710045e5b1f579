// Our small SQL client over `pg`: bounded connect, server-side statement timeout plus a client-side bound (a
// silent server cannot hang a caller), abort, and errors mapped to stable codes by SQLSTATE / errno, never by
// message text. Used by the engine (deploy, discover) and by the monitor for persistent probe connections.
import pg from 'pg';
import { NinesError, isNinesError } from '../../core/errors.ts';

export interface SqlTarget {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  /** Default "postgres". */
  readonly database?: string;
}

export interface SqlOptions {
  /** TCP connect + authentication. Default 5 s. */
  readonly connectTimeoutMs?: number;
  /** statement_timeout on the server; the client gives up 2 s later (connection closed). Default 15 s. */
  readonly statementTimeoutMs?: number;
  /** Shown in pg_stat_activity. Default "nines". */
  readonly applicationName?: string;
  /** Aborting closes the connection; pending calls fail with NINES_E_COMMAND_ABORTED. */
  readonly signal?: AbortSignal;
  /** Called once when an idle connection breaks (server restart, network): persistent probes reconnect. */
  readonly onBroken?: (err: NinesError) => void;
}

export type SqlRow = object;

export interface SqlClient {
  /** "host:port" */
  readonly target: string;
  /** True once the connection is closed or broken: open a new one. */
  readonly closed: boolean;
  query<R extends SqlRow = SqlRow>(text: string, params?: readonly unknown[]): Promise<R[]>;
  close(): Promise<void>;
}

const CLIENT_SLACK_MS = 2000;

/** SQLSTATEs that mean "this server cannot serve us now" rather than "this statement failed". */
const UNREACHABLE_STATES = new Set(['57P01', '57P02', '57P03', '53300']);
const AUTH_STATES = new Set(['28P01', '28000']);

function sqlState(err: unknown): string | undefined {
  // pg's DatabaseError carries the SQLSTATE in `code` (5 characters); node socket errors carry an errno name.
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) && !code.startsWith('E') ? code : undefined;
}

function errnoCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('E') ? code : undefined;
}

/** Maps anything `pg` throws to a NinesError. `statement` is for the context (it must hold no secret). */
export function sqlError(err: unknown, target: SqlTarget, statement?: string): NinesError {
  if (isNinesError(err)) return err;
  const where = `${target.user}@${target.host}:${target.port}`;
  const message = err instanceof Error ? err.message : String(err);
  const state = sqlState(err);
  const context = {
    host: target.host,
    port: target.port,
    user: target.user,
    ...(state ? { sqlState: state } : {}),
    ...(statement ? { statement: statement.slice(0, 500) } : {}),
  };
  if (state && AUTH_STATES.has(state)) {
    return new NinesError('NINES_E_DB_AUTH', `${where}: ${message}`, { cause: err, context });
  }
  if (state && !UNREACHABLE_STATES.has(state) && !state.startsWith('08')) {
    return new NinesError('NINES_E_DB_QUERY', `${where}: ${message} (SQLSTATE ${state})`, {
      cause: err,
      context,
    });
  }
  // No SQLSTATE: a socket error (ECONNREFUSED, ETIMEDOUT, ...) or the connection ending under us.
  const errno = errnoCode(err);
  return new NinesError('NINES_E_DB_UNREACHABLE', `${where}: ${message}`, {
    cause: err,
    context: { ...context, ...(errno ? { errno } : {}) },
    hint: 'Check that PostgreSQL runs on the host, listens on the node address and port (listen_addresses), and that pg_hba.conf admits this address.',
  });
}

function timeoutError(target: SqlTarget, what: string, ms: number, statement?: string): NinesError {
  return new NinesError(
    'NINES_E_DB_UNREACHABLE',
    `${target.user}@${target.host}:${target.port}: no answer to ${what} within ${ms} ms`,
    { context: { host: target.host, port: target.port, ...(statement ? { statement } : {}) } },
  );
}

function abortedError(target: SqlTarget): NinesError {
  return new NinesError('NINES_E_COMMAND_ABORTED', `SQL to ${target.host}:${target.port}`);
}

/** Runs `work`, failing with `onTimeout()` after ms (and calling `kill`), or when `signal` aborts. */
async function bounded<T>(
  work: Promise<T>,
  ms: number,
  fail: { onTimeout: () => NinesError; onAbort: () => NinesError; kill: () => void },
  signal: AbortSignal | undefined,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const stop = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      fail.kill();
      reject(fail.onTimeout());
    }, ms);
    onAbort = () => {
      fail.kill();
      reject(fail.onAbort());
    };
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([work, stop]);
  } finally {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener('abort', onAbort);
  }
}

/** Opens one connection. Errors: NINES_E_DB_AUTH, NINES_E_DB_UNREACHABLE, NINES_E_COMMAND_ABORTED. */
export async function connectSql(target: SqlTarget, options: SqlOptions = {}): Promise<SqlClient> {
  const connectMs = options.connectTimeoutMs ?? 5000;
  const statementMs = options.statementTimeoutMs ?? 15_000;
  const client = new pg.Client({
    host: target.host,
    port: target.port,
    user: target.user,
    password: target.password,
    database: target.database ?? 'postgres',
    application_name: options.applicationName ?? 'nines',
    statement_timeout: statementMs,
    keepAlive: true,
    keepAliveInitialDelayMillis: 5000,
  });
  let closed = false;
  let broken = false;
  const kill = (): void => {
    closed = true;
    void client.end().catch(() => undefined);
  };
  client.on('error', (err: unknown) => {
    closed = true;
    if (broken) return;
    broken = true;
    options.onBroken?.(sqlError(err, target));
  });
  client.on('end', () => {
    closed = true;
  });
  try {
    await bounded(
      client.connect(),
      connectMs,
      {
        onTimeout: () => timeoutError(target, 'connect', connectMs),
        onAbort: () => abortedError(target),
        kill,
      },
      options.signal,
    );
  } catch (err) {
    kill();
    throw sqlError(err, target);
  }
  return {
    target: `${target.host}:${target.port}`,
    get closed() {
      return closed;
    },
    async query<R extends SqlRow = SqlRow>(text: string, params: readonly unknown[] = []): Promise<R[]> {
      if (closed) throw sqlError(new Error('the connection is closed'), target, text);
      try {
        const result = await bounded(
          client.query<R>(text, params as unknown[]),
          statementMs + CLIENT_SLACK_MS,
          {
            onTimeout: () => timeoutError(target, 'a statement', statementMs + CLIENT_SLACK_MS, text),
            onAbort: () => abortedError(target),
            kill,
          },
          options.signal,
        );
        return result.rows;
      } catch (err) {
        throw sqlError(err, target, text);
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      await client.end().catch(() => undefined);
    },
  };
}

/** Connects, runs fn, always closes. */
export async function withSql<T>(
  target: SqlTarget,
  options: SqlOptions,
  fn: (client: SqlClient) => Promise<T>,
): Promise<T> {
  const client = await connectSql(target, options);
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}
