// The failover and switchover verbs of postgres-streaming (ReplicationRecovery in ../engine.ts). SQL goes straight
// from the controller as the admin user, one short connection per verb (closed before it returns), with every
// wait bounded by the verb's budget; SSH only for what needs the host: the port check from a peer, stopping the
// server, files, pg_rewind, pg_basebackup. The pure parts are in positions.ts and recovery-commands.ts, the
// shared steps in recovery-steps.ts, rejoin and rebuild in rejoin.ts.
//
// A failover: fence(old primary) -> waitApplied(candidate) -> promote(candidate) -> repoint(each other standby);
// later rejoin(old primary) when its host is back. A switchover: demote(primary) -> waitPosition(candidate, its
// final position) -> promote -> repoint -> rejoin(old primary).
import { NinesError, isNinesError } from '../../core/errors.ts';
import { parseLsn } from '../../core/recovery/positions.ts';
import type { ClusterSpec, NodeSpec } from '../../core/spec.ts';
import {
  nodeAddress,
  type FenceResult,
  type PortVerdict,
  type RecoveryContext,
  type ReplicationPosition,
  type ReplicationRecovery,
} from '../engine.ts';
import { sameNode } from './common.ts';
import { applicationName, pgPaths, renderMainDropIn, synchronousStandbyNames } from './config.ts';
import {
  ackState,
  observedPosition,
  reachedPosition,
  replayProgress,
  shutdownPosition,
  streamsFrom,
  standbysCovered,
  unreadablePosition,
  type ReplayReading,
} from './positions.ts';
import { describeStop, portCheckArgv, portVerdict } from './recovery-commands.ts';
import {
  asAdmin,
  budget,
  inRecovery,
  messageOf,
  pause,
  pollNode,
  positionOn,
  prepareUpstream,
  put,
  receiverState,
  recentLog,
  seconds,
  stopServer,
  unreachable,
  untilAborted,
  verbError,
  waitStreaming,
  writeStandbyFiles,
  POLL_MS,
  type Budget,
} from './recovery-steps.ts';
import { armFence } from './armed-fence.ts';
import { rebuild, rejoin } from './rejoin.ts';
import { probeNode, service } from './server.ts';
import type { SqlClient } from './sql.ts';

async function fence(ctx: RecoveryContext, node: NodeSpec, timeoutMs: number): Promise<FenceResult> {
  const b = budget(ctx, timeoutMs);
  const a = nodeAddress(node);
  try {
    const stop = await stopServer(ctx, node, b, 0.4, true);
    const how = describeStop(stop);
    ctx.log(`${a}: fence: ${how}`);
    return { fenced: stop.stopped && (stop.standbySignal || stop.noData), how };
  } catch (err) {
    if (ctx.signal.aborted) throw err;
    const why = b.expired() ? `no answer within ${b.timeoutMs} ms` : messageOf(err);
    const silent = b.expired() || unreachable(err) || isNinesError(err, 'NINES_E_SSH_AUTH');
    const how = `${silent ? 'unreachable' : 'not fenced'}: ${why}`;
    ctx.log(`${a}: fence: ${how}`);
    return { fenced: false, how };
  }
}

async function portCheck(
  ctx: RecoveryContext,
  from: NodeSpec,
  target: NodeSpec,
  timeoutMs: number,
): Promise<PortVerdict> {
  const b = budget(ctx, timeoutMs);
  // The check itself gets 70% of the bound; the rest is the SSH round trip.
  const argv = portCheckArgv(target, Math.max(100, Math.floor(b.timeoutMs * 0.7)));
  try {
    const ex = ctx.hosts.executor(from.host);
    const r = await untilAborted(
      ex.exec(argv, { timeoutMs: b.timeoutMs, check: false, signal: b.signal }),
      b.signal,
    );
    return portVerdict(r.exitCode);
  } catch {
    return 'unknown';
  }
}

async function readPosition(
  ctx: RecoveryContext,
  node: NodeSpec,
  timeoutMs: number,
): Promise<ReplicationPosition> {
  const b = budget(ctx, timeoutMs);
  try {
    return await asAdmin(ctx, node, b, (c) => positionOn(c, node));
  } catch (err) {
    const why = b.expired() && !ctx.signal.aborted ? `no answer within ${b.timeoutMs} ms` : messageOf(err);
    return unreadablePosition(nodeAddress(node), why);
  }
}

const REPLAY_SQL = `SELECT pg_is_in_recovery() AS in_recovery, pg_last_wal_receive_lsn()::text AS received_lsn,
  pg_last_wal_replay_lsn()::text AS replayed_lsn,
  (SELECT wait_event FROM pg_stat_activity WHERE backend_type = 'startup') AS startup_wait`;

interface ReplayRow {
  readonly in_recovery: boolean;
  readonly received_lsn: string | null;
  readonly replayed_lsn: string | null;
  readonly startup_wait: string | null;
}

async function waitApplied(
  ctx: RecoveryContext,
  node: NodeSpec,
  timeoutMs: number,
): Promise<ReplicationPosition> {
  const b = budget(ctx, timeoutMs);
  const a = nodeAddress(node);
  let stalledSince: ReplayReading | undefined;
  let last: ReplayReading | undefined;
  return pollNode(
    ctx,
    node,
    b,
    async (c) => {
      const [row] = await c.query<ReplayRow>(REPLAY_SQL);
      if (!row) return undefined;
      last = {
        time: Date.now(),
        inRecovery: row.in_recovery,
        receivedLsn: row.received_lsn,
        replayedLsn: row.replayed_lsn,
        startupWait: row.startup_wait,
      };
      const progress = replayProgress(stalledSince, last);
      stalledSince = progress.stalledSince;
      return progress.done ? positionOn(c, node) : undefined;
    },
    (err) =>
      new NinesError(
        'NINES_E_FAILOVER_TIMEOUT',
        `${a} did not replay all it received within ${b.timeoutMs} ms (received ${last?.receivedLsn ?? 'unknown'}, replayed ${last?.replayedLsn ?? 'unknown'})${err ? `: ${messageOf(err)}` : ''}`,
        { context: { node: a, received: last?.receivedLsn, replayed: last?.replayedLsn } },
      ),
  );
}

async function waitPosition(
  ctx: RecoveryContext,
  node: NodeSpec,
  positionText: string,
  timeoutMs: number,
): Promise<ReplicationPosition> {
  const target = parseLsn(positionText);
  if (target === null) {
    throw new NinesError('NINES_E_INVALID_ARGUMENT', `not a PostgreSQL LSN: ${JSON.stringify(positionText)}`);
  }
  const b = budget(ctx, timeoutMs);
  const a = nodeAddress(node);
  let last: ReplicationPosition | undefined;
  return pollNode(
    ctx,
    node,
    b,
    async (c) => {
      last = await positionOn(c, node);
      return reachedPosition(last, target) ? last : undefined;
    },
    (err) =>
      new NinesError(
        'NINES_E_FAILOVER_TIMEOUT',
        `${a} did not reach ${positionText} within ${b.timeoutMs} ms (at ${last?.label ?? 'unknown'})${err ? `: ${messageOf(err)}` : ''}`,
        { context: { node: a, target: positionText, at: last?.label } },
      ),
  );
}

/**
 * After promotion: synchronous_standby_names must list every follower (the rendered drop-in lists every node
 * with ANY 1, so a commit waits for one of them from the first moment). When it does not (the file was edited),
 * the drop-in is rendered again from the spec and reloaded.
 */
async function ensureSynchronousNames(
  ctx: RecoveryContext,
  c: SqlClient,
  node: NodeSpec,
  followers: readonly NodeSpec[],
  b: Budget,
): Promise<void> {
  const wanted = synchronousStandbyNames(ctx.spec);
  if (wanted === '') return;
  const names = followers.filter((f) => !sameNode(f, node)).map((f) => applicationName(f));
  const current = async (): Promise<string> =>
    (await c.query<{ v: string }>("SELECT current_setting('synchronous_standby_names') AS v"))[0]?.v ?? '';
  const before = await current();
  if (before.trim() !== '' && standbysCovered(before, names)) return;
  const a = nodeAddress(node);
  ctx.log(`${a}: synchronous_standby_names is '${before}'; rendering it again from the spec`);
  const paths = pgPaths(ctx.spec.version);
  await put(ctx.hosts.executor(node.host), paths.mainDropIn, renderMainDropIn(ctx.spec, node), 0o644, b);
  await c.query('SELECT pg_reload_conf()');
  // The reload reaches this session between statements; a few readings at most.
  for (;;) {
    const after = await current();
    if (after.trim() !== '' && standbysCovered(after, names)) return;
    if (b.expired()) {
      throw new NinesError(
        'NINES_E_RECOVERY_FAILED',
        `${a}: synchronous_standby_names is '${after}' after a reload, expected it to list ${names.join(', ')}`,
      );
    }
    await pause(POLL_MS, b.signal);
  }
}

async function promote(
  ctx: RecoveryContext,
  node: NodeSpec,
  followers: readonly NodeSpec[],
  timeoutMs: number,
): Promise<ReplicationPosition> {
  const b = budget(ctx, timeoutMs);
  const a = nodeAddress(node);
  const ex = ctx.hosts.executor(node.host);
  const paths = pgPaths(ctx.spec.version);
  try {
    return await asAdmin(ctx, node, b, async (c) => {
      if (await inRecovery(c)) {
        const wait = seconds(b.remaining() - 500);
        const [r] = await c.query<{ ok: boolean }>('SELECT pg_promote(true, $1::int) AS ok', [wait]);
        if (r?.ok !== true && (await inRecovery(c))) {
          throw new NinesError(
            'NINES_E_RECOVERY_FAILED',
            `${a}: still in recovery ${wait} s after pg_promote${await recentLog(ctx, node)}`,
          );
        }
        ctx.log(`${a}: promoted (pg_promote)`);
      } else {
        ctx.log(`${a}: already a primary`);
      }
      if (await inRecovery(c)) {
        throw new NinesError('NINES_E_RECOVERY_FAILED', `${a}: in recovery after promotion`);
      }
      // A primary ignores primary_conninfo, but the drop-in names the old primary: nothing must follow it.
      const removing = untilAborted(
        ex.exec(['rm', '-f', '--', paths.standbyDropIn], {
          sudo: true,
          timeoutMs: b.remaining(),
          signal: b.signal,
        }),
        b.signal,
      );
      await Promise.all([removing, ensureSynchronousNames(ctx, c, node, followers, b)]);
      await c.query('SELECT pg_reload_conf()');
      const position = await positionOn(c, node);
      ctx.log(`${a}: primary at ${position.label}`);
      return position;
    });
  } catch (err) {
    throw verbError(err, ctx, b, 'NINES_E_RECOVERY_FAILED', a);
  }
}

/** repoint's way to apply the rewritten drop-in: reload when it runs, start it when it is a stopped standby. */
async function applyStandbyConfig(
  ctx: RecoveryContext,
  node: NodeSpec,
  running: boolean,
  b: Budget,
): Promise<void> {
  if (running) {
    await asAdmin(ctx, node, b, (c) => c.query('SELECT pg_reload_conf()'));
    return;
  }
  const ex = ctx.hosts.executor(node.host);
  const probe = await untilAborted(probeNode(ex, ctx.spec, node, b.signal), b.signal);
  if (probe.running) {
    await service(ex, ctx.spec, 'reload', probe.systemd, { signal: b.signal });
    return;
  }
  if (!probe.standbySignal) {
    throw new NinesError(
      'NINES_E_TOPOLOGY_INCONSISTENT',
      `${nodeAddress(node)} is stopped and not configured as a standby (no standby.signal): rejoin it instead`,
    );
  }
  await service(ex, ctx.spec, 'start', probe.systemd, {
    waitSeconds: seconds(b.remaining()),
    signal: b.signal,
  });
}

async function repoint(
  ctx: RecoveryContext,
  node: NodeSpec,
  primary: NodeSpec,
  timeoutMs: number,
): Promise<void> {
  const a = nodeAddress(node);
  const p = nodeAddress(primary);
  if (sameNode(node, primary)) {
    throw new NinesError('NINES_E_INVALID_ARGUMENT', `${a} cannot follow itself`);
  }
  const b = budget(ctx, timeoutMs);
  try {
    const [timeline, state] = await Promise.all([
      prepareUpstream(ctx, primary, node, b),
      receiverState(ctx, node, b),
    ]);
    if (state && !state.in_recovery) {
      throw new NinesError(
        'NINES_E_TOPOLOGY_INCONSISTENT',
        `${a} is a primary, not a standby: rejoin it to make it follow ${p}`,
      );
    }
    if (state && streamsFrom(state, primary, timeline)) {
      ctx.log(`${a}: already streams from ${p} on timeline ${timeline}`);
      return;
    }
    await writeStandbyFiles(ctx, node, primary, b, false);
    await applyStandbyConfig(ctx, node, state !== null, b);
    await waitStreaming(ctx, node, primary, timeline, b);
    ctx.log(`${a}: streams from ${p} on timeline ${timeline}`);
  } catch (err) {
    throw verbError(err, ctx, b, 'NINES_E_RECOVERY_FAILED', `${a} -> ${p}`);
  }
}

async function demote(ctx: RecoveryContext, node: NodeSpec, timeoutMs: number): Promise<ReplicationPosition> {
  const b = budget(ctx, timeoutMs);
  const a = nodeAddress(node);
  try {
    const state = await receiverState(ctx, node, b);
    if (state?.in_recovery === true) {
      throw new NinesError(
        'NINES_E_TOPOLOGY_INCONSISTENT',
        `${a} is a standby, not the primary: nothing to demote`,
      );
    }
    // A fast shutdown ends the sessions, writes the shutdown checkpoint and sends all WAL to connected standbys
    // before the server exits. Never immediate: the final position would be unknown.
    const stop = await stopServer(ctx, node, b, 0.9, false);
    const position = shutdownPosition(a, stop);
    if (!stop.stopped || stop.state !== 'shut down' || position === null) {
      throw new NinesError(
        'NINES_E_RECOVERY_FAILED',
        `${a}: ${describeStop(stop)}; cluster state '${stop.state ?? 'unknown'}'${await recentLog(ctx, node)}`,
      );
    }
    ctx.log(`${a}: demoted: ${describeStop(stop)}; final position ${position.label}`);
    return position;
  } catch (err) {
    throw verbError(err, ctx, b, 'NINES_E_RECOVERY_FAILED', a);
  }
}

/** The postgres-streaming failover verbs. */
export const postgresRecovery: ReplicationRecovery = {
  observedPosition,
  ackState: (spec: ClusterSpec, primary, observations) => ackState(spec, primary, observations),
  // Divergence in PostgreSQL is a timeline question, handled by rejoin (pg_rewind): never errant transactions.
  errantTransactions: () => 0,
  portCheck,
  readPosition,
  fence,
  armFence,
  waitApplied,
  promote,
  repoint,
  demote,
  waitPosition,
  rejoin,
  rebuild,
};
