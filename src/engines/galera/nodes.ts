// Adding a node to / removing a node from a running Galera cluster. The other nodes' wsrep_cluster_address is
// rewritten in their option files (used at their next start; a running member needs no restart: membership
// is learnt from the group itself).
import { NinesError } from '../../core/errors.ts';
import type { ClusterSpec, NodeSpec } from '../../core/spec.ts';
import type { EngineContext, RemoveNodeOptions, Topology } from '../engine.ts';
import { sameNode } from '../mysql/config.ts';
import { serverRunning, stopServer, writeConfigFiles } from '../mysql/host.ts';
import { galeraHealthy } from '../mysql/observe.ts';
import { executorOf, forEachNode, label, labels, prepareNodes, requireSpecNode } from '../mysql/prepare.ts';
import { done, notYet, waitUntil } from '../mysql/wait.ts';
import { renderGaleraConfig } from './config.ts';
import {
  checkCluster,
  createGaleraUsers,
  gatherFacts,
  joinNode,
  prepareOptions,
  verifyGalera,
} from './deploy.ts';
import { discoverGalera } from './discover.ts';
import { localGaleraState } from './status.ts';

function without(nodes: readonly NodeSpec[], node: NodeSpec): NodeSpec[] {
  return nodes.filter((n) => !sameNode(n, node));
}

/** A Synced member of a Primary component among `nodes`, or NINES_E_GALERA_NOT_PRIMARY. */
async function syncedMember(ctx: EngineContext, nodes: readonly NodeSpec[]): Promise<NodeSpec> {
  const facts = await gatherFacts(ctx, nodes);
  const member = facts.find((f) => f.state && galeraHealthy(f.state));
  if (!member) {
    throw new NinesError(
      'NINES_E_GALERA_NOT_PRIMARY',
      `no node of ${labels(nodes)} is Synced in a Primary component`,
    );
  }
  return member.node;
}

async function rewriteConfigs(
  ctx: EngineContext,
  spec: ClusterSpec,
  nodes: readonly NodeSpec[],
): Promise<void> {
  await forEachNode(nodes, (n) => writeConfigFiles(executorOf(ctx, n), renderGaleraConfig(spec, n)));
}

export async function addGaleraNode(ctx: EngineContext, wanted: NodeSpec): Promise<Topology> {
  const node = requireSpecNode(ctx.spec, wanted);
  const others = without(ctx.spec.nodes, node);
  const donor = await ctx.step('find a Synced member', () => syncedMember(ctx, others));
  await prepareNodes(ctx, [node], prepareOptions);
  // Grants are per address (the new node's admin account); the SST user must exist before the donor needs it.
  await ctx.step(`update users on ${label(donor)}`, () => createGaleraUsers(ctx, donor));
  await ctx.step(`join ${label(node)}`, () => joinNode(ctx, node));
  await ctx.step(`update wsrep_cluster_address of ${labels(others)}`, () =>
    rewriteConfigs(ctx, ctx.spec, others),
  );
  await ctx.step('check cluster health', () => checkCluster(ctx, ctx.spec.nodes));
  await ctx.step(`verify replication to ${label(node)}`, () => verifyGalera(ctx, donor, [node]));
  return discoverGalera(ctx);
}

/** Majority rule: the members left must be more than half of the current cluster size. */
export function removalKeepsQuorum(clusterSize: number, remainingSynced: number): boolean {
  return remainingSynced >= Math.floor(clusterSize / 2) + 1;
}

export async function removeGaleraNode(
  ctx: EngineContext,
  wanted: NodeSpec,
  options: RemoveNodeOptions,
): Promise<Topology> {
  const node = requireSpecNode(ctx.spec, wanted);
  const remaining = without(ctx.spec.nodes, node);
  const facts = await ctx.step('read the cluster state', () => gatherFacts(ctx, ctx.spec.nodes));
  const size = Math.max(
    0,
    ...facts.map((f) => (f.state?.clusterStatus === 'Primary' ? f.state.clusterSize : 0)),
  );
  const synced = facts.filter((f) => !sameNode(f.node, node) && f.state && galeraHealthy(f.state)).length;
  if (!options.force && !removalKeepsQuorum(size, synced)) {
    throw new NinesError(
      'NINES_E_REMOVE_REFUSED',
      `removing ${label(node)} leaves ${synced} Synced member(s) of a cluster of ${size}: no majority (quorum lost)`,
      { context: { clusterSize: size, remainingSynced: synced } },
    );
  }
  await ctx.step(`stop ${label(node)}`, async () => {
    const ex = executorOf(ctx, node);
    // A clean shutdown: the node leaves the group, the others shrink the cluster size without losing quorum.
    if (await serverRunning(ex)) await stopServer(ex, 120_000);
  });
  const smaller: ClusterSpec = { ...ctx.spec, nodes: remaining };
  await ctx.step(`update wsrep_cluster_address of ${labels(remaining)}`, () =>
    rewriteConfigs(ctx, smaller, remaining),
  );
  if (synced > 0) {
    await ctx.step('wait for the cluster to shrink', () =>
      waitUntil(
        `the members to see a cluster of ${synced}`,
        async () => {
          const states = await forEachNode(remaining, (n) =>
            localGaleraState(executorOf(ctx, n), ctx.signal),
          );
          const sizes = states.filter((s) => s && galeraHealthy(s)).map((s) => s?.clusterSize);
          return sizes.length === synced && sizes.every((s) => s === synced)
            ? done(true)
            : notYet(`sizes ${sizes.join(', ')}`);
        },
        { timeoutMs: 30_000, signal: ctx.signal },
      ),
    );
  }
  return remaining.length > 0 ? discoverGalera(ctx, remaining) : { type: 'galera', nodes: [] };
}
