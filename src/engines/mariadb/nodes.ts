// Adding a replica to / removing a node from a running replication cluster.
//
// Adding clones nothing: the new replica starts empty and replays the primary's binlogs from the beginning
// (MASTER_USE_GTID=slave_pos with an empty position). That works while the primary still has every binlog
// since the cluster was created (fresh clusters, expire_logs_days not reached); otherwise the replica stops
// with error 1236 and the add fails with NINES_E_DEPLOY_FAILED saying so (a mariabackup clone is future work).
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

export async function addReplicationNode(ctx: EngineContext, wanted: NodeSpec): Promise<Topology> {
  const node = requireSpecNode(ctx.spec, wanted);
  const primary = await ctx.step('find the primary', () => currentPrimary(ctx, others(ctx.spec.nodes, node)));
  ctx.log(`adding ${label(node)} as a replica of ${label(primary)}`);
  await prepareNodes(ctx, [node], { packages: () => REPLICATION_PACKAGES, render: renderReplicationConfig });
  await ctx.step(`start server ${label(node)}`, () =>
    startServer(executorOf(ctx, node), { readyTimeoutMs: TIMEOUTS.serverReadyMs }),
  );
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
