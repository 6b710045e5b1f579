// What the failover verbs (recovery.ts, rejoin.ts) are made of: a budget per verb (a deadline and a signal that
// fires at it), short admin connections and polls over one connection, the WAL receiver's state, the upstream's
// slot and timeline, the standby files, the stop script. Every wait ends at the budget's deadline.
import { untilAborted } from '../../core/abort.ts';
import { NinesError, isNinesError, toNinesError, type ErrorCode } from '../../core/errors.ts';
import type { NodeSpec } from '../../core/spec.ts';
import type { Executor } from '../../hosts/executor.ts';
import { nodeAddress, type RecoveryContext, type ReplicationPosition } from '../engine.ts';
import { adminTarget } from './common.ts';
import { createSlotSql, pgPaths, renderPgpass, renderStandbyDropIn, slotName } from './config.ts';
import { observedPosition, streamsFrom, type ReceiverRow } from './positions.ts';
import { POSTGRES_PROBE_SQL, postgresObservation, type PostgresProbeRow } from './probe.ts';
import { parseStop, stopArgv, type StopResult } from './recovery-commands.ts';
import { logTail } from './server.ts';
import { connectSql, withSql, type SqlClient, type SqlOptions } from './sql.ts';

const APPLICATION_NAME = 'nines-recovery';
/** Pause between two readings while waiting for a standby (each reading is one round trip). */
export const POLL_MS = 50;

/** The time a verb may take: a deadline and a signal that fires at it (or when the caller aborts). */
export interface Budget {
  readonly timeoutMs: number;
  readonly signal: AbortSignal;
  remaining(): number;
  expired(): boolean;
}

export function budget(ctx: RecoveryContext, timeoutMs: number): Budget {
  const ms = Math.max(1, Math.floor(timeoutMs));
  const deadline = Date.now() + ms;
  const timer = AbortSignal.timeout(ms);
  return {
    timeoutMs: ms,
    signal: AbortSignal.any([ctx.signal, timer]),
    remaining: () => Math.max(0, deadline - Date.now()),
    expired: () => timer.aborted || Date.now() >= deadline,
  };
}

export function seconds(ms: number, min = 1): number {
  return Math.max(min, Math.floor(ms / 1000));
}

export function sqlOptions(b: Budget): SqlOptions {
  const left = Math.max(100, b.remaining());
  return {
    connectTimeoutMs: Math.min(left, 3000),
    statementTimeoutMs: left,
    signal: b.signal,
    applicationName: APPLICATION_NAME,
  };
}

export function asAdmin<T>(
  ctx: RecoveryContext,
  node: NodeSpec,
  b: Budget,
  fn: (client: SqlClient) => Promise<T>,
): Promise<T> {
  return withSql(adminTarget(ctx.spec, node), sqlOptions(b), fn);
}

/** The error says a host or server did not answer (try again later), not that the step itself failed. */
export function unreachable(err: unknown): boolean {
  return (
    isNinesError(err, 'NINES_E_HOST_UNREACHABLE') ||
    isNinesError(err, 'NINES_E_COMMAND_TIMEOUT') ||
    isNinesError(err, 'NINES_E_DB_UNREACHABLE') ||
    isNinesError(err, 'NINES_E_FAILOVER_TIMEOUT')
  );
}

export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export { untilAborted };

export function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/**
 * The error a verb throws: the caller's abort as it is; past the verb's bound, NINES_E_FAILOVER_TIMEOUT; a
 * NinesError of the step that failed as it is (it names the host); anything else as `code`.
 */
export function verbError(
  err: unknown,
  ctx: RecoveryContext,
  b: Budget,
  code: ErrorCode,
  what: string,
): NinesError {
  if (ctx.signal.aborted) return toNinesError(err, 'NINES_E_COMMAND_ABORTED');
  if (b.expired()) {
    return new NinesError(
      'NINES_E_FAILOVER_TIMEOUT',
      `${what}: not done within ${b.timeoutMs} ms (${messageOf(err)})`,
      { cause: err, context: { timeoutMs: b.timeoutMs } },
    );
  }
  if (isNinesError(err)) return err;
  return new NinesError(code, `${what}: ${messageOf(err)}`, { cause: err });
}

/**
 * Calls fn over one admin connection to `node` (reopened when it breaks) until it returns a value, pausing
 * POLL_MS between readings; the connection is closed before this returns. At the deadline: onTimeout(last error).
 */
export async function pollNode<T>(
  ctx: RecoveryContext,
  node: NodeSpec,
  b: Budget,
  fn: (client: SqlClient) => Promise<T | undefined>,
  onTimeout: (lastError: unknown) => NinesError,
): Promise<T> {
  let client: SqlClient | undefined;
  let last: unknown;
  try {
    for (;;) {
      if (ctx.signal.aborted) {
        throw new NinesError('NINES_E_COMMAND_ABORTED', `waiting for ${nodeAddress(node)}: aborted`);
      }
      try {
        client ??= await connectSql(adminTarget(ctx.spec, node), sqlOptions(b));
        const value = await fn(client);
        if (value !== undefined) return value;
      } catch (err) {
        // A wrong password does not get better by asking again.
        if (ctx.signal.aborted || isNinesError(err, 'NINES_E_DB_AUTH')) throw err;
        last = err;
        if (client?.closed) client = undefined;
      }
      if (b.expired()) throw onTimeout(last);
      await pause(POLL_MS, b.signal);
    }
  } finally {
    await client?.close();
  }
}

/** The node's position over an open connection (the monitor's probe query, run as the admin user). */
export async function positionOn(client: SqlClient, node: NodeSpec): Promise<ReplicationPosition> {
  const [row] = await client.query<PostgresProbeRow>(POSTGRES_PROBE_SQL);
  if (!row)
    throw new NinesError('NINES_E_DB_QUERY', `${nodeAddress(node)}: the position query returned no row`);
  const time = Date.now();
  const { reading } = postgresObservation(row, undefined, time);
  return observedPosition(nodeAddress(node), { ...reading, time });
}

export async function inRecovery(client: SqlClient): Promise<boolean> {
  const [row] = await client.query<{ rec: boolean }>('SELECT pg_is_in_recovery() AS rec');
  return row?.rec === true;
}

/** The timeline of a primary's current WAL (the control file's lags behind a promotion until a checkpoint). */
export async function currentTimeline(client: SqlClient): Promise<number> {
  const [row] = await client.query<{ tl: number }>(
    "SELECT ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int AS tl",
  );
  return Number(row?.tl ?? 0);
}

/**
 * On `primary`: checks that it is one, creates `standby`'s slot there (reserving WAL at once, so the standby
 * streams as soon as it connects instead of retrying every wal_retrieve_retry_interval) and returns its timeline.
 */
export async function prepareUpstream(
  ctx: RecoveryContext,
  primary: NodeSpec,
  standby: NodeSpec,
  b: Budget,
): Promise<number> {
  return asAdmin(ctx, primary, b, async (c) => {
    if (await inRecovery(c)) {
      throw new NinesError(
        'NINES_E_TOPOLOGY_INCONSISTENT',
        `${nodeAddress(primary)} is in recovery: it is not a primary ${nodeAddress(standby)} can follow`,
        { context: { primary: nodeAddress(primary) } },
      );
    }
    await c.query(createSlotSql(slotName(standby)));
    return currentTimeline(c);
  });
}

export const RECEIVER_SQL = `SELECT pg_is_in_recovery() AS in_recovery, r.status, r.sender_host, r.sender_port,
  r.received_tli, r.receive_start_tli
FROM (SELECT 1) AS one LEFT JOIN pg_stat_wal_receiver r ON true`;

export function describeReceiver(row: ReceiverRow | undefined): string {
  if (!row) return 'no answer';
  if (!row.in_recovery) return 'not in recovery (a primary)';
  if (row.status === null) return 'no WAL receiver';
  return `WAL receiver ${row.status} from ${row.sender_host ?? '?'}:${row.sender_port ?? '?'} on timeline ${row.received_tli ?? '?'}`;
}

/** The node's WAL receiver; null when the node does not answer SQL (stopped, or its host is down). */
export async function receiverState(
  ctx: RecoveryContext,
  node: NodeSpec,
  b: Budget,
): Promise<ReceiverRow | null> {
  try {
    return await asAdmin(ctx, node, b, async (c) => (await c.query<ReceiverRow>(RECEIVER_SQL))[0] ?? null);
  } catch (err) {
    if (ctx.signal.aborted) throw err;
    if (isNinesError(err, 'NINES_E_DB_UNREACHABLE') || isNinesError(err, 'NINES_E_COMMAND_ABORTED')) {
      return null;
    }
    throw err;
  }
}

export async function recentLog(ctx: RecoveryContext, node: NodeSpec): Promise<string> {
  const paths = pgPaths(ctx.spec.version);
  const text = await logTail(ctx.hosts.executor(node.host), paths, 3000).catch(() => '');
  return text === '' ? '' : `; server log: ${text.split('\n').slice(-5).join(' | ')}`;
}

/** Waits until `node` streams from `primary` on `timeline`; NINES_E_FAILOVER_TIMEOUT with its log otherwise. */
export async function waitStreaming(
  ctx: RecoveryContext,
  node: NodeSpec,
  primary: NodeSpec,
  timeline: number,
  b: Budget,
): Promise<void> {
  let last: ReceiverRow | undefined;
  let detail: string | undefined;
  const context = { node: nodeAddress(node), primary: nodeAddress(primary), timeline };
  try {
    await pollNode(
      ctx,
      node,
      b,
      async (c) => {
        last = (await c.query<ReceiverRow>(RECEIVER_SQL))[0];
        return last && streamsFrom(last, primary, timeline) ? true : undefined;
      },
      (err) => {
        detail = `${nodeAddress(node)} does not stream from ${nodeAddress(primary)} on timeline ${timeline} after ${b.timeoutMs} ms: ${describeReceiver(last)}${err ? ` (${messageOf(err)})` : ''}`;
        return new NinesError('NINES_E_FAILOVER_TIMEOUT', detail, { context });
      },
    );
  } catch (err) {
    if (detail === undefined) throw err;
    // Why it does not stream is in its server log (refused by pg_hba, no slot, a timeline it cannot follow).
    throw new NinesError('NINES_E_FAILOVER_TIMEOUT', `${detail}${await recentLog(ctx, node)}`, {
      cause: err,
      context,
    });
  }
}

export async function put(
  ex: Executor,
  path: string,
  content: string,
  mode: number,
  b: Budget,
): Promise<void> {
  await untilAborted(ex.putFile(path, content, { mode, owner: 'postgres:postgres', sudo: true }), b.signal);
}

/** The standby drop-in following `primary` and the replication passfile (both survive a wiped data directory). */
export async function writeStandbyFiles(
  ctx: RecoveryContext,
  node: NodeSpec,
  primary: NodeSpec,
  b: Budget,
  withPgpass: boolean,
): Promise<void> {
  const ex = ctx.hosts.executor(node.host);
  const paths = pgPaths(ctx.spec.version);
  await put(ex, paths.standbyDropIn, renderStandbyDropIn(ctx.spec, node, primary), 0o644, b);
  if (withPgpass) await put(ex, paths.pgpass, renderPgpass(ctx.spec), 0o600, b);
}

/**
 * Runs the stop script: standby.signal, then a fast shutdown given `fastShare` of the budget left, then (when
 * `immediate`) an immediate one given 30% of it.
 */
export async function stopServer(
  ctx: RecoveryContext,
  node: NodeSpec,
  b: Budget,
  fastShare: number,
  immediate: boolean,
): Promise<StopResult> {
  const ex = ctx.hosts.executor(node.host);
  const left = b.remaining();
  const argv = stopArgv(ctx.spec.version, node.port, {
    fastMs: left * fastShare,
    immediateMs: immediate ? left * 0.3 : 0,
  });
  const r = await untilAborted(ex.exec(argv, { sudo: true, timeoutMs: left, signal: b.signal }), b.signal);
  return parseStop(r.stdout);
}

export function childBudget(ctx: RecoveryContext, parent: Budget, share: number): Budget {
  return budget(ctx, Math.max(1, Math.min(parent.remaining(), parent.timeoutMs * share)));
}
