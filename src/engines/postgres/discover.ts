// Import: read the topology of a running cluster as the admin user, changing nothing. Observation (I/O) is
// separate from the pure topology decision, which is table-tested.
import { NinesError, isNinesError } from '../../core/errors.ts';
import type { ClusterSpec, NodeSpec } from '../../core/spec.ts';
import { nodeAddress, type EngineContext, type Topology, type TopologyNode } from '../engine.ts';
import { adminTarget } from './common.ts';
import { withSql } from './sql.ts';

/** What one node told us (or why it could not). */
export interface PgObservation {
  readonly node: NodeSpec;
  readonly error?: NinesError;
  readonly inRecovery?: boolean;
  /** pg_stat_wal_receiver.sender_host/port and status when a WAL receiver runs. */
  readonly senderHost?: string | null;
  readonly senderPort?: number | null;
  readonly receiverStatus?: string | null;
  /** primary_conninfo of a standby whose receiver is not running (who it tries to follow). */
  readonly primaryConninfo?: string | null;
}

const OBSERVE_SQL = `SELECT pg_is_in_recovery() AS in_recovery,
  r.sender_host, r.sender_port, r.status AS receiver_status,
  current_setting('primary_conninfo') AS primary_conninfo
FROM (SELECT 1) AS one LEFT JOIN pg_stat_wal_receiver r ON true`;

interface ObserveRow {
  in_recovery: boolean;
  sender_host: string | null;
  sender_port: number | null;
  receiver_status: string | null;
  primary_conninfo: string | null;
}

export async function observeNode(
  spec: ClusterSpec,
  node: NodeSpec,
  signal?: AbortSignal,
): Promise<PgObservation> {
  try {
    const options = {
      signal,
      connectTimeoutMs: 3000,
      statementTimeoutMs: 5000,
      applicationName: 'nines-discover',
    };
    const rows = await withSql(adminTarget(spec, node), options, (c) => c.query<ObserveRow>(OBSERVE_SQL));
    const row = rows[0];
    if (!row) return { node, error: new NinesError('NINES_E_DB_QUERY', `${nodeAddress(node)}: no row`) };
    return {
      node,
      inRecovery: row.in_recovery,
      senderHost: row.sender_host,
      senderPort: row.sender_port,
      receiverStatus: row.receiver_status,
      primaryConninfo: row.primary_conninfo,
    };
  } catch (err) {
    if (isNinesError(err, 'NINES_E_DB_UNREACHABLE') || isNinesError(err, 'NINES_E_DB_AUTH')) {
      return { node, error: err };
    }
    throw err;
  }
}

/** host and port named by a libpq conninfo string ("host=a port=5432 ..."). */
export function conninfoTarget(conninfo: string): { host?: string; port?: number } {
  const host = /(?:^|\s)host\s*=\s*'?([^\s']+)/.exec(conninfo)?.[1];
  const port = /(?:^|\s)port\s*=\s*'?(\d+)/.exec(conninfo)?.[1];
  return { ...(host ? { host } : {}), ...(port ? { port: Number(port) } : {}) };
}

function sourceOf(o: PgObservation): { host: string; port: number } | undefined {
  if (o.senderHost) return { host: o.senderHost, port: o.senderPort ?? 5432 };
  const t = conninfoTarget(o.primaryConninfo ?? '');
  return t.host ? { host: t.host, port: t.port ?? 5432 } : undefined;
}

function inconsistent(detail: string, context: Record<string, unknown>): NinesError {
  return new NinesError('NINES_E_TOPOLOGY_INCONSISTENT', detail, { context });
}

function standbyNode(spec: ClusterSpec, o: PgObservation): TopologyNode {
  const source = sourceOf(o);
  const followed = source && spec.nodes.find((n) => n.host === source.host && n.port === source.port);
  if (source && !followed) {
    throw inconsistent(
      `${nodeAddress(o.node)} is a standby of ${source.host}:${source.port}, which is not a node of the spec`,
      { node: nodeAddress(o.node), source: `${source.host}:${source.port}` },
    );
  }
  return {
    host: o.node.host,
    port: o.node.port,
    role: 'replica',
    readOnly: true,
    state: o.receiverStatus ?? 'disconnected',
    ...(followed ? { source: nodeAddress(followed) } : {}),
  };
}

/**
 * Pure: the topology from the observations. Throws NINES_E_DB_AUTH when a node refused the admin password,
 * NINES_E_DB_UNREACHABLE when no node answered, NINES_E_TOPOLOGY_INCONSISTENT for two primaries or a standby
 * following a host outside the spec. Unreachable nodes are listed with role unknown.
 */
export function topologyFrom(spec: ClusterSpec, observations: readonly PgObservation[]): Topology {
  const auth = observations.find((o) => isNinesError(o.error, 'NINES_E_DB_AUTH'));
  if (auth?.error) throw auth.error;
  const answered = observations.filter((o) => !o.error);
  if (answered.length === 0 && observations[0]?.error) throw observations[0].error;
  const primaries = answered.filter((o) => o.inRecovery === false);
  if (primaries.length > 1) {
    const names = primaries.map((o) => nodeAddress(o.node));
    throw inconsistent(`${names.length} primaries accept writes: ${names.join(', ')}`, { primaries: names });
  }
  const nodes = observations.map((o): TopologyNode => {
    if (o.error) return { host: o.node.host, port: o.node.port, role: 'unknown', state: 'unreachable' };
    if (o.inRecovery === false) {
      return { host: o.node.host, port: o.node.port, role: 'primary', readOnly: false, state: 'running' };
    }
    return standbyNode(spec, o);
  });
  return { type: spec.type, nodes };
}

export async function discover(ctx: EngineContext): Promise<Topology> {
  const observations = await Promise.all(ctx.spec.nodes.map((n) => observeNode(ctx.spec, n, ctx.signal)));
  const topology = topologyFrom(ctx.spec, observations);
  ctx.log(
    `topology: ${topology.nodes.map((n) => `${nodeAddress(n)}=${n.role}${n.source ? `<-${n.source}` : ''}`).join(' ')}`,
  );
  return topology;
}
