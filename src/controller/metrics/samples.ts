// Which numbers of a snapshot become time series (raw 1 s points). Pure: snapshot + health in, samples out.
import type { ClusterHealth, ClusterState } from '../../core/monitor/health.ts';
import { nodeKey, type ClusterSnapshot, type NodeObservation } from '../../core/monitor/observation.ts';
import type { MetricSample } from './metric-store.ts';

/** Node metrics and what they read from an observation. */
export const NODE_METRICS: Readonly<Record<string, (o: NodeObservation) => number | null | undefined>> = {
  up: (o) => (o.reachable ? 1 : 0),
  connections: (o) => o.connections,
  qps: (o) => o.queriesPerSecond,
  tps: (o) => o.transactionsPerSecond,
  lag_seconds: (o) => o.replication?.lagSeconds,
  lag_bytes: (o) => (o.replication?.kind === 'postgres' ? o.replication.lagBytes : undefined),
  longest_query_seconds: (o) => o.longestQuerySeconds,
  galera_cluster_size: (o) => o.galera?.clusterSize,
  galera_recv_queue: (o) => o.galera?.recvQueue,
  galera_flow_control_paused: (o) => o.galera?.flowControlPaused,
  cpu_pct: (o) => o.host?.cpuPct,
  mem_pct: (o) => o.host?.memPct,
  disk_pct: (o) => o.host?.diskPct,
  load1: (o) => o.host?.load1,
};

/** Cluster states as numbers for charts: 0 healthy, 1 degraded, 2 failed, 3 maintenance, 4 unknown. */
export const CLUSTER_STATE_CODE: Readonly<Record<ClusterState, number>> = {
  healthy: 0,
  degraded: 1,
  failed: 2,
  maintenance: 3,
  unknown: 4,
};

export const CLUSTER_METRICS = ['state', 'nodes_up', 'alarms_active'] as const;

export function snapshotSamples(
  snapshot: ClusterSnapshot,
  health: ClusterHealth,
  activeAlarms: number,
): MetricSample[] {
  const out: MetricSample[] = [];
  for (const n of snapshot.nodes) {
    const o = n.observation;
    if (!o) continue;
    const node = nodeKey(n);
    for (const [metric, read] of Object.entries(NODE_METRICS)) {
      const value = read(o);
      if (typeof value === 'number' && Number.isFinite(value)) out.push({ node, metric, value });
    }
  }
  out.push(
    { metric: 'state', value: CLUSTER_STATE_CODE[health.state] },
    { metric: 'nodes_up', value: health.nodes.filter((n) => n.state === 'up').length },
    { metric: 'alarms_active', value: activeAlarms },
  );
  return out;
}
