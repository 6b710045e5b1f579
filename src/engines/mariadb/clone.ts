// Seeding a new replica with a copy of the primary's data, for when the primary no longer has every binlog since
// the cluster began (GTID replication from an empty replica would stop with error 1236).
//
// mariabackup streams an mbstream from the primary to the new node THROUGH THE CONTROLLER: its stdout arrives on
// the controller's SSH channel to the primary and is piped into the stdin of `mbstream -x` on the controller's
// SSH channel to the new node. So the copy travels only over authenticated, encrypted SSH connections, no port
// is opened on any host, and the hosts need no access to each other. Backpressure end to end: a slow receiver
// pauses the sender. If either side fails or the job is cancelled, both commands are killed and the new node's
// partial data directory is emptied. Then the node prepares the copy and starts, and replication resumes from
// the backup's GTID position (gtid_slave_pos).
import { PassThrough, Transform } from 'node:stream';
import { NinesError, toNinesError } from '../../core/errors.ts';
import type { Executor } from '../../hosts/executor.ts';
import { PATHS, sqlString } from '../mysql/config.ts';
import { rootSql } from '../mysql/root-sql.ts';

/** Bound on each side of a copy (a large database takes long; the job can be cancelled at any time). */
const CLONE_TIMEOUT_MS = 3_600_000;
/** Bytes held in the controller between the two SSH channels. */
const CLONE_BUFFER_BYTES = 4 * 1024 * 1024;

/** On the source: the running server's data as an mbstream on stdout (root over the local socket, no password). */
export function backupStreamArgv(): string[] {
  return [
    'mariabackup',
    '--backup',
    '--stream=mbstream',
    '--user=root',
    `--socket=${PATHS.socket}`,
    '--target-dir=/tmp',
  ];
}

/** On the new node: the mbstream from stdin unpacked into the (emptied) data directory. */
export function receiveStreamArgv(): string[] {
  return ['mbstream', '-x', '-C', PATHS.datadir];
}

/** Empties the data directory (kept itself: owner and mode stay). */
export function wipeDatadirArgv(): string[] {
  return ['find', PATHS.datadir, '-mindepth', '1', '-delete'];
}

/** Prints the first binlog file of the node's own, if any (a server ran here). */
export function ownBinlogArgv(): string[] {
  return ['find', PATHS.datadir, '-maxdepth', '1', '-name', 'mariadb-bin.0*', '-print', '-quit'];
}

export interface CloneResult {
  /** The GTID position of the copy. */
  readonly gtid: string;
  /** Bytes of the stream that passed through the controller. */
  readonly bytes: number;
}

/**
 * True when the primary's binlogs start at the very beginning of the GTID history (no binlog was purged): an
 * empty replica can then replay everything.
 */
export async function binlogsComplete(primary: Executor, signal?: AbortSignal): Promise<boolean> {
  const logs = await rootSql(primary, 'SHOW BINARY LOGS;\n', { signal });
  const first = logs[0]?.Log_name;
  if (!first) return false;
  // Each binlog file starts with Format_desc then Gtid_list: the GTIDs of every earlier file. An empty list
  // ("[]") in the oldest file kept means nothing was purged.
  const events = await rootSql(primary, `SHOW BINLOG EVENTS IN ${sqlString(first)} LIMIT 5;\n`, { signal });
  const list = events.find((e) => e.Event_type === 'Gtid_list');
  return list?.Info === '[]';
}

/** Where mariabackup records the binlog position of a copy (10.x: xtrabackup_*, 11.x: mariadb_backup_*). */
const BINLOG_INFO_FILES = ['xtrabackup_binlog_info', 'mariadb_backup_binlog_info'].map(
  (f) => `${PATHS.datadir}/${f}`,
);

async function readBinlogInfo(executor: Executor): Promise<string | undefined> {
  for (const file of BINLOG_INFO_FILES) {
    const r = await executor.exec(['cat', '--', file], { sudo: true, check: false });
    const gtid = r.exitCode === 0 ? parseBackupBinlogInfo(r.stdout) : undefined;
    if (gtid) return gtid;
  }
  return undefined;
}

/** The GTID position a prepared backup corresponds to (its binlog info file: file, position, GTID). */
export function parseBackupBinlogInfo(text: string): string | undefined {
  const fields = text.trim().split(/\s+/);
  return fields.length >= 3 ? fields[2] : undefined;
}

type Side = 'sending' | 'receiving';

function sideError(side: Side, ex: Executor, err: unknown, peer: Executor): NinesError {
  const e = toNinesError(err);
  const what = side === 'sending' ? 'mariabackup --backup' : 'mbstream -x';
  return new NinesError(
    'NINES_E_CLONE_FAILED',
    `${side} side ${ex.host} (${what}, copy ${side === 'sending' ? 'to' : 'from'} ${peer.host}): ${e.message}`,
    { cause: err, context: { host: ex.host, side, peer: peer.host, causeCode: e.code } },
  );
}

/**
 * Streams the source's backup into the target's data directory through the controller. Resolves with the
 * bytes copied once both sides exited 0; otherwise both are stopped and the failing side is named.
 */
export async function streamCopy(source: Executor, target: Executor, signal?: AbortSignal): Promise<number> {
  let bytes = 0;
  const pipe = new PassThrough({ highWaterMark: CLONE_BUFFER_BYTES });
  const counter = new Transform({
    highWaterMark: CLONE_BUFFER_BYTES,
    transform(chunk: Buffer, _encoding, callback) {
      bytes += chunk.length;
      callback(null, chunk);
    },
  });
  // Writes after a side was stopped must not become an uncaught stream error.
  pipe.on('error', () => undefined);
  counter.on('error', () => undefined);
  pipe.pipe(counter);
  const stopSend = new AbortController();
  const stopReceive = new AbortController();
  let failed: Side | undefined;
  const onAbort = (): void => {
    stopSend.abort();
    stopReceive.abort();
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const receiving = target
      .exec(receiveStreamArgv(), {
        sudo: true,
        stdin: counter,
        signal: stopReceive.signal,
        timeoutMs: CLONE_TIMEOUT_MS,
      })
      .catch((err: unknown) => {
        failed ??= 'receiving';
        stopSend.abort();
        throw err;
      });
    const sending = source
      .exec(backupStreamArgv(), {
        sudo: true,
        stdoutTo: pipe,
        signal: stopSend.signal,
        timeoutMs: CLONE_TIMEOUT_MS,
      })
      .then(
        (r) => {
          // The backup is complete: only now does the receiver see the end of its input.
          pipe.end();
          return r;
        },
        (err: unknown) => {
          failed ??= 'sending';
          stopReceive.abort();
          // No end of input for the receiver: a cut stream must never look complete.
          pipe.destroy();
          counter.destroy();
          throw err;
        },
      );
    const [sent, received] = await Promise.allSettled([sending, receiving]);
    if (signal?.aborted)
      throw new NinesError('NINES_E_COMMAND_ABORTED', `copy ${source.host} -> ${target.host}`);
    if (sent.status === 'rejected' && (failed === 'sending' || received.status === 'fulfilled')) {
      throw sideError('sending', source, sent.reason, target);
    }
    if (received.status === 'rejected') throw sideError('receiving', target, received.reason, source);
    return bytes;
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}

/**
 * Replaces the (stopped) node's data directory with a copy of the primary's. Refuses when the node's datadir
 * already holds binlogs of its own: that is data of a server that ran, not a freshly initialised directory.
 * Returns the GTID position of the copy (also left in the datadir for applyClonePosition). On any failure after
 * the data directory was emptied, it is emptied again (no half copy is left to start from).
 */
export async function cloneFromPrimary(
  primary: Executor,
  target: Executor,
  signal?: AbortSignal,
): Promise<CloneResult> {
  const own = await target.exec(ownBinlogArgv(), { sudo: true, signal });
  if (own.stdout.trim() !== '') {
    throw new NinesError(
      'NINES_E_DEPLOY_FAILED',
      `${target.host}: the data directory holds data of its own; not overwritten`,
      {
        hint: `Empty ${PATHS.datadir} on the new node if its data can go, then add it again.`,
      },
    );
  }
  await target.exec(wipeDatadirArgv(), { sudo: true, signal, timeoutMs: 600_000 });
  try {
    const bytes = await streamCopy(primary, target, signal);
    await target.exec(['mariabackup', '--prepare', `--target-dir=${PATHS.datadir}`], {
      sudo: true,
      timeoutMs: CLONE_TIMEOUT_MS,
      signal,
    });
    await target.exec(['chown', '-R', 'mysql:mysql', '--', PATHS.datadir], { sudo: true, signal });
    const gtid = await readBinlogInfo(target);
    if (!gtid) {
      throw new NinesError(
        'NINES_E_CLONE_FAILED',
        `${target.host}: the copy has no GTID position (xtrabackup_binlog_info)`,
      );
    }
    return { gtid, bytes };
  } catch (err) {
    // Not with the job's signal: a cancelled copy is cleaned up too.
    await target
      .exec(wipeDatadirArgv(), { sudo: true, check: false, timeoutMs: 600_000 })
      .catch(() => undefined);
    throw toNinesError(err);
  }
}

/**
 * After a clone (the running server's datadir holds the copy's binlog info file): replication starts from the
 * copy's position. Only while replication was never configured on the node, so a retry after a later step does
 * not move it. The copy's own gtid_slave_pos (the mysql.gtid_slave_pos table of the source, which is not empty
 * when the source was a replica once, e.g. before a failover) is replaced: it is the source's old replication
 * position, not the copy's. Returns the position set, if any.
 */
export async function applyClonePosition(
  executor: Executor,
  signal?: AbortSignal,
): Promise<string | undefined> {
  const gtid = await readBinlogInfo(executor);
  if (!gtid) return undefined;
  const slave = await rootSql(executor, 'SHOW SLAVE STATUS;\n', { signal });
  if (slave.length > 0) return undefined;
  const [state] = await rootSql(executor, 'SELECT @@global.gtid_slave_pos AS pos;\n', { signal });
  if ((state?.pos ?? '') === gtid) return gtid;
  await rootSql(executor, `SET GLOBAL gtid_slave_pos = ${sqlString(gtid)};\n`, { signal });
  return gtid;
}
