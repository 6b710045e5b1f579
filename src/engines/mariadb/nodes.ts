// Adding a replica to / removing a node from a running replication cluster.
//
// Adding: while the primary still has every binlog since the cluster began, the new replica starts empty and
// replays them (MASTER_USE_GTID=slave_pos from an empty position); otherwise it is first seeded with a
// mariabackup copy of the primary streamed through the controller's SSH connections (clone.ts) and replicates
// from the copy's position.
import { NinesError, isNinesError } from '../../core/errors.ts';
import type { NodeSpec } from '../../core/spec.ts';
import type { EngineContext, RemoveNodeOptions, Topology } from '../engine.ts';
import { sameNode } from '../mysql/config.ts';
import { serverRunning, startServer, stopServer } from '../mysql/host.ts';
import { executorOf, label, prepareNodes, requireSpecNode } from '../mysql/prepare.ts';
import { renderReplicationConfig } from './config.ts';
import { REPLICATION_PACKAGES, TIMEOUTS, createUsers, startReplicas, verifyReplication } from './deploy.ts';
import { discoverReplication, primaryOf } from './discover.ts';
import { stopReplication } from './replication.ts';
import { applyClonePosition, binlogsComplete, cloneFromPrimary } from './clone.ts';

function others(nodes: readonly NodeSpec[], node: NodeSpec): NodeSpec[] {
  return nodes.filter((n) => !sameNode(n, node));
}

async function currentPrimary(ctx: EngineContext, among: readonly NodeSpec[]): Promise<NodeSpec> {
  const topology = await discoverReplication(ctx, among);
  const p = primaryOf(topology);
  const node = p && among.find((n) => n.host === p.host && n.port === p.port);
  if (!node || p?.readOnly !== false) {
    throw new NinesError(
      'NINES_E_TOPOLOGY_INCONSISTENT',
      `cluster ${ctx.spec.name} has no writable primary to replicate from`,
      {
        context: { nodes: topology.nodes },
      },
    );
  }
  return node;
}

/** Clones the primary's data onto the (not yet running) node unless an empty replica can replay every binlog. */
async function seed(ctx: EngineContext, primary: NodeSpec, node: NodeSpec): Promise<void> {
  const ex = executorOf(ctx, node);
  if (await serverRunning(ex)) return;
  const source = executorOf(ctx, primary);
  if (await binlogsComplete(source, ctx.signal)) {
    ctx.log(
      `${label(primary)} has every binlog since the beginning: ${label(node)} replays them, no copy needed`,
    );
    return;
  }
  const started = Date.now();
  const { gtid, bytes } = await cloneFromPrimary(source, ex, ctx.signal);
  const elapsed = Date.now() - started;
  const mb = bytes / 1e6;
  ctx.log(
    `${label(node)}: copied the data of ${label(primary)} (mariabackup through the controller's SSH connections) at ${gtid}: ${mb.toFixed(1)} MB in ${elapsed} ms (${(mb / Math.max(elapsed / 1000, 0.001)).toFixed(1)} MB/s)`,
  );
}

export async function addReplicationNode(ctx: EngineContext, wanted: NodeSpec): Promise<Topology> {
  const node = requireSpecNode(ctx.spec, wanted);
  const primary = await ctx.step('find the primary', () => currentPrimary(ctx, others(ctx.spec.nodes, node)));
  ctx.log(`adding ${label(node)} as a replica of ${label(primary)}`);
  await prepareNodes(ctx, [node], { packages: () => REPLICATION_PACKAGES, render: renderReplicationConfig });
  await ctx.step(`copy the data of ${label(primary)} if its binlogs are incomplete`, () =>
    seed(ctx, primary, node),
  );
  await ctx.step(`start server ${label(node)}`, async () => {
    const ex = executorOf(ctx, node);
    await startServer(ex, { readyTimeoutMs: TIMEOUTS.serverReadyMs });
    const gtid = await applyClonePosition(ex, ctx.signal);
    if (gtid) ctx.log(`${label(node)}: replication starts at the copy's position ${gtid}`);
  });
  // Grants are per address: the new node's replication and admin accounts are created on the primary (and
  // reach every replica through replication).
  await ctx.step(`update users on the primary ${label(primary)}`, () => createUsers(ctx, primary));
  await ctx.step(`start replication on ${label(node)}`, () => startReplicas(ctx, primary, [node]));
  await ctx.step(`verify replication to ${label(node)}`, () => verifyReplication(ctx, primary, [node]));
  return discoverReplication(ctx);
}

export async function removeReplicationNode(
  ctx: EngineContext,
  wanted: NodeSpec,
  options: RemoveNodeOptions,
): Promise<Topology> {
  const node = requireSpecNode(ctx.spec, wanted);
  const remaining = others(ctx.spec.nodes, node);
  const topology = await ctx.step('read the topology', () => discoverReplication(ctx));
  const me = topology.nodes.find((n) => n.host === node.host && n.port === node.port);
  const followers = topology.nodes.filter((n) => n.source === label(node)).map((n) => `${n.host}:${n.port}`);
  if (!options.force && me?.role === 'primary') {
    throw new NinesError(
      'NINES_E_REMOVE_REFUSED',
      `${label(node)} is the primary of cluster ${ctx.spec.name}`,
      {
        context: { node: label(node) },
      },
    );
  }
  if (!options.force && followers.length > 0) {
    throw new NinesError('NINES_E_REMOVE_REFUSED', `${followers.join(', ')} replicate from ${label(node)}`, {
      context: { node: label(node), followers },
    });
  }
  await ctx.step(`stop ${label(node)}`, async () => {
    const ex = executorOf(ctx, node);
    if (!(await serverRunning(ex))) return;
    try {
      await stopReplication(ex, ctx.signal);
    } catch (err) {
      if (!isNinesError(err, 'NINES_E_DB_QUERY')) throw err;
      ctx.log(`${label(node)}: could not reset replication (${err.message}); stopping it anyway`);
    }
    await stopServer(ex);
  });
  return remaining.length > 0
    ? discoverReplication(ctx, remaining)
    : { type: 'mariadb-replication', nodes: [] };
}
