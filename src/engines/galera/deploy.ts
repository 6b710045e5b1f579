// Deploy of a Galera cluster: prepare hosts, decide how to start (bootstrap.ts: join a running Primary
// component, or bootstrap exactly one node), create the users, join the other nodes one at a time (each waits
// for Synced), then check every node is a Synced member of one Primary component of the right size and prove
// writes replicate with a marker row.
import { NinesError } from '../../core/errors.ts';
import type { ClusterSpec, NodeSpec } from '../../core/spec.ts';
import type { EngineContext, Topology } from '../engine.ts';
import { PATHS, sameNode } from '../mysql/config.ts';
import { serverRunning, serviceManager, startServer } from '../mysql/host.ts';
import { adminEndpoint, newMarkerToken, waitForMarker, writeMarker } from '../mysql/marker.ts';
import { galeraHealthy, type GaleraState } from '../mysql/observe.ts';
import { executorOf, forEachNode, label, labels, prepareNodes } from '../mysql/prepare.ts';
import { rootSql } from '../mysql/root-sql.ts';
import { withSql } from '../mysql/sql.ts';
import { specSecrets, sqlScript, userStatements } from '../mysql/users.ts';
import { done, notYet, waitUntil } from '../mysql/wait.ts';
import { decideGaleraStart, type GaleraNodeFacts, type StartPlan } from './bootstrap.ts';
import { renderGaleraConfig, sstMethod } from './config.ts';
import { discoverGalera } from './discover.ts';
import { localGaleraState, markSafeToBootstrap, readGrastate, recoverPosition } from './status.ts';

export const TIMEOUTS = {
  bootstrapMs: 90_000,
  /** A join includes the state transfer (SST): seconds here, longer with real data. */
  joinMs: 600_000,
  markerMs: 30_000,
} as const;

export function galeraPackages(spec: ClusterSpec): string[] {
  const sst = sstMethod(spec) === 'rsync' ? ['rsync'] : ['mariadb-backup', 'socat'];
  return ['mariadb-server', 'mariadb-client', 'galera-4', ...sst];
}

export const prepareOptions = {
  packages: galeraPackages,
  render: renderGaleraConfig,
  staleFiles: (spec: ClusterSpec): string[] => (sstMethod(spec) === 'rsync' ? [PATHS.sstAuth] : []),
};

export async function gatherFacts(
  ctx: EngineContext,
  nodes: readonly NodeSpec[],
): Promise<GaleraNodeFacts[]> {
  return forEachNode(nodes, async (node) => {
    const ex = executorOf(ctx, node);
    const running = await serverRunning(ex);
    const state = running ? await localGaleraState(ex, ctx.signal) : undefined;
    const grastate = running ? undefined : await readGrastate(ex);
    return { node, running, ...(state ? { state } : {}), ...(grastate ? { grastate } : {}) };
  });
}

/** Facts, then the plan; runs --wsrep-recover where a position is unknown and decides again. */
export async function planStart(ctx: EngineContext, nodes: readonly NodeSpec[]): Promise<StartPlan> {
  const facts = await gatherFacts(ctx, nodes);
  const plan = decideGaleraStart(facts);
  if (plan.action !== 'recover') return plan;
  ctx.log(plan.reason);
  const recovered = await forEachNode(plan.nodes, (n) => recoverPosition(executorOf(ctx, n), ctx.signal));
  const withRecovered = facts.map((f) => {
    const i = plan.nodes.findIndex((n) => sameNode(n, f.node));
    const pos = i >= 0 ? recovered[i] : undefined;
    return pos ? { ...f, recovered: pos } : f;
  });
  const again = decideGaleraStart(withRecovered);
  if (again.action === 'recover') return { action: 'refuse', reason: again.reason };
  return again;
}

function healthWhy(s: GaleraState | undefined): string {
  if (!s) return 'not answering (state transfer or start-up in progress)';
  return `${s.clusterStatus}, ${s.localState}, cluster size ${s.clusterSize}`;
}

/** Waits until the node is a Synced member of a Primary component (deploy, self-healing, cluster recovery). */
export async function waitSynced(
  ctx: Pick<EngineContext, 'hosts' | 'signal'>,
  node: NodeSpec,
  timeoutMs: number,
): Promise<GaleraState> {
  const ex = executorOf(ctx, node);
  return waitUntil(
    `${label(node)} to be Synced in a Primary component`,
    async () => {
      if (!(await serverRunning(ex))) {
        throw new NinesError('NINES_E_DEPLOY_FAILED', `${label(node)}: mariadbd stopped while joining`, {
          context: { host: node.host, errorLog: PATHS.errorLog },
        });
      }
      const s = await localGaleraState(ex, ctx.signal);
      return s && galeraHealthy(s) ? done(s) : notYet(healthWhy(s));
    },
    { timeoutMs, intervalMs: 250, signal: ctx.signal },
  );
}

export async function bootstrapNode(
  ctx: EngineContext,
  node: NodeSpec,
  startPosition?: string,
): Promise<void> {
  const ex = executorOf(ctx, node);
  if (await serverRunning(ex)) {
    await waitSynced(ctx, node, TIMEOUTS.bootstrapMs);
    return;
  }
  // Checked again right before --wsrep-new-cluster (the plan may come from an earlier, resumed step): if any
  // other node runs now, bootstrapping would create a second cluster next to it.
  const others = ctx.spec.nodes.filter((n) => !sameNode(n, node));
  const running = (await gatherFacts(ctx, others)).filter((f) => f.running).map((f) => label(f.node));
  if (running.length > 0) {
    throw new NinesError(
      'NINES_E_GALERA_NOT_PRIMARY',
      `not bootstrapping ${label(node)}: ${running.join(', ')} run(s) already; run the deploy again to join them`,
    );
  }
  if (startPosition) await markSafeToBootstrap(ex);
  if ((await serviceManager(ex).mode()) === 'systemd') {
    // systemd hosts: the packaged helper starts the unit with --wsrep-new-cluster (start position: not passed).
    await ex.exec(['galera_new_cluster'], { sudo: true, timeoutMs: TIMEOUTS.bootstrapMs });
  } else {
    const extraArgs = [
      '--wsrep-new-cluster',
      ...(startPosition ? [`--wsrep-start-position=${startPosition}`] : []),
    ];
    await startServer(ex, { extraArgs, readyTimeoutMs: TIMEOUTS.bootstrapMs });
  }
  await waitSynced(ctx, node, TIMEOUTS.bootstrapMs);
}

export async function createGaleraUsers(ctx: EngineContext, node: NodeSpec): Promise<void> {
  const sst = sstMethod(ctx.spec) === 'mariabackup';
  const statements = userStatements(ctx.spec, ctx.controllerAddress, { replication: false, sst });
  await rootSql(executorOf(ctx, node), sqlScript(statements), {
    signal: ctx.signal,
    secrets: specSecrets(ctx.spec),
  });
}

/** Starts the node as a joiner (unless it runs) and waits until it is Synced. */
export async function joinNode(ctx: EngineContext, node: NodeSpec, startPosition?: string): Promise<void> {
  const ex = executorOf(ctx, node);
  const s = await localGaleraState(ex, ctx.signal);
  if (s && galeraHealthy(s)) return;
  const started = Date.now();
  // A known position lets a node that was in the cluster catch up by IST instead of a full SST.
  const extraArgs = startPosition ? [`--wsrep-start-position=${startPosition}`] : [];
  await startServer(ex, { extraArgs, readyTimeoutMs: TIMEOUTS.joinMs });
  await waitSynced(ctx, node, TIMEOUTS.joinMs);
  ctx.log(`${label(node)} joined and Synced in ${Date.now() - started} ms`);
}

/** Every node Synced in one Primary component of `nodes.length` members. */
export async function checkCluster(ctx: EngineContext, nodes: readonly NodeSpec[]): Promise<void> {
  await waitUntil(
    `every node of ${ctx.spec.name} to be a Synced member of one Primary component of ${nodes.length}`,
    async () => {
      const states = await forEachNode(nodes, (n) => localGaleraState(executorOf(ctx, n), ctx.signal));
      const bad = nodes.flatMap((n, i) => {
        const s = states[i];
        return s && galeraHealthy(s) && s.clusterSize === nodes.length
          ? []
          : [`${label(n)}: ${healthWhy(s)}`];
      });
      const uuids = new Set(states.map((s) => s?.clusterStateUuid));
      if (bad.length === 0 && uuids.size === 1) return done(true);
      return notYet(bad.length > 0 ? bad.join('; ') : `several cluster ids: ${[...uuids].join(', ')}`);
    },
    { timeoutMs: 30_000, intervalMs: 250, signal: ctx.signal, code: 'NINES_E_GALERA_NOT_PRIMARY' },
  );
}

export async function verifyGalera(
  ctx: EngineContext,
  writer: NodeSpec,
  readers: readonly NodeSpec[],
): Promise<void> {
  const token = newMarkerToken();
  await withSql(adminEndpoint(ctx.spec, writer), (c) => writeMarker(c, 'deploy', token));
  const waits = await forEachNode(readers, (n) =>
    waitForMarker(adminEndpoint(ctx.spec, n), 'deploy', token, {
      timeoutMs: TIMEOUTS.markerMs,
      signal: ctx.signal,
    }),
  );
  if (readers.length > 0) ctx.log(`marker row seen on every node within ${Math.max(...waits)} ms`);
}

/** Brings every node of `nodes` up as a member of one Primary component (bootstrap or join). */
export async function startCluster(ctx: EngineContext, nodes: readonly NodeSpec[]): Promise<NodeSpec> {
  const plan = await ctx.step('decide how to start the cluster', () => planStart(ctx, nodes));
  ctx.log(`${plan.action}: ${plan.reason}`);
  if (plan.action === 'refuse' || plan.action === 'recover') {
    throw new NinesError('NINES_E_GALERA_NOT_PRIMARY', plan.reason);
  }
  const first = plan.action === 'bootstrap' ? plan.node : plan.via;
  if (plan.action === 'bootstrap') {
    await ctx.step(`bootstrap the cluster on ${label(first)}`, () =>
      bootstrapNode(ctx, first, plan.startPosition),
    );
  }
  await ctx.step(`create users on ${label(first)}`, () => createGaleraUsers(ctx, first));
  for (const n of nodes.filter((x) => !sameNode(x, first))) {
    const position = plan.action === 'bootstrap' ? plan.joinPositions?.[label(n)] : undefined;
    await ctx.step(`join ${label(n)}`, () => joinNode(ctx, n, position));
  }
  return first;
}

export async function deployGalera(ctx: EngineContext): Promise<Topology> {
  const { spec } = ctx;
  ctx.log(`galera cluster ${spec.name}: ${labels(spec.nodes)} (SST ${sstMethod(spec)})`);
  await prepareNodes(ctx, spec.nodes, prepareOptions);
  const first = await startCluster(ctx, spec.nodes);
  await ctx.step('check cluster health', () => checkCluster(ctx, spec.nodes));
  await ctx.step('verify replication', () =>
    verifyGalera(
      ctx,
      first,
      spec.nodes.filter((n) => !sameNode(n, first)),
    ),
  );
  return discoverGalera(ctx);
}
