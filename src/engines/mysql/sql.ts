// SQL from the controller to a MariaDB node over TCP, through the `mariadb` connector, behind our own small
// interface (STYLE.md §2). Errors become NinesErrors with stable codes: NINES_E_DB_AUTH, NINES_E_DB_UNREACHABLE,
// NINES_E_DB_QUERY (the server's errno is in `context.errno`, e.g. 1290 read-only, 1047 Galera not ready).
// A client is one persistent connection: the monitor keeps one per node and probes over it every second.
import { connect as netConnect, type Socket } from 'node:net';
import type { Connection, SqlError } from 'mariadb';
import { NinesError, isNinesError } from '../../core/errors.ts';

export interface SqlEndpoint {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
}

export interface SqlOptions {
  /** TCP connect + handshake + authentication. Default 5 s. */
  readonly connectTimeoutMs?: number;
  /** Default bound on each statement; the connection is destroyed when it is exceeded. Default 30 s. */
  readonly queryTimeoutMs?: number;
}

export type SqlRow = Readonly<Record<string, unknown>>;

export interface SqlClient {
  /** host:port */
  readonly address: string;
  /** Rows of a SELECT/SHOW (values: strings, numbers, null; BIGINT as number when safe). */
  query<T extends SqlRow = SqlRow>(
    sql: string,
    params?: readonly unknown[],
    options?: { readonly timeoutMs?: number },
  ): Promise<T[]>;
  /** A statement without rows; returns the affected row count. */
  execute(
    sql: string,
    params?: readonly unknown[],
    options?: { readonly timeoutMs?: number },
  ): Promise<number>;
  /** False once the connection is closed or broke (then open a new client). */
  readonly usable: boolean;
  close(): Promise<void>;
}

const DEFAULT_CONNECT_TIMEOUT_MS = 5000;
const DEFAULT_QUERY_TIMEOUT_MS = 30_000;

/** MariaDB server error numbers nines reacts to. */
export const ER = {
  ACCESS_DENIED: 1045,
  DBACCESS_DENIED: 1044,
  OPTION_PREVENTS_STATEMENT: 1290,
  /** Galera: "WSREP has not yet prepared node for application use". */
  UNKNOWN_COM_ERROR: 1047,
  SPECIFIC_ACCESS_DENIED: 1227,
  TABLEACCESS_DENIED: 1142,
} as const;

const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ER_CONNECTION_TIMEOUT',
  'ER_SOCKET_TIMEOUT',
  'ER_SOCKET_UNEXPECTED_CLOSE',
  'ER_CONNECTION_ALREADY_CLOSED',
  'ER_CMD_CONNECTION_CLOSED',
  'PROTOCOL_CONNECTION_LOST',
]);

function asSqlError(err: unknown): Partial<SqlError> {
  return typeof err === 'object' && err !== null ? err : {};
}

/** The server error number of a failed statement (from a NinesError made here, or a raw connector error). */
export function sqlErrno(err: unknown): number | undefined {
  if (isNinesError(err)) {
    const errno = err.context.errno;
    return typeof errno === 'number' ? errno : undefined;
  }
  const errno = asSqlError(err).errno;
  return typeof errno === 'number' && errno > 0 ? errno : undefined;
}

/** Turns a connector error into a NinesError; `statement` is recorded (it must not hold secrets). */
export function classifySqlError(
  err: unknown,
  endpoint: Pick<SqlEndpoint, 'host' | 'port' | 'user'>,
  statement?: string,
): NinesError {
  if (isNinesError(err)) return err;
  const e = asSqlError(err);
  const address = `${endpoint.host}:${endpoint.port}`;
  const message = e.sqlMessage ?? e.message ?? String(err);
  const context = {
    host: endpoint.host,
    port: endpoint.port,
    user: endpoint.user,
    errno: typeof e.errno === 'number' && e.errno > 0 ? e.errno : undefined,
    sqlState: e.sqlState ?? undefined,
    driverCode: e.code ?? undefined,
    ...(statement ? { statement } : {}),
  };
  if (e.errno === ER.ACCESS_DENIED) {
    return new NinesError('NINES_E_DB_AUTH', `${endpoint.user}@${address}: ${message}`, {
      cause: err,
      context,
    });
  }
  if ((e.code && UNREACHABLE_CODES.has(e.code)) || (e.fatal === true && !e.errno)) {
    return new NinesError('NINES_E_DB_UNREACHABLE', `${address}: ${message}`, { cause: err, context });
  }
  const what = statement ? ` (${statement.slice(0, 200)})` : '';
  return new NinesError('NINES_E_DB_QUERY', `${address}: ${message}${what}`, { cause: err, context });
}

class MariadbClient implements SqlClient {
  readonly address: string;
  readonly #conn: Connection;
  readonly #endpoint: SqlEndpoint;
  readonly #queryTimeoutMs: number;
  readonly #socket: Socket;
  #broken = false;

  constructor(conn: Connection, socket: Socket, endpoint: SqlEndpoint, queryTimeoutMs: number) {
    this.#conn = conn;
    this.#socket = socket;
    this.#endpoint = endpoint;
    this.#queryTimeoutMs = queryTimeoutMs;
    this.address = `${endpoint.host}:${endpoint.port}`;
    conn.on('error', () => {
      this.#broken = true;
    });
  }

  get usable(): boolean {
    return !this.#broken && this.#conn.isValid();
  }

  async query<T extends SqlRow = SqlRow>(
    sql: string,
    params: readonly unknown[] = [],
    options: { readonly timeoutMs?: number } = {},
  ): Promise<T[]> {
    const result = await this.#run(sql, params, options.timeoutMs);
    return Array.isArray(result) ? (result as T[]) : [];
  }

  async execute(
    sql: string,
    params: readonly unknown[] = [],
    options: { readonly timeoutMs?: number } = {},
  ): Promise<number> {
    const result = (await this.#run(sql, params, options.timeoutMs)) as { affectedRows?: number } | undefined;
    return Number(result?.affectedRows ?? 0);
  }

  async close(): Promise<void> {
    this.#broken = true;
    try {
      await withDeadline(this.#conn.end(), 2000);
    } catch {
      this.#abandon('closed without an answer from the server');
    }
  }

  /**
   * Gives up on the connection by destroying its socket (the connector then fails what is pending and reports
   * through the listeners above). Never the connector's destroy(): with a statement still running it opens a
   * hidden "KILL" connection without an error listener, whose failure against a dying host (EPIPE) would be an
   * uncaught exception that ends the controller.
   */
  #abandon(reason: string): void {
    this.#broken = true;
    this.#socket.destroy(new Error(`${this.address}: ${reason}`));
  }

  async #run(sql: string, params: readonly unknown[], timeoutMs: number | undefined): Promise<unknown> {
    const ms = timeoutMs ?? this.#queryTimeoutMs;
    try {
      return await withDeadline(this.#conn.query(sql, [...params]), ms);
    } catch (err) {
      if (err instanceof DeadlineExceeded) {
        this.#abandon(`no answer within ${ms} ms`);
        throw new NinesError('NINES_E_DB_UNREACHABLE', `${this.address}: no answer within ${ms} ms`, {
          context: { host: this.#endpoint.host, port: this.#endpoint.port, statement: sql.slice(0, 200) },
        });
      }
      if (asSqlError(err).fatal) this.#broken = true;
      throw classifySqlError(err, this.#endpoint, sql);
    }
  }
}

class DeadlineExceeded extends Error {}

function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new DeadlineExceeded(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/**
 * Gives the socket a no-op 'error' listener that survives `removeAllListeners()`. The connector's fatalError()
 * (node_modules/mariadb/lib/connection.js) strips every listener from the socket, ours included, then destroys
 * it; an error the socket still emits after that (one already scheduled, e.g. a write that failed with EPIPE
 * against a host that just died) would have no listener and end the process as an uncaught exception.
 */
export function keepErrorListener(socket: Socket): Socket {
  const ignore = (): void => undefined;
  socket.on('error', ignore);
  const removeAll = socket.removeAllListeners.bind(socket);
  socket.removeAllListeners = (event?: string | symbol): Socket => {
    // removeAllListeners(undefined) is not removeAllListeners(): the argument count decides.
    if (event === undefined) removeAll();
    else removeAll(event);
    if (event === undefined || event === 'error') socket.on('error', ignore);
    return socket;
  };
  return socket;
}

/** Opens one connection. Throws NINES_E_DB_AUTH or NINES_E_DB_UNREACHABLE. */
export async function connectSql(endpoint: SqlEndpoint, options: SqlOptions = {}): Promise<SqlClient> {
  const connectTimeout = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  // Our own socket, so a deadline can drop it (see #abandon), with an error listener the connector cannot
  // remove, so nothing that happens to it later becomes an uncaught exception.
  const socket = keepErrorListener(netConnect({ host: endpoint.host, port: endpoint.port }));
  try {
    // Loaded on first use: a controller without MariaDB clusters never pays its ~11 MB.
    const { default: mariadb } = await import('mariadb');
    const conn = await mariadb.createConnection({
      stream: () => socket,
      host: endpoint.host,
      port: endpoint.port,
      user: endpoint.user,
      password: endpoint.password,
      connectTimeout,
      bigIntAsNumber: true,
      insertIdAsNumber: true,
      decimalAsNumber: false,
      dateStrings: true,
      allowPublicKeyRetrieval: false,
      multipleStatements: false,
    });
    return new MariadbClient(conn, socket, endpoint, options.queryTimeoutMs ?? DEFAULT_QUERY_TIMEOUT_MS);
  } catch (err) {
    socket.destroy();
    throw classifySqlError(err, endpoint);
  }
}

/** Runs fn with a fresh connection and always closes it. */
export async function withSql<T>(
  endpoint: SqlEndpoint,
  fn: (client: SqlClient) => Promise<T>,
  options?: SqlOptions,
): Promise<T> {
  const client = await connectSql(endpoint, options);
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}

/** SHOW STATUS / SHOW VARIABLES rows (Variable_name, Value) as a map. */
export function variablesMap(rows: readonly SqlRow[]): ReadonlyMap<string, string> {
  const out = new Map<string, string>();
  for (const row of rows) {
    const name = row.Variable_name ?? row.variable_name;
    const value = row.Value ?? row.value;
    if (typeof name === 'string') out.set(name.toLowerCase(), value === null ? '' : stringOf(value));
  }
  return out;
}

export function stringOf(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean')
    return String(value);
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  return JSON.stringify(value);
}
