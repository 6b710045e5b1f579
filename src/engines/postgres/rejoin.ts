// rejoin and rebuild: a former primary (or any standby) made a standby of the current primary again. rejoin
// tries pg_rewind first (seconds: only the blocks that changed since the timelines forked are copied) and falls
// back to a fresh base backup when the rewind, the start or the streaming fails; rebuild always copies afresh.
import { NinesError } from '../../core/errors.ts';
import { credentialSecrets } from '../../core/redact.ts';
import type { NodeSpec } from '../../core/spec.ts';
import { nodeAddress, type RecoveryContext, type RejoinResult } from '../engine.ts';
import { sameNode } from './common.ts';
import { pgPaths, renderAdminPgpass } from './config.ts';
import { cloneStandby } from './deploy.ts';
import { streamsFrom } from './positions.ts';
import {
  describeStop,
  rewindArgv,
  rewindSummary,
  standbySignalArgv,
  type StopResult,
} from './recovery-commands.ts';
import {
  asAdmin,
  budget,
  childBudget,
  messageOf,
  prepareUpstream,
  put,
  receiverState,
  seconds,
  stopServer,
  unreachable,
  untilAborted,
  verbError,
  waitStreaming,
  writeStandbyFiles,
  type Budget,
} from './recovery-steps.ts';
import { probeNode, service } from './server.ts';

/** rebuild has no bound of its own: a base backup of a large database takes long. */
const REBUILD_TIMEOUT_MS = 3_600_000;
/** Share of rejoin's bound that the pg_rewind path may use; the rest is left to the base backup fallback. */
const REWIND_SHARE = 0.6;

/**
 * pg_rewind reads the source's timeline from its control file, which a promoted server updates only at its first
 * checkpoint on the new timeline (the one PostgreSQL requests after promotion is spread over minutes). Until then
 * pg_rewind compares the wrong timelines: "no rewind required" for a diverged node, or a fork point far in the
 * past. Hence a CHECKPOINT on the source first, as the pg_rewind documentation asks, when its control file lags.
 */
async function checkpointSource(ctx: RecoveryContext, primary: NodeSpec, b: Budget): Promise<void> {
  await asAdmin(ctx, primary, b, async (c) => {
    const [row] = await c.query<{ control: number; current: number }>(
      `SELECT (SELECT timeline_id FROM pg_control_checkpoint()) AS control,
        ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int AS current`,
    );
    if (!row || Number(row.control) === Number(row.current)) return;
    ctx.log(
      `${nodeAddress(primary)}: CHECKPOINT (its control file is on timeline ${row.control}, its WAL on ${row.current})`,
    );
    await c.query('CHECKPOINT');
  });
}

/**
 * A node that crashed (or was stopped by an immediate shutdown) needs crash recovery before pg_rewind, which would
 * run it in single-user mode — and single-user mode refuses standby.signal. So the server does it itself, as the
 * standby it is (it never accepts writes), and is stopped cleanly again.
 */
async function recoverAsStandby(ctx: RecoveryContext, node: NodeSpec, b: Budget): Promise<void> {
  const a = nodeAddress(node);
  const ex = ctx.hosts.executor(node.host);
  ctx.log(`${a}: not shut down cleanly; crash recovery as a standby before pg_rewind`);
  const probe = await untilAborted(probeNode(ex, ctx.spec, node, b.signal), b.signal);
  await service(ex, ctx.spec, 'start', probe.systemd, {
    waitSeconds: seconds(b.remaining() * 0.4),
    signal: b.signal,
  });
  const stop = await stopServer(ctx, node, b, 0.3, false);
  if (!stop.stopped || stop.state !== 'shut down in recovery') {
    throw new NinesError(
      'NINES_E_RECOVERY_FAILED',
      `${a}: after crash recovery: ${describeStop(stop)}; cluster state '${stop.state ?? 'unknown'}'`,
    );
  }
}

/** pg_rewind from the primary, then start as its standby and wait for streaming. Resolves to what happened. */
async function rewindAndFollow(
  ctx: RecoveryContext,
  node: NodeSpec,
  upstream: { readonly primary: NodeSpec; readonly timeline: number },
  stop: StopResult,
  b: Budget,
): Promise<string> {
  const { primary, timeline } = upstream;
  const a = nodeAddress(node);
  const ex = ctx.hosts.executor(node.host);
  const paths = pgPaths(ctx.spec.version);
  await writeStandbyFiles(ctx, node, primary, b, true);
  if (stop.state !== 'shut down' && stop.state !== 'shut down in recovery')
    await recoverAsStandby(ctx, node, b);
  await checkpointSource(ctx, primary, b);
  await put(ex, paths.rewindPgpass, renderAdminPgpass(ctx.spec), 0o600, b);
  let summary: string;
  try {
    const r = await untilAborted(
      ex.exec(rewindArgv(ctx.spec, primary), {
        sudo: true,
        check: false,
        timeoutMs: b.remaining(),
        signal: b.signal,
        secrets: credentialSecrets(ctx.spec.credentials),
      }),
      b.signal,
    );
    const output = `${r.stdout}\n${r.stderr}`;
    if (r.exitCode !== 0) {
      const said = output.trim().split('\n').pop() ?? '';
      throw new NinesError(
        'NINES_E_COMMAND_FAILED',
        `${ex.host}: pg_rewind exited with ${r.exitCode}: ${said}`,
      );
    }
    summary = rewindSummary(output);
  } finally {
    // The admin password must not stay on the node, whatever happened (not bound to the aborted signal).
    await ex
      .exec(['rm', '-f', '--', paths.rewindPgpass], { sudo: true, timeoutMs: 10_000 })
      .catch((err: unknown) => ctx.log(`${a}: could not remove ${paths.rewindPgpass}: ${messageOf(err)}`));
  }
  ctx.log(`${a}: pg_rewind from ${nodeAddress(primary)}: ${summary}`);
  // pg_rewind removes files the source does not have; the node must come up as a standby.
  await untilAborted(
    ex.exec(standbySignalArgv(ctx.spec.version), { sudo: true, signal: b.signal }),
    b.signal,
  );
  const probe = await untilAborted(probeNode(ex, ctx.spec, node, b.signal), b.signal);
  await service(ex, ctx.spec, 'start', probe.systemd, {
    waitSeconds: seconds(b.remaining()),
    signal: b.signal,
  });
  await waitStreaming(ctx, node, primary, timeline, b);
  return `pg_rewind from ${nodeAddress(primary)} (${summary}); streams on timeline ${timeline}`;
}

/**
 * Refuses to discard a primary's data: `node` answers SQL out of recovery, or (not answering) runs without
 * standby.signal.
 */
async function refuseIfPrimary(ctx: RecoveryContext, node: NodeSpec, b: Budget): Promise<void> {
  const state = await receiverState(ctx, node, b);
  let primary = state !== null && !state.in_recovery;
  if (state === null) {
    const probe = await untilAborted(
      probeNode(ctx.hosts.executor(node.host), ctx.spec, node, b.signal),
      b.signal,
    );
    primary = probe.running && !probe.standbySignal;
  }
  if (primary) {
    throw new NinesError(
      'NINES_E_TOPOLOGY_INCONSISTENT',
      `${nodeAddress(node)} runs as a primary: refusing to discard its data (fence or demote it first)`,
    );
  }
}

/** A fresh base backup of `primary` on `node`, started as its standby, streaming on `timeline`. */
async function rebuildWithin(
  ctx: RecoveryContext,
  node: NodeSpec,
  primary: NodeSpec,
  b: Budget,
): Promise<number> {
  const a = nodeAddress(node);
  const ex = ctx.hosts.executor(node.host);
  const timeline = await prepareUpstream(ctx, primary, node, b);
  await refuseIfPrimary(ctx, node, b);
  const probe = await untilAborted(probeNode(ex, ctx.spec, node, b.signal), b.signal);
  if (!probe.configExists) {
    throw new NinesError(
      'NINES_E_CLONE_FAILED',
      `${a} has no PostgreSQL ${ctx.spec.version} configuration: add the node again to recreate it`,
    );
  }
  await writeStandbyFiles(ctx, node, primary, b, true);
  await cloneStandby({ ...ctx, signal: b.signal }, node, primary, probe);
  await waitStreaming(ctx, node, primary, timeline, b);
  return timeline;
}

/** The rejoin's second chance: a fresh base backup; `diverged` (left stopped) only when even that cannot run. */
async function fallBackToBaseBackup(
  ctx: RecoveryContext,
  node: NodeSpec,
  primary: NodeSpec,
  b: Budget,
  rewindFailure: string,
): Promise<RejoinResult> {
  const a = nodeAddress(node);
  try {
    const tl = await rebuildWithin(ctx, node, primary, b);
    const reason = `pg_rewind failed (${rewindFailure}); rebuilt from a fresh base backup of ${nodeAddress(primary)}, streams on timeline ${tl}`;
    ctx.log(`${a}: rejoined: ${reason}`);
    return { action: 'rejoined', reason };
  } catch (err) {
    // The node's host or the primary went away meanwhile: not a verdict on the node, the caller retries.
    if (ctx.signal.aborted || unreachable(err)) throw verbError(err, ctx, b, 'NINES_E_RECOVERY_FAILED', a);
    const why = b.expired() ? `not done within ${b.timeoutMs} ms` : messageOf(err);
    const stopped = await stopServer(ctx, node, budget(ctx, 10_000), 0.5, true).then(
      (r) => describeStop(r),
      (e: unknown) => `not stopped: ${messageOf(e)}`,
    );
    const reason = `pg_rewind failed (${rewindFailure}) and the base backup failed too (${why}); ${a} left stopped (${stopped})`;
    ctx.log(`${a}: not rejoined: ${reason}`);
    return { action: 'diverged', reason };
  }
}

export async function rejoin(
  ctx: RecoveryContext,
  node: NodeSpec,
  primary: NodeSpec,
  timeoutMs: number,
): Promise<RejoinResult> {
  const a = nodeAddress(node);
  const p = nodeAddress(primary);
  if (sameNode(node, primary)) throw new NinesError('NINES_E_INVALID_ARGUMENT', `${a} cannot follow itself`);
  const b = budget(ctx, timeoutMs);
  let timeline: number;
  let stop: StopResult;
  try {
    // The primary first: nothing on the node is touched when the primary cannot take it.
    timeline = await prepareUpstream(ctx, primary, node, b);
    const state = await receiverState(ctx, node, b);
    if (state && streamsFrom(state, primary, timeline)) {
      return { action: 'rejoined', reason: `${a} already streams from ${p} on timeline ${timeline}` };
    }
    // Then the node is stopped (and stays fenced): a host that does not answer yet throws, for a retry.
    stop = await stopServer(ctx, node, b, 0.15, true);
    if (!stop.stopped) throw new NinesError('NINES_E_RECOVERY_FAILED', `${a}: ${describeStop(stop)}`);
  } catch (err) {
    throw verbError(err, ctx, b, 'NINES_E_RECOVERY_FAILED', `${a} -> ${p}`);
  }
  const rewind = childBudget(ctx, b, REWIND_SHARE);
  let rewindFailure = 'it has no data directory';
  if (!stop.noData) {
    try {
      const how = await rewindAndFollow(ctx, node, { primary, timeline }, stop, rewind);
      ctx.log(`${a}: rejoined: ${how}`);
      return { action: 'rejoined', reason: how };
    } catch (err) {
      if (ctx.signal.aborted) throw err;
      rewindFailure = rewind.expired() ? `not streaming within ${rewind.timeoutMs} ms` : messageOf(err);
    }
  }
  ctx.log(`${a}: pg_rewind path failed (${rewindFailure}); falling back to a fresh base backup`);
  return fallBackToBaseBackup(ctx, node, primary, b, rewindFailure);
}

export async function rebuild(ctx: RecoveryContext, node: NodeSpec, primary: NodeSpec): Promise<void> {
  const a = nodeAddress(node);
  if (sameNode(node, primary)) throw new NinesError('NINES_E_INVALID_ARGUMENT', `${a} cannot follow itself`);
  const b = budget(ctx, REBUILD_TIMEOUT_MS);
  try {
    const timeline = await rebuildWithin(ctx, node, primary, b);
    ctx.log(`${a}: rebuilt from ${nodeAddress(primary)}, streams on timeline ${timeline}`);
  } catch (err) {
    throw verbError(err, ctx, b, 'NINES_E_CLONE_FAILED', `${a} from ${nodeAddress(primary)}`);
  }
}
