// The failover and switchover verbs of mariadb-replication (ReplicationRecovery in engine.ts; the controller's
// state machine in src/controller/recovery/ calls them one phase at a time). Speed matters — a failover has about
// 1.5 s after detection — so every verb talks to the servers over direct SQL connections from the controller as
// the admin user, opened for the verb and closed after it, with connect and statement bounds taken from the
// verb's own timeout. SSH is used only where the server must be reached through its host: the port check (run on
// another node's host), stopping a server that cannot be fenced over SQL, starting a former primary, and the data
// copy of a rebuild. The pure half (positions, containment, verdicts) is recovery-plan.ts.
//
// A crashed semi-sync primary and its unacknowledged commit (MariaDB 10.11, investigated on the lab): with
// rpl_semi_sync_master_wait_point=AFTER_SYNC a commit is written and synced to the binlog, then waits for a
// replica's ACK, then commits in InnoDB. A primary that crashes during that wait holds a binlog transaction no
// replica received, prepared but not committed in InnoDB. Plain crash recovery commits it (the binlog has it), so
// the old primary comes back with a transaction the new primary lacks: diverged. MDEV-21117 made recovery
// truncate that binlog tail and roll the transaction back instead, first when rpl_semi_sync_slave_enabled=ON;
// since MDEV-33465 (10.6.19, 10.11.9, ...) only when the server starts with --init-rpl-role=SLAVE. So rejoin
// starts a stopped former primary with --init-rpl-role=SLAVE: its unacknowledged tail is truncated (the error log
// says "Successfully truncated binlog file"), its history is contained in the new primary's, and it rejoins
// (test/integration/mariadb/recovery.test.ts crashes a primary with a commit waiting for its ACK and checks
// this). A transaction that was committed in InnoDB without an ACK (semi-sync had fallen back to asynchronous) is
// not truncated: that node is 'diverged' and is rebuilt. A former primary that was restarted by something else
// (systemd at boot) without the option keeps the tail and is 'diverged' too.
import { NinesError, isNinesError } from '../../core/errors.ts';
import { redactError } from '../../core/redact.ts';
import { formatGtidPosition, gtidContains, parseGtidPosition } from '../../core/recovery/positions.ts';
import type { ClusterSpec, NodeSpec } from '../../core/spec.ts';
import type { RecoveryContext, RejoinResult, ReplicationPosition, ReplicationRecovery } from '../engine.ts';
import { nodeAddress } from '../engine.ts';
import { sameNode, sqlString } from '../mysql/config.ts';
import { serverRunning, startServer, stopServer } from '../mysql/host.ts';
import { parseReplicationState, REPLICATION_STATE_SQL, type ReplicationState } from '../mysql/observe.ts';
import { rootSql } from '../mysql/root-sql.ts';
import { stringOf, type SqlClient } from '../mysql/sql.ts';
import { specSecrets } from '../mysql/users.ts';
import { sleep } from '../mysql/wait.ts';
import { Budget, bounded, failed, messageOf, open, timedOut, withAdmin } from './admin-session.ts';
import { fence, fenceOnAnswer, fenceSession, waitGone } from './fence.ts';
import { cloneFromPrimary, wipeDatadirArgv } from './clone.ts';
import { TIMEOUTS } from './deploy.ts';
import {
  ackState,
  containment,
  errantTransactions,
  factsFromState,
  observedPosition,
  parseGtidState,
  portCheckArgv,
  portVerdict,
  positionFromFacts,
  rejoinSlavePos,
  replicaSummary,
  startVerdict,
  unknownPosition,
  type Attach,
  type MariadbPosition,
} from './recovery-plan.ts';
import {
  binlogPosition,
  changeMasterSql,
  replicateFrom,
  waitGtidApplied,
  waitReplicaRunning,
} from './replication.ts';

const POLL_MS = 20;
/** Time given to the SSH transport around the port check's own bound. */
const PORT_CHECK_OVERHEAD_MS = 400;

async function readState(c: SqlClient, b: Budget): Promise<ReplicationState> {
  // Sent back to back on one connection (pipelined): one round trip.
  const [vars, slave] = await Promise.all([
    c.query(REPLICATION_STATE_SQL, [], { timeoutMs: b.ms() }),
    c.query('SHOW SLAVE STATUS', [], { timeoutMs: b.ms() }),
  ]);
  return parseReplicationState(vars[0], slave);
}

async function readBinlogState(c: SqlClient, b: Budget, node: string) {
  const [row] = await c.query('SELECT @@global.gtid_binlog_state AS s', [], { timeoutMs: b.ms() });
  const state = parseGtidState(stringOf(row?.s));
  if (state === null) throw failed(node, `unreadable gtid_binlog_state '${stringOf(row?.s)}'`);
  return state;
}

function positionOf(node: NodeSpec, state: ReplicationState): MariadbPosition {
  return positionFromFacts(nodeAddress(node), factsFromState(state));
}

function follows(state: ReplicationState, source: NodeSpec): boolean {
  const r = state.replica;
  return r?.sourceHost === source.host && r.sourcePort === source.port;
}

/**
 * Server-side wait (MASTER_GTID_WAIT) for gtid_slave_pos to reach `target`: at most 500 ms, and short of the
 * verb's deadline so the statement always returns (its own bound would drop the connection).
 */
async function gtidWait(c: SqlClient, target: string, b: Budget): Promise<void> {
  const ms = Math.min(500, b.left() - 100);
  if (ms < 10) {
    await sleep(Math.max(1, b.left()));
    return;
  }
  await c.query('SELECT MASTER_GTID_WAIT(?, ?) AS r', [target, ms / 1000], { timeoutMs: b.ms() });
}

/**
 * Makes the node (read-only first) replicate from `primary`: refused when its history holds a GTID the primary
 * lacks; a former primary starts from everything its binlog holds (gtid_slave_pos = binlog ∪ slave position), a
 * replica from what it applied (its relay log is discarded and fetched again from the new primary). Verified
 * running; a primary that cannot serve the node's position (1236) or an applier that fails is a refusal too.
 */
async function attach(
  spec: ClusterSpec,
  c: SqlClient,
  node: NodeSpec,
  primary: NodeSpec,
  b: Budget,
): Promise<Attach> {
  const key = nodeAddress(node);
  const source = nodeAddress(primary);
  if (sameNode(node, primary)) throw failed(key, 'a node cannot replicate from itself');
  const [st, primaryState] = await Promise.all([
    readState(c, b),
    withAdmin(spec, primary, b, (p) => readBinlogState(p, b, source)),
  ]);
  if (follows(st, primary) && st.replica?.ioRunning === 'Yes' && st.replica.sqlRunning) {
    return { ok: true, how: `already replicating from ${source}` };
  }
  if (!st.readOnly) await c.execute('SET GLOBAL read_only = ON', [], { timeoutMs: b.ms() });
  // A replica has no semi-sync replicas of its own: with its master side on, the first transaction it applies
  // would wait rpl_semi_sync_master_timeout for an ACK nobody sends. promote switches it on again.
  await c.execute('SET GLOBAL rpl_semi_sync_master_enabled = OFF', [], { timeoutMs: b.ms() });
  // Stopped before its positions are read: a replica behind on applying (under load, semi-sync ACKs on receipt)
  // keeps applying its relay log until STOP SLAVE returns, and a start computed from earlier positions would
  // fetch again what it applied meanwhile (gtid_strict_mode: error 1950, out-of-order GTID).
  await c.execute('STOP SLAVE', [], { timeoutMs: b.ms() });
  const stopped = await readState(c, b);
  const binlog = parseGtidPosition(stopped.gtidBinlogPos);
  const slave = parseGtidPosition(stopped.gtidSlavePos);
  if (binlog === null || slave === null) {
    throw failed(
      key,
      `unreadable GTID positions (binlog '${stopped.gtidBinlogPos}', slave '${stopped.gtidSlavePos}')`,
    );
  }
  const { errant } = containment(binlog, primaryState);
  if (errant.length > 0) {
    const list = errant.map((e) => `${e.gtid} (${source} has ${e.primaryHas})`).join(', ');
    return { ok: false, reason: `${key} holds transactions ${source} lacks: ${list}` };
  }
  const start = rejoinSlavePos(binlog, slave);
  if (start !== formatGtidPosition(slave)) {
    await c.execute('SET GLOBAL gtid_slave_pos = ?', [start], { timeoutMs: b.ms() });
  }
  const params: string[] = [];
  const change = changeMasterSql(spec, primary, (v) => {
    params.push(v);
    return '?';
  });
  try {
    await c.execute(change, params, { timeoutMs: b.ms() });
  } catch (err) {
    // The replication password is a parameter of this statement: the driver may echo it.
    throw redactError(err, specSecrets(spec));
  }
  await c.execute('START SLAVE', [], { timeoutMs: b.ms() });
  return waitRunning(c, key, source, start, b);
}

async function waitRunning(
  c: SqlClient,
  key: string,
  source: string,
  start: string,
  b: Budget,
): Promise<Attach> {
  for (;;) {
    const r = (await readState(c, b)).replica;
    const verdict = startVerdict(r, key, source, start);
    if (verdict !== null) {
      // A refused node is left with replication stopped (and its error visible in SHOW SLAVE STATUS).
      if (!verdict.ok) await c.execute('STOP SLAVE', [], { timeoutMs: b.ms() });
      return verdict;
    }
    if (b.left() <= 0) {
      throw timedOut(
        key,
        `replication from ${source} did not start within ${b.totalMs} ms (${replicaSummary(r)})`,
      );
    }
    await sleep(Math.min(POLL_MS, b.ms()));
  }
}

/**
 * Waits until the node's gtid_slave_pos covers `target()` (re-read every pass: a replica still connected keeps
 * receiving). Throws when the applier fails or stops, or at the deadline.
 */
async function applyUntil(
  c: SqlClient,
  node: NodeSpec,
  b: Budget,
  target: (st: ReplicationState) => string | null,
): Promise<ReplicationState> {
  const key = nodeAddress(node);
  for (;;) {
    const st = await readState(c, b);
    const want = target(st);
    const wanted = want === null ? null : parseGtidPosition(want);
    const have = parseGtidPosition(st.replica ? st.gtidSlavePos : st.gtidBinlogPos);
    if (wanted === null || have === null) {
      throw failed(key, `unreadable GTID positions (wanted '${want ?? ''}', has '${st.gtidSlavePos}')`);
    }
    if (gtidContains(have, wanted)) return st;
    const r = st.replica;
    if (!r) throw failed(key, `it is not a replica and its binlog (${st.gtidBinlogPos}) lacks ${want}`);
    if (r.lastSqlError !== '' && !r.sqlRunning) throw failed(key, `its applier failed: ${r.lastSqlError}`);
    if (!r.sqlRunning) throw failed(key, `its SQL thread is stopped with ${want} not applied`);
    if (b.left() <= 0) {
      throw timedOut(key, `did not apply ${want} within ${b.totalMs} ms (applied ${st.gtidSlavePos})`, {
        wanted: want,
        applied: st.gtidSlavePos,
      });
    }
    await gtidWait(c, formatGtidPosition(wanted), b);
  }
}

function receivedOf(st: ReplicationState): string | null {
  const pos = positionFromFacts('', factsFromState(st));
  return pos.receivedText;
}

async function portCheck(
  ctx: RecoveryContext,
  from: NodeSpec,
  target: NodeSpec,
  timeoutMs: number,
): Promise<'up' | 'down' | 'unknown'> {
  const overhead = Math.min(PORT_CHECK_OVERHEAD_MS, Math.floor(timeoutMs * 0.3));
  const argv = portCheckArgv(target, Math.max(50, timeoutMs - overhead));
  try {
    const run = ctx.hosts.executor(from.host).exec(argv, {
      check: false,
      timeoutMs,
      signal: ctx.signal,
    });
    const r = await bounded(run, timeoutMs, nodeAddress(from), 'port check');
    return portVerdict(r.exitCode);
  } catch {
    // from's host did not run the check in time: it says nothing about the target.
    return 'unknown';
  }
}

async function readPosition(
  ctx: RecoveryContext,
  node: NodeSpec,
  timeoutMs: number,
): Promise<ReplicationPosition> {
  const b = new Budget(timeoutMs);
  try {
    return await withAdmin(ctx.spec, node, b, async (c) => positionOf(node, await readState(c, b)));
  } catch (err) {
    return unknownPosition(nodeAddress(node), false, messageOf(err));
  }
}

async function stopReceiving(ctx: RecoveryContext, node: NodeSpec, timeoutMs: number): Promise<void> {
  const b = new Budget(timeoutMs);
  await withAdmin(ctx.spec, node, b, async (c) => {
    const st = await readState(c, b);
    if (st.replica && st.replica.ioRunning !== 'No') {
      await c.execute('STOP SLAVE IO_THREAD', [], { timeoutMs: b.ms() });
      ctx.log(`${nodeAddress(node)}: stopped receiving from the failed primary (IO thread stopped)`);
    }
  });
}

async function waitApplied(
  ctx: RecoveryContext,
  node: NodeSpec,
  timeoutMs: number,
): Promise<ReplicationPosition> {
  const b = new Budget(timeoutMs);
  return withAdmin(ctx.spec, node, b, async (c) => {
    const st = await applyUntil(c, node, b, (s) => (s.replica ? receivedOf(s) : s.gtidBinlogPos));
    return positionOf(node, st);
  });
}

async function promote(
  ctx: RecoveryContext,
  node: NodeSpec,
  _followers: readonly NodeSpec[],
  timeoutMs: number,
): Promise<ReplicationPosition> {
  // The followers acknowledge to the new primary as soon as they are repointed (their semi-sync slave side is on
  // by their config); its master side is restored by ensureSemiSyncMaster.
  const key = nodeAddress(node);
  const b = new Budget(timeoutMs);
  return withAdmin(ctx.spec, node, b, async (c) => {
    let st = await readState(c, b);
    if (st.replica) {
      // What it received is final once the IO thread stops; RESET SLAVE ALL discards the relay log, so every
      // received transaction is applied first.
      if (st.replica.ioRunning !== 'No') await c.execute('STOP SLAVE IO_THREAD', [], { timeoutMs: b.ms() });
      await applyUntil(c, node, b, receivedOf);
      await c.execute('STOP SLAVE', [], { timeoutMs: b.ms() });
      await c.execute('RESET SLAVE ALL', [], { timeoutMs: b.ms() });
    }
    const semi = await ensureSemiSyncMaster(ctx.spec, c, key, b);
    await c.execute('SET GLOBAL read_only = OFF', [], { timeoutMs: b.ms() });
    st = await readState(c, b);
    if (st.replica || st.readOnly) {
      throw failed(
        key,
        `not promoted: ${st.replica ? 'replication is still configured' : 'read_only is ON'}`,
      );
    }
    ctx.log(`${key} promoted: writable, no replication, ${semi}, GTID ${st.gtidBinlogPos || '(empty)'}`);
    return positionOf(node, st);
  });
}

/**
 * The semi-sync master side of a new primary, waiting for ACKs before it takes a write. As a replica it switched
 * itself OFF the first time it applied a transaction (it had no semi-sync replicas of its own: the commit waited
 * rpl_semi_sync_master_timeout, then fell back), and once OFF it comes back ON only when a replica's ACK catches
 * up with it — in the lab 40 s after a promotion, all that time acknowledging commits nobody had received.
 * Enabling it afresh starts it ON. Skipped when it is ON already (an idempotent re-run on a primary taking writes:
 * switching it off then would release the commits waiting for an ACK).
 */
async function ensureSemiSyncMaster(
  spec: ClusterSpec,
  c: SqlClient,
  key: string,
  b: Budget,
): Promise<string> {
  if (spec.options.semiSync !== true) return 'asynchronous';
  const status = async (): Promise<boolean> => {
    const rows = await c.query("SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync_master_status'", [], {
      timeoutMs: b.ms(),
    });
    return stringOf(rows[0]?.Value).toUpperCase() === 'ON';
  };
  if (await status()) return 'semi-sync master ON';
  await c.execute('SET GLOBAL rpl_semi_sync_master_enabled = OFF', [], { timeoutMs: b.ms() });
  await c.execute('SET GLOBAL rpl_semi_sync_master_enabled = ON', [], { timeoutMs: b.ms() });
  if (!(await status())) throw failed(key, 'semi-sync master status is still OFF after enabling it');
  return 'semi-sync master switched ON';
}

async function repoint(
  ctx: RecoveryContext,
  node: NodeSpec,
  primary: NodeSpec,
  timeoutMs: number,
): Promise<void> {
  const b = new Budget(timeoutMs);
  const res = await withAdmin(ctx.spec, node, b, (c) => attach(ctx.spec, c, node, primary, b));
  if (!res.ok) throw failed(nodeAddress(node), `not repointed: ${res.reason}`);
  ctx.log(`${nodeAddress(node)} ${res.how}`);
}

async function demote(ctx: RecoveryContext, node: NodeSpec, timeoutMs: number): Promise<ReplicationPosition> {
  const key = nodeAddress(node);
  const b = new Budget(timeoutMs);
  return withAdmin(ctx.spec, node, b, async (c) => {
    const { killed } = await fenceSession(c, key, b);
    // A killed session may still be finishing a commit: the final position is read once they are all gone.
    const left = await waitGone(c, killed, b, b.totalMs);
    if (left > 0) throw timedOut(key, `${left} killed session(s) still finishing after ${b.totalMs} ms`);
    const st = await readState(c, b);
    ctx.log(
      `${key} demoted: read_only=ON, ${killed.length} client connection(s) killed, final GTID ${st.gtidBinlogPos || '(empty)'}`,
    );
    return positionOf(node, st);
  });
}

async function waitPosition(
  ctx: RecoveryContext,
  node: NodeSpec,
  positionText: string,
  timeoutMs: number,
): Promise<ReplicationPosition> {
  const target = parseGtidPosition(positionText);
  if (target === null) {
    throw new NinesError('NINES_E_INVALID_ARGUMENT', `not a GTID position: '${positionText}'`);
  }
  const b = new Budget(timeoutMs);
  const want = formatGtidPosition(target);
  return withAdmin(ctx.spec, node, b, async (c) =>
    positionOf(node, await applyUntil(c, node, b, () => want)),
  );
}

/** Opens the node's admin connection, starting its server (as a replica, see the top of the file) if it is down. */
async function openStarting(
  ctx: RecoveryContext,
  node: NodeSpec,
  b: Budget,
): Promise<{ c: SqlClient; started: boolean }> {
  try {
    return { c: await open(ctx.spec, node, b), started: false };
  } catch (err) {
    if (!isNinesError(err, 'NINES_E_DB_UNREACHABLE')) throw err;
    const ex = ctx.hosts.executor(node.host);
    if (await serverRunning(ex)) throw err;
    ctx.log(`${nodeAddress(node)}: starting its server with --init-rpl-role=SLAVE (read-only by its config)`);
    await startServer(ex, { extraArgs: ['--init-rpl-role=SLAVE'], readyTimeoutMs: b.ms() });
    return { c: await open(ctx.spec, node, b), started: true };
  }
}

async function rejoin(
  ctx: RecoveryContext,
  node: NodeSpec,
  primary: NodeSpec,
  timeoutMs: number,
): Promise<RejoinResult> {
  const key = nodeAddress(node);
  const b = new Budget(timeoutMs);
  const { c, started } = await openStarting(ctx, node, b);
  let res: Attach;
  try {
    res = await attach(ctx.spec, c, node, primary, b);
  } finally {
    await bounded(c.close(), 300, key, 'close').catch(() => undefined);
  }
  const how = started ? 'its server was started, ' : '';
  const result: RejoinResult = res.ok
    ? { action: 'rejoined', reason: `${key} rejoined: ${how}${res.how}` }
    : {
        action: 'diverged',
        reason: `${key} diverged: ${res.reason}; it stays read-only, rebuild it from ${nodeAddress(primary)}`,
      };
  ctx.log(result.reason);
  return result;
}

/** Refuses to discard the data of a node that may be a primary (writable, no replication). */
async function assertDiscardable(ctx: RecoveryContext, node: NodeSpec, primary: NodeSpec): Promise<void> {
  const key = nodeAddress(node);
  if (sameNode(node, primary)) throw failed(key, 'a node cannot be rebuilt from itself');
  const ex = ctx.hosts.executor(node.host);
  if (!(await serverRunning(ex))) return;
  const [row] = await rootSql(ex, 'SELECT @@global.read_only AS ro;\n', { signal: ctx.signal });
  const slave = await rootSql(ex, 'SHOW SLAVE STATUS;\n', { signal: ctx.signal });
  if (row?.ro !== '1' && slave.length === 0) {
    throw failed(
      key,
      'it is writable and replicates from nobody (a primary?); its data is not discarded (fence it first if its data can go)',
    );
  }
}

async function rebuild(ctx: RecoveryContext, node: NodeSpec, primary: NodeSpec): Promise<void> {
  const key = nodeAddress(node);
  const source = nodeAddress(primary);
  const ex = ctx.hosts.executor(node.host);
  const pex = ctx.hosts.executor(primary.host);
  await assertDiscardable(ctx, node, primary);
  if (await serverRunning(ex)) await stopServer(ex);
  await ex.exec(wipeDatadirArgv(), { sudo: true, signal: ctx.signal, timeoutMs: 600_000 });
  ctx.log(`${key}: data discarded; copying ${source}`);
  const started = Date.now();
  const { gtid, bytes } = await cloneFromPrimary(pex, ex, ctx.signal);
  ctx.log(
    `${key}: copied ${(bytes / 1e6).toFixed(1)} MB of ${source} at GTID ${gtid} in ${Date.now() - started} ms`,
  );
  await startServer(ex, { readyTimeoutMs: TIMEOUTS.serverReadyMs });
  // The copy's mysql.gtid_slave_pos is the source's own old replication position, not the copy's.
  await rootSql(ex, `STOP SLAVE;\nRESET SLAVE ALL;\nSET GLOBAL gtid_slave_pos = ${sqlString(gtid)};\n`, {
    signal: ctx.signal,
  });
  await replicateFrom(ex, ctx.spec, primary, ctx.signal);
  await waitReplicaRunning(ex, primary, { timeoutMs: TIMEOUTS.replicaRunningMs, signal: ctx.signal });
  const position = await binlogPosition(pex, ctx.signal);
  await waitGtidApplied(ex, position, { timeoutMs: TIMEOUTS.markerMs, signal: ctx.signal });
  const [row] = await rootSql(ex, 'SELECT @@global.read_only AS ro;\n', { signal: ctx.signal });
  if (row?.ro !== '1') throw failed(key, 'rebuilt, but it is writable');
  ctx.log(`${key}: rebuilt, replicating from ${source}, applied ${position || '(empty)'}`);
}

export const mariadbRecovery: ReplicationRecovery = {
  repointsBeforePromotion: true,
  observedPosition,
  ackState,
  errantTransactions,
  portCheck,
  readPosition,
  fence,
  fenceOnAnswer,
  stopReceiving,
  waitApplied,
  promote,
  repoint,
  demote,
  waitPosition,
  rejoin,
  rebuild,
};
