// Galera full-crash recovery (the controller calls it when no member serves): examine every node whose host
// answers (running? grastate.dat; --wsrep-recover where the seqno is -1), decide (bootstrap.ts
// decideGaleraRecovery: never a minority, never next to live non-Primary nodes, unless forced), bootstrap only
// the most advanced node with its start position (the cluster keeps its UUID), then start the others with their
// own positions so they rejoin by IST. Every host call is bounded; a host that does not answer is "unexamined".
import { untilAborted } from '../../core/abort.ts';
import { toNinesError } from '../../core/errors.ts';
import type { NodeSpec } from '../../core/spec.ts';
import type { ClusterRecoveryResult, ClusterRestart, RecoveryContext } from '../engine.ts';
import { serverRunning, serviceManager, startServer } from '../mysql/host.ts';
import { boundedSignal, startFailure } from '../mysql/node-server.ts';
import { executorOf } from '../mysql/prepare.ts';
import { rootSql } from '../mysql/root-sql.ts';
import { decideGaleraRecovery, type GaleraNodeFacts } from './bootstrap.ts';
import { waitSynced } from './deploy.ts';
import { galeraServer } from './node-server.ts';
import { localGaleraState, markSafeToBootstrap, readGrastate, recoverPosition } from './status.ts';

const addr = (n: NodeSpec): string => `${n.host}:${n.port}`;
/** Bound on examining one node (SSH, grastate, --wsrep-recover takes ~0.5-1 s). */
const EXAMINE_MS = 8000;

async function examine(ctx: RecoveryContext, node: NodeSpec): Promise<GaleraNodeFacts> {
  const ex = executorOf(ctx, node);
  const signal = boundedSignal(ctx, EXAMINE_MS);
  return untilAborted(
    (async (): Promise<GaleraNodeFacts> => {
      const running = await serverRunning(ex);
      if (running) {
        const state = await localGaleraState(ex, signal);
        return { node, running, ...(state ? { state } : {}) };
      }
      const grastate = await readGrastate(ex);
      if (grastate && grastate.seqno < 0) {
        const recovered = await recoverPosition(ex, signal);
        return { node, running, grastate, ...(recovered ? { recovered } : {}) };
      }
      return { node, running, ...(grastate ? { grastate } : {}) };
    })(),
    signal,
  );
}

async function bootstrap(ctx: RecoveryContext, node: NodeSpec, position: string | undefined, ms: number) {
  const ex = executorOf(ctx, node);
  const signal = boundedSignal(ctx, ms);
  await markSafeToBootstrap(ex);
  try {
    if ((await serviceManager(ex).mode()) === 'systemd') {
      await untilAborted(ex.exec(['galera_new_cluster'], { sudo: true, timeoutMs: ms }), signal);
    } else {
      const extraArgs = ['--wsrep-new-cluster', ...(position ? [`--wsrep-start-position=${position}`] : [])];
      await untilAborted(startServer(ex, { extraArgs, readyTimeoutMs: ms }), signal);
    }
    await untilAborted(waitSynced({ hosts: ctx.hosts, signal }, node, ms), signal);
  } catch (err) {
    throw await startFailure(ex, node, err);
  }
}

async function recover(
  ctx: RecoveryContext,
  options: { readonly force: boolean },
  timeoutMs: number,
): Promise<ClusterRecoveryResult> {
  const began = Date.now();
  const left = (): number => Math.max(1000, timeoutMs - (Date.now() - began));
  const nodes = ctx.spec.nodes;
  const outcomes = await Promise.all(
    nodes.map((n) =>
      examine(ctx, n).then(
        (f) => ({ ok: true as const, f }),
        (err: unknown) => ({ ok: false as const, node: n, why: toNinesError(err).message }),
      ),
    ),
  );
  const examined = outcomes.flatMap((o) => (o.ok ? [o.f] : []));
  const unexamined = outcomes.flatMap((o) => (o.ok ? [] : [o.node]));
  for (const o of outcomes) if (!o.ok) ctx.log(`${addr(o.node)} cannot be examined: ${o.why}`);
  for (const f of examined) {
    const pos = f.state
      ? `running, ${f.state.clusterStatus}, seqno ${f.state.lastCommitted}`
      : f.grastate
        ? `stopped, ${f.grastate.uuid}:${f.recovered?.seqno ?? f.grastate.seqno}${f.recovered ? ' (recovered)' : ''}`
        : 'stopped, no cluster state';
    ctx.log(`${addr(f.node)}: ${pos}`);
  }
  const plan = decideGaleraRecovery({ examined, unexamined, force: options.force });
  const un = unexamined.map(addr);
  if (plan.action === 'join') return { action: 'serving', reason: plan.reason, unexamined: un };
  if (plan.action === 'refuse' || plan.action === 'recover') {
    return {
      action: unexamined.length === nodes.length ? 'waiting' : 'refused',
      reason: plan.reason,
      unexamined: un,
    };
  }
  if (plan.action === 'pc-bootstrap') {
    await rootSql(executorOf(ctx, plan.node), "SET GLOBAL wsrep_provider_options='pc.bootstrap=YES';\n", {
      timeoutMs: left(),
      signal: ctx.signal,
    });
    return { action: 'recovered', reason: plan.reason, bootstrapped: addr(plan.node), unexamined: un };
  }
  ctx.log(`bootstrap ${addr(plan.node)}: ${plan.reason}`);
  await bootstrap(ctx, plan.node, plan.startPosition, left());
  const others = examined.filter((f) => addr(f.node) !== addr(plan.node)).map((f) => f.node);
  const joins = await Promise.allSettled(others.map((n) => galeraServer.start(ctx, n, 'member', left())));
  const joined: string[] = [];
  joins.forEach((j, i) => {
    const n = others[i] as NodeSpec;
    if (j.status === 'fulfilled') {
      joined.push(addr(n));
      ctx.log(`${addr(n)}: ${j.value}`);
    } else ctx.log(`${addr(n)} did not rejoin: ${toNinesError(j.reason).message}`);
  });
  return {
    action: 'recovered',
    reason: plan.reason,
    bootstrapped: addr(plan.node),
    ...(plan.startPosition ? { position: plan.startPosition } : {}),
    joined,
    unexamined: un,
  };
}

export const galeraClusterRestart: ClusterRestart = { recover };
