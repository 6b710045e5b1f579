// Replication control on one node, as root over the node's socket (the replication password travels on the
// client's stdin, never in argv). Pure script builders + the calls that run them.
import { NinesError } from '../../core/errors.ts';
import type { ClusterSpec, NodeSpec } from '../../core/spec.ts';
import type { Executor } from '../../hosts/executor.ts';
import { USERS, sqlString } from '../mysql/config.ts';
import { parseReplicaStatus, type ReplicaStatus } from '../mysql/observe.ts';
import { rootSql } from '../mysql/root-sql.ts';
import { specSecrets } from '../mysql/users.ts';
import { done, notYet, waitUntil } from '../mysql/wait.ts';

/** Seconds between reconnection attempts of a replica's IO thread. */
export const CONNECT_RETRY_S = 1;
/** Heartbeat from the primary: with slave_net_timeout=5 a dead primary is noticed within ~5 s. */
export const HEARTBEAT_PERIOD_S = 1;

/**
 * IO thread errors that retrying does not fix: 1236 = the primary no longer has the binlogs the replica needs
 * (purged, or a diverged GTID history under gtid_strict_mode).
 */
export const FATAL_IO_ERRNOS: ReadonlySet<number> = new Set([1236]);

/**
 * CHANGE MASTER TO `source` with every option nines sets (GTID slave_pos, fast reconnects, heartbeat). Each string
 * value goes through `value`: sqlString inlines it (a script for the client's stdin), a placeholder collector
 * sends it as a statement parameter (a direct connection). The password is one of those values: the statement
 * must never be logged, and errors about it are redacted.
 */
export function changeMasterSql(
  spec: ClusterSpec,
  source: NodeSpec,
  value: (text: string) => string,
): string {
  return (
    `CHANGE MASTER TO MASTER_HOST=${value(source.host)}, MASTER_PORT=${source.port}, ` +
    `MASTER_USER=${value(USERS.replication)}, MASTER_PASSWORD=${value(spec.credentials.replication)}, ` +
    `MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=${CONNECT_RETRY_S}, MASTER_HEARTBEAT_PERIOD=${HEARTBEAT_PERIOD_S}`
  );
}

export function changeMasterScript(spec: ClusterSpec, source: NodeSpec): string {
  return ['STOP SLAVE;', `${changeMasterSql(spec, source, sqlString)};`, 'START SLAVE;', ''].join('\n');
}

export async function replicaStatus(
  executor: Executor,
  signal?: AbortSignal,
): Promise<ReplicaStatus | undefined> {
  return parseReplicaStatus(await rootSql(executor, 'SHOW SLAVE STATUS;\n', { signal }));
}

function follows(status: ReplicaStatus | undefined, source: NodeSpec): boolean {
  return status?.sourceHost === source.host && status.sourcePort === source.port;
}

/**
 * Points the node at `source` (GTID, slave_pos) and starts replication — unless it already replicates from
 * it with both threads running (a retried deploy leaves a working replica alone). Returns true if it changed.
 */
export async function replicateFrom(
  executor: Executor,
  spec: ClusterSpec,
  source: NodeSpec,
  signal?: AbortSignal,
): Promise<boolean> {
  const current = await replicaStatus(executor, signal);
  if (follows(current, source) && current?.ioRunning === 'Yes' && current.sqlRunning) return false;
  await rootSql(executor, changeMasterScript(spec, source), { signal, secrets: specSecrets(spec) });
  return true;
}

/** Waits until both replication threads run (IO connected to `source`). */
export async function waitReplicaRunning(
  executor: Executor,
  source: NodeSpec,
  options: { readonly timeoutMs: number; readonly signal?: AbortSignal },
): Promise<ReplicaStatus> {
  return waitUntil(
    `replication on ${executor.host} from ${source.host}:${source.port}`,
    async () => {
      const s = await replicaStatus(executor, options.signal);
      if (!s) return notYet('replication is not configured');
      if (FATAL_IO_ERRNOS.has(s.lastIoErrno)) {
        throw new NinesError(
          'NINES_E_DEPLOY_FAILED',
          `${executor.host}: replication from ${source.host}:${source.port} cannot start: ${s.lastIoError}`,
          {
            context: { host: executor.host, errno: s.lastIoErrno },
            hint: 'The primary no longer has every binlog this replica needs (purged), or the replica has transactions the primary lacks (diverged). Remove the node and add it again: adding copies the data when binlogs are missing.',
          },
        );
      }
      if (s.ioRunning === 'Yes' && s.sqlRunning) return done(s);
      const errors = [s.lastIoError, s.lastSqlError].filter((e) => e !== '').join('; ');
      return notYet(
        `IO thread ${s.ioRunning}, SQL thread ${s.sqlRunning ? 'Yes' : 'No'}${errors ? `: ${errors}` : ''}`,
      );
    },
    { timeoutMs: options.timeoutMs, intervalMs: 200, ...(options.signal ? { signal: options.signal } : {}) },
  );
}

/** The primary's binlog GTID position (as root). */
export async function binlogPosition(executor: Executor, signal?: AbortSignal): Promise<string> {
  const rows = await rootSql(executor, 'SELECT @@global.gtid_binlog_pos AS pos;\n', { signal });
  return rows[0]?.pos ?? '';
}

/** Waits (server side, MASTER_GTID_WAIT) until the replica has applied `position`. */
export async function waitGtidApplied(
  executor: Executor,
  position: string,
  options: { readonly timeoutMs: number; readonly signal?: AbortSignal },
): Promise<void> {
  if (position === '') return;
  const seconds = Math.max(1, Math.ceil(options.timeoutMs / 1000));
  const rows = await rootSql(
    executor,
    `SELECT MASTER_GTID_WAIT(${sqlString(position)}, ${seconds}) AS r;\n`,
    {
      signal: options.signal,
      timeoutMs: options.timeoutMs + 10_000,
    },
  );
  if (rows[0]?.r !== '0') {
    const s = await replicaStatus(executor, options.signal);
    throw new NinesError(
      'NINES_E_DEPLOY_FAILED',
      `${executor.host} did not apply the primary's transactions up to ${position} within ${seconds} s` +
        (s
          ? ` (io ${s.ioRunning}, sql ${s.sqlRunning ? 'Yes' : 'No'} ${s.lastSqlError || s.lastIoError})`
          : ''),
      { context: { host: executor.host, position } },
    );
  }
}

/** Stops replication and forgets the source (RESET SLAVE ALL). */
export async function stopReplication(executor: Executor, signal?: AbortSignal): Promise<void> {
  await rootSql(executor, 'STOP SLAVE;\nRESET SLAVE ALL;\n', { signal });
}

/** read_only of the local server, as root. */
export async function localReadOnly(executor: Executor, signal?: AbortSignal): Promise<boolean> {
  const rows = await rootSql(executor, 'SELECT @@global.read_only AS ro;\n', { signal });
  return rows[0]?.ro === '1';
}

export async function setReadOnly(
  executor: Executor,
  readOnly: boolean,
  signal?: AbortSignal,
): Promise<void> {
  await rootSql(executor, `SET GLOBAL read_only = ${readOnly ? 'ON' : 'OFF'};\n`, { signal });
}
