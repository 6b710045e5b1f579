// Seeding a new replica with a copy of the primary's data, for when the primary no longer has every binlog since
// the cluster began (GTID replication from an empty replica would stop with error 1236).
//
// mariabackup streams an xbstream from the primary straight to the new node (socat over TCP between the two
// hosts, like Galera's own SST; nothing passes through the controller), the node prepares it and starts, and
// replication resumes from the backup's GTID position (gtid_slave_pos).
import { NinesError } from '../../core/errors.ts';
import type { NodeSpec } from '../../core/spec.ts';
import type { Executor } from '../../hosts/executor.ts';
import { PATHS, sqlString } from '../mysql/config.ts';
import { rootSql } from '../mysql/root-sql.ts';
import { done, notYet, waitUntil } from '../mysql/wait.ts';

/** TCP port the receiving node listens on during a clone (only while it runs). */
export const CLONE_PORT = 4445;
const RECEIVE_RC = '/var/log/mysql/nines-clone.rc';
const RECEIVE_LOG = '/var/log/mysql/nines-clone-receive.log';
const SEND_LOG = '/var/log/mysql/nines-clone-send.log';

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

/**
 * Replaces the (stopped) node's data directory with a copy of the primary's. Refuses when the node's datadir
 * already holds binlogs of its own: that is data of a server that ran, not a freshly initialised directory.
 * Returns the GTID position of the copy (also left in the datadir for applyClonePosition).
 */
export async function cloneFromPrimary(
  primary: Executor,
  target: Executor,
  targetNode: NodeSpec,
  signal?: AbortSignal,
): Promise<string> {
  const own = await target.exec(
    ['sh', '-c', `ls -- ${PATHS.datadir}/mariadb-bin.0* 2>/dev/null | head -n 1`],
    { sudo: true },
  );
  if (own.stdout.trim() !== '') {
    throw new NinesError(
      'NINES_E_DEPLOY_FAILED',
      `${target.host}: the data directory holds data of its own; not overwritten`,
      {
        hint: `Empty ${PATHS.datadir} on the new node if its data can go, then add it again.`,
      },
    );
  }
  const receiver = [
    `rm -f ${RECEIVE_RC}`,
    `find ${PATHS.datadir} -mindepth 1 -delete`,
    `setsid -f sh -c 'socat -u TCP-LISTEN:${CLONE_PORT},bind=${targetNode.host},reuseaddr STDOUT | mbstream -x -C ${PATHS.datadir}; echo $? > ${RECEIVE_RC}' </dev/null >${RECEIVE_LOG} 2>&1`,
  ].join(' && ');
  await target.exec(['sh', '-c', receiver], { sudo: true });
  await waitUntil(
    `the clone receiver on ${target.host}:${CLONE_PORT}`,
    async () => {
      const r = await target.exec(['ss', '-Hltn', `sport = :${CLONE_PORT}`], { check: false, sudo: true });
      return r.stdout.trim() !== '' ? done(true) : notYet('not listening yet');
    },
    { timeoutMs: 10_000, intervalMs: 100, signal },
  );
  const sender = [
    'set -o pipefail',
    `mariabackup --backup --stream=xbstream --user=root --socket=${PATHS.socket} --target-dir=/tmp 2>${SEND_LOG} | socat -u STDIN TCP:${targetNode.host}:${CLONE_PORT}`,
  ].join('\n');
  await primary.exec(['bash', '-c', sender], { sudo: true, timeoutMs: 3_600_000, signal });
  await waitUntil(
    `the copy to arrive on ${target.host}`,
    async () => {
      const r = await target.exec(['cat', '--', RECEIVE_RC], { check: false, sudo: true });
      if (r.exitCode !== 0) return notYet('still receiving');
      if (r.stdout.trim() !== '0') {
        throw new NinesError(
          'NINES_E_DEPLOY_FAILED',
          `${target.host}: receiving the copy failed (see ${RECEIVE_LOG})`,
        );
      }
      return done(true);
    },
    { timeoutMs: 600_000, intervalMs: 200, signal },
  );
  await target.exec(['mariabackup', '--prepare', `--target-dir=${PATHS.datadir}`], {
    sudo: true,
    timeoutMs: 3_600_000,
    signal,
  });
  await target.exec(['chown', '-R', 'mysql:mysql', '--', PATHS.datadir], { sudo: true });
  const gtid = await readBinlogInfo(target);
  if (!gtid) {
    throw new NinesError(
      'NINES_E_DEPLOY_FAILED',
      `${target.host}: the copy has no GTID position (xtrabackup_binlog_info)`,
    );
  }
  return gtid;
}

/**
 * After a clone (the running server's datadir holds the copy's binlog info file): replication starts from the
 * copy's position. Only while replication was never configured and the position is still empty, so a retry
 * after a later step does not move it. Returns the position set, if any.
 */
export async function applyClonePosition(
  executor: Executor,
  signal?: AbortSignal,
): Promise<string | undefined> {
  const gtid = await readBinlogInfo(executor);
  if (!gtid) return undefined;
  const [state] = await rootSql(executor, 'SELECT @@global.gtid_slave_pos AS pos;\n', { signal });
  const slave = await rootSql(executor, 'SHOW SLAVE STATUS;\n', { signal });
  if ((state?.pos ?? '') !== '' || slave.length > 0) return undefined;
  await rootSql(executor, `SET GLOBAL gtid_slave_pos = ${sqlString(gtid)};\n`, { signal });
  return gtid;
}
