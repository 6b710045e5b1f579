// Deploy of a MariaDB primary/replica cluster: prepare hosts, start every server read-only, create the users
// on the primary, start GTID replication on the replicas, make the primary writable once it is confirmed to be
// the only primary, then prove replication with a marker row. Every step is idempotent.
import { NinesError } from '../../core/errors.ts';
import type { ClusterSpec, NodeSpec } from '../../core/spec.ts';
import type { EngineContext, Topology } from '../engine.ts';
import { sameNode } from '../mysql/config.ts';
import { startServer } from '../mysql/host.ts';
import { adminEndpoint, newMarkerToken, waitForMarker, writeMarker } from '../mysql/marker.ts';
import { executorOf, forEachNode, label, labels, prepareNodes } from '../mysql/prepare.ts';
import { rootSql } from '../mysql/root-sql.ts';
import { withSql } from '../mysql/sql.ts';
import { specSecrets, sqlScript, userStatements } from '../mysql/users.ts';
import { renderReplicationConfig } from './config.ts';
import { discoverReplication } from './discover.ts';
import {
  binlogPosition,
  localReadOnly,
  waitGtidApplied,
  replicaStatus,
  replicateFrom,
  setReadOnly,
  waitReplicaRunning,
} from './replication.ts';

/** mariadb-backup: any node may be the source of a copy for a new replica (clone.ts, streamed over SSH). */
export const REPLICATION_PACKAGES = ['mariadb-server', 'mariadb-client', 'mariadb-backup'] as const;

export const TIMEOUTS = {
  serverReadyMs: 90_000,
  replicaRunningMs: 60_000,
  markerMs: 30_000,
} as const;

/** The primary of the initial topology: the node with the primary role hint, else the first node. */
export function initialPrimary(spec: ClusterSpec): NodeSpec {
  const first = spec.nodes[0];
  if (!first) throw new NinesError('NINES_E_SPEC_INVALID', 'the cluster has no nodes');
  return spec.nodes.find((n) => n.role === 'primary') ?? first;
}

/**
 * Root writes bypass read_only: writing on a node that replicates from another would create errant GTIDs. A
 * re-run of the deploy after a failover (the role hint no longer names the primary) stops here.
 */
export async function assertNotReplica(ctx: EngineContext, node: NodeSpec): Promise<void> {
  const s = await replicaStatus(executorOf(ctx, node), ctx.signal);
  if (s) {
    throw new NinesError(
      'NINES_E_TOPOLOGY_INCONSISTENT',
      `${label(node)} replicates from ${s.sourceHost}:${s.sourcePort}: it is not the primary any more; nothing was written on it`,
      {
        context: { node: label(node), source: `${s.sourceHost}:${s.sourcePort}` },
        hint: 'Import the cluster to see its current topology, and mark the current primary with role: primary in the spec before deploying again.',
      },
    );
  }
}

export async function createUsers(ctx: EngineContext, node: NodeSpec): Promise<void> {
  await assertNotReplica(ctx, node);
  const statements = userStatements(ctx.spec, ctx.controllerAddress, { replication: true, sst: false });
  await rootSql(executorOf(ctx, node), sqlScript(statements), {
    signal: ctx.signal,
    secrets: specSecrets(ctx.spec),
  });
}

export async function startReplicas(
  ctx: EngineContext,
  primary: NodeSpec,
  replicas: readonly NodeSpec[],
): Promise<void> {
  await forEachNode(replicas, async (n) => {
    const ex = executorOf(ctx, n);
    if (await replicateFrom(ex, ctx.spec, primary, ctx.signal))
      ctx.log(`${label(n)}: replicating from ${label(primary)}`);
    await waitReplicaRunning(ex, primary, { timeoutMs: TIMEOUTS.replicaRunningMs, signal: ctx.signal });
  });
}

/**
 * Makes `primary` writable, but only after every other node is confirmed read-only and replicating from it:
 * never two writable nodes, even for a moment.
 */
export async function openPrimary(
  ctx: EngineContext,
  primary: NodeSpec,
  others: readonly NodeSpec[],
): Promise<void> {
  const problems: string[] = [];
  await forEachNode(others, async (n) => {
    const ex = executorOf(ctx, n);
    if (!(await localReadOnly(ex, ctx.signal))) problems.push(`${label(n)} is writable`);
    const s = await replicaStatus(ex, ctx.signal);
    if (s?.sourceHost !== primary.host || s.sourcePort !== primary.port) {
      problems.push(`${label(n)} does not replicate from ${label(primary)}`);
    }
  });
  if (problems.length > 0) {
    throw new NinesError(
      'NINES_E_TOPOLOGY_INCONSISTENT',
      `${label(primary)} not made writable: ${problems.join('; ')}`,
      { context: { problems } },
    );
  }
  await setReadOnly(executorOf(ctx, primary), false, ctx.signal);
}

/** Writes a marker on the primary and waits for it on every replica (admin user over TCP). */
export async function verifyReplication(
  ctx: EngineContext,
  primary: NodeSpec,
  replicas: readonly NodeSpec[],
): Promise<void> {
  // Catch up first: the admin account the check connects with reaches the replicas through replication.
  const position = await binlogPosition(executorOf(ctx, primary), ctx.signal);
  await forEachNode(replicas, (n) =>
    waitGtidApplied(executorOf(ctx, n), position, { timeoutMs: TIMEOUTS.markerMs, signal: ctx.signal }),
  );
  const token = newMarkerToken();
  await withSql(adminEndpoint(ctx.spec, primary), (c) => writeMarker(c, 'deploy', token));
  const waits = await forEachNode(replicas, (n) =>
    waitForMarker(adminEndpoint(ctx.spec, n), 'deploy', token, {
      timeoutMs: TIMEOUTS.markerMs,
      signal: ctx.signal,
    }),
  );
  if (replicas.length > 0) ctx.log(`marker row seen on every replica within ${Math.max(...waits)} ms`);
}

export async function deployReplication(ctx: EngineContext): Promise<Topology> {
  const { spec } = ctx;
  const primary = initialPrimary(spec);
  const replicas = spec.nodes.filter((n) => !sameNode(n, primary));
  ctx.log(`primary ${label(primary)}, replicas ${replicas.length > 0 ? labels(replicas) : '(none)'}`);
  await prepareNodes(ctx, spec.nodes, {
    packages: () => REPLICATION_PACKAGES,
    render: renderReplicationConfig,
  });
  await ctx.step(`start servers (${labels(spec.nodes)})`, () =>
    forEachNode(spec.nodes, (n) =>
      startServer(executorOf(ctx, n), { readyTimeoutMs: TIMEOUTS.serverReadyMs }),
    ),
  );
  await ctx.step(`create users on the primary ${label(primary)}`, () => createUsers(ctx, primary));
  if (replicas.length > 0) {
    await ctx.step(`start replication from ${label(primary)}`, () => startReplicas(ctx, primary, replicas));
  }
  await ctx.step(`make the primary ${label(primary)} writable`, () => openPrimary(ctx, primary, replicas));
  await ctx.step('verify replication', () => verifyReplication(ctx, primary, replicas));
  return discoverReplication(ctx);
}
