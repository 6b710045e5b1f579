// Import of a Galera cluster: each node's wsrep status with the admin credentials, read-only. classifyGalera is
// pure: every reachable member of a Primary component must belong to the same cluster, and the members it
// announces (wsrep_incoming_addresses) must be nodes of the spec.
import { NinesError, isNinesError } from '../../core/errors.ts';
import type { ClusterSpec, NodeSpec } from '../../core/spec.ts';
import type { EngineContext, Topology, TopologyNode } from '../engine.ts';
import { adminEndpoint } from '../mysql/marker.ts';
import { readGaleraState, type GaleraState } from '../mysql/observe.ts';
import { label } from '../mysql/prepare.ts';
import { withSql } from '../mysql/sql.ts';

export interface GaleraObservation {
  readonly node: NodeSpec;
  readonly state?: GaleraState;
  readonly readOnly?: boolean;
  readonly error?: string;
}

function stateText(s: GaleraState): string {
  return s.clusterStatus === 'Primary' ? s.localState : `${s.clusterStatus} (${s.localState})`;
}

export function classifyGalera(spec: ClusterSpec, observations: readonly GaleraObservation[]): Topology {
  const known = new Set(spec.nodes.map(label));
  const problems: string[] = [];
  const primaries = observations.filter((o) => o.state?.clusterStatus === 'Primary');
  const uuids = new Set(primaries.map((o) => o.state?.clusterStateUuid));
  if (uuids.size > 1) {
    problems.push(
      `the nodes belong to ${uuids.size} different Primary components: ${primaries
        .map((o) => `${label(o.node)} in ${o.state?.clusterStateUuid}`)
        .join(', ')}`,
    );
  }
  const strangers = new Set(
    primaries.flatMap((o) => o.state?.incomingAddresses.filter((a) => !known.has(a)) ?? []),
  );
  if (strangers.size > 0) problems.push(`members not in the spec: ${[...strangers].join(', ')}`);
  if (problems.length > 0) {
    throw new NinesError('NINES_E_TOPOLOGY_INCONSISTENT', problems.join('; '), { context: { problems } });
  }
  const nodes = observations.map((o): TopologyNode => {
    const base = { host: o.node.host, port: o.node.port, role: 'member' as const };
    if (!o.state) return { ...base, role: 'unknown', state: `unreachable: ${o.error ?? 'no answer'}` };
    return {
      ...base,
      ...(o.readOnly === undefined ? {} : { readOnly: o.readOnly }),
      state: stateText(o.state),
    };
  });
  return { type: 'galera', nodes };
}

export async function observeGaleraNode(spec: ClusterSpec, node: NodeSpec): Promise<GaleraObservation> {
  try {
    return await withSql(
      adminEndpoint(spec, node),
      async (c) => {
        const state = await readGaleraState(c, 10_000);
        // A node outside a Primary component may refuse even this (1047): read_only stays unknown then.
        const rows = await c
          .query('SELECT @@global.read_only AS ro', [], { timeoutMs: 10_000 })
          .catch((err: unknown) => {
            if (isNinesError(err, 'NINES_E_DB_QUERY')) return undefined;
            throw err;
          });
        return { node, state, ...(rows?.[0] ? { readOnly: Number(rows[0].ro) === 1 } : {}) };
      },
      { connectTimeoutMs: 5000 },
    );
  } catch (err) {
    if (isNinesError(err, 'NINES_E_DB_UNREACHABLE')) return { node, error: err.message };
    throw err;
  }
}

export async function discoverGalera(
  ctx: EngineContext,
  nodes: readonly NodeSpec[] = ctx.spec.nodes,
): Promise<Topology> {
  const observations = await Promise.all(nodes.map((n) => observeGaleraNode(ctx.spec, n)));
  if (observations.every((o) => !o.state)) {
    throw new NinesError(
      'NINES_E_DB_UNREACHABLE',
      `no node of cluster ${ctx.spec.name} answers: ${observations.map((o) => o.error).join('; ')}`,
    );
  }
  return classifyGalera(ctx.spec, observations);
}
