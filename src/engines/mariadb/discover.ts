// Import: read the replication topology of running servers with the admin credentials, without changing
// anything. classifyReplication is pure (table-tested); discoverReplication does the reading.
import { NinesError, isNinesError } from '../../core/errors.ts';
import type { ClusterSpec, NodeSpec } from '../../core/spec.ts';
import type { EngineContext, Topology, TopologyNode } from '../engine.ts';
import { adminEndpoint } from '../mysql/marker.ts';
import { readReplicationState, type ReplicationState, type ReplicaStatus } from '../mysql/observe.ts';
import { withSql } from '../mysql/sql.ts';
import { label } from '../mysql/prepare.ts';

export interface NodeObservation {
  readonly node: NodeSpec;
  /** Undefined when the node could not be read (see error). */
  readonly state?: ReplicationState;
  readonly error?: string;
}

function replicaState(r: ReplicaStatus): string {
  if (r.ioRunning === 'Yes' && r.sqlRunning) return 'replicating';
  const parts = [`io ${r.ioRunning}`, `sql ${r.sqlRunning ? 'Yes' : 'No'}`];
  const err = r.lastSqlError || r.lastIoError;
  return `${parts.join(', ')}${err ? `: ${err}` : ''}`;
}

function inconsistent(detail: string, problems: readonly string[]): NinesError {
  return new NinesError('NINES_E_TOPOLOGY_INCONSISTENT', detail, { context: { problems } });
}

/**
 * The topology from observations. Primary: the node without replication that is writable (or, when every
 * node is still read-only, the only node without replication). Throws NINES_E_TOPOLOGY_INCONSISTENT for two
 * writable primaries or a replica whose source is not a node of the spec.
 */
export function classifyReplication(spec: ClusterSpec, observations: readonly NodeObservation[]): Topology {
  const known = new Set(spec.nodes.map(label));
  const problems: string[] = [];
  for (const o of observations) {
    const r = o.state?.replica;
    if (r && !known.has(`${r.sourceHost}:${r.sourcePort}`)) {
      problems.push(
        `${label(o.node)} replicates from ${r.sourceHost}:${r.sourcePort}, which is not a node of the spec`,
      );
    }
  }
  const standalone = observations.filter((o) => o.state && !o.state.replica);
  const writable = standalone.filter((o) => o.state?.readOnly === false);
  if (writable.length > 1) {
    problems.push(`${writable.length} writable primaries: ${writable.map((o) => label(o.node)).join(', ')}`);
  }
  if (problems.length > 0) throw inconsistent(problems.join('; '), problems);
  const primary = writable[0] ?? (standalone.length === 1 ? standalone[0] : undefined);
  const nodes = observations.map((o): TopologyNode => {
    const base = { host: o.node.host, port: o.node.port };
    if (!o.state) return { ...base, role: 'unknown', state: `unreachable: ${o.error ?? 'no answer'}` };
    const r = o.state.replica;
    if (r) {
      return {
        ...base,
        role: 'replica',
        source: `${r.sourceHost}:${r.sourcePort}`,
        readOnly: o.state.readOnly,
        state: replicaState(r),
      };
    }
    if (o === primary) {
      return {
        ...base,
        role: 'primary',
        readOnly: o.state.readOnly,
        state: o.state.readOnly ? 'read-only' : 'writable',
      };
    }
    return { ...base, role: 'unknown', readOnly: o.state.readOnly, state: 'standalone (no replication)' };
  });
  return { type: 'mariadb-replication', nodes };
}

/** Reads one node with the admin credentials. Wrong credentials throw NINES_E_DB_AUTH; unreachable is recorded. */
export async function observeNode(spec: ClusterSpec, node: NodeSpec): Promise<NodeObservation> {
  try {
    const state = await withSql(adminEndpoint(spec, node), (c) => readReplicationState(c, 10_000), {
      connectTimeoutMs: 5000,
    });
    return { node, state };
  } catch (err) {
    if (isNinesError(err, 'NINES_E_DB_UNREACHABLE')) return { node, error: err.message };
    throw err;
  }
}

export async function observeReplication(
  spec: ClusterSpec,
  nodes: readonly NodeSpec[] = spec.nodes,
): Promise<NodeObservation[]> {
  return Promise.all(nodes.map((n) => observeNode(spec, n)));
}

export async function discoverReplication(
  ctx: EngineContext,
  nodes: readonly NodeSpec[] = ctx.spec.nodes,
): Promise<Topology> {
  const observations = await observeReplication(ctx.spec, nodes);
  if (observations.every((o) => !o.state)) {
    throw new NinesError(
      'NINES_E_DB_UNREACHABLE',
      `no node of cluster ${ctx.spec.name} answers: ${observations.map((o) => o.error).join('; ')}`,
    );
  }
  return classifyReplication(ctx.spec, observations);
}

/** The primary of a topology, if there is exactly one. */
export function primaryOf(topology: Topology): TopologyNode | undefined {
  const primaries = topology.nodes.filter((n) => n.role === 'primary');
  return primaries.length === 1 ? primaries[0] : undefined;
}
