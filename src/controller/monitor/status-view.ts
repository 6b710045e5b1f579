// The status of a cluster as the API shows it: the latest classification (state + reason sentence), each node's
// state, role and figures from its latest observation, active alarms, suppressed conditions, maintenance and the
// HAProxy backend states. Built from what the monitor keeps in memory: no I/O to the nodes.
import type { ClusterHealth, NodeHealth } from '../../core/monitor/health.ts';
import { nodeKey, type NodeObservation, type NodeSnapshot } from '../../core/monitor/observation.ts';
import type { AlarmRecord } from '../alarms/alarm-repo.ts';
import type { MaintenanceRecord } from '../alarms/settings-repo.ts';
import type { ProxyStates } from './cluster-monitor.ts';
import type { ClusterState } from './tick-handler.ts';
import type { StageFailure } from '../../core/monitor/degraded.ts';

/** The monitor's own health of the cluster: degraded while a stage of its work fails (see monitor-degraded). */
export interface MonitorSelf {
  readonly degraded: boolean;
  readonly reason: string | null;
  /** Failures per stage since the controller started. */
  readonly errors: Readonly<Record<string, number>>;
  /** The failures of the latest tick. */
  readonly lastFailures: readonly StageFailure[];
}

export interface NodeStatusView {
  readonly node: string;
  readonly host: string;
  readonly port: number;
  readonly state: string;
  readonly role: string;
  readonly reason: string;
  readonly maintenance: boolean;
  /** When the latest probe finished (ISO), and when the node last answered. */
  readonly observedAt: string | null;
  readonly lastSeenAt: string | null;
  readonly consecutiveFailures: number;
  readonly error: { readonly code: string; readonly message: string } | null;
  readonly readOnly: boolean | null;
  readonly lagSeconds: number | null;
  readonly connections: number | null;
  readonly maxConnections: number | null;
  readonly qps: number | null;
  readonly tps: number | null;
  readonly longestQuerySeconds: number | null;
  readonly replication: Readonly<Record<string, unknown>> | null;
  readonly galera: Readonly<Record<string, unknown>> | null;
  readonly hostStats: Readonly<Record<string, unknown>> | null;
}

export interface ClusterStatusView {
  readonly cluster: string;
  readonly type: string;
  readonly monitored: boolean;
  readonly state: string;
  readonly reason: string;
  readonly problems: readonly string[];
  /** Time of the snapshot the view is built from (ISO). */
  readonly time: string | null;
  readonly nodes: readonly NodeStatusView[];
  readonly alarms: readonly AlarmRecord[];
  readonly suppressed: readonly { readonly key: string; readonly reason: string }[];
  readonly maintenance: readonly MaintenanceRecord[];
  readonly proxies: readonly ProxyStates[];
  readonly monitor: MonitorSelf;
}

const iso = (t: number | undefined): string | null => (t === undefined ? null : new Date(t).toISOString());
const num = (v: number | null | undefined): number | null => (typeof v === 'number' ? v : null);

type Figures = Pick<
  NodeStatusView,
  | 'readOnly'
  | 'lagSeconds'
  | 'connections'
  | 'maxConnections'
  | 'qps'
  | 'tps'
  | 'longestQuerySeconds'
  | 'replication'
  | 'galera'
  | 'hostStats'
>;

const NO_FIGURES: Figures = {
  readOnly: null,
  lagSeconds: null,
  connections: null,
  maxConnections: null,
  qps: null,
  tps: null,
  longestQuerySeconds: null,
  replication: null,
  galera: null,
  hostStats: null,
};

/** Figures of a reachable node's latest observation (all null when it did not answer). */
function figures(o: NodeObservation | undefined): Figures {
  if (!o?.reachable) return NO_FIGURES;
  return {
    readOnly: o.readOnly ?? null,
    lagSeconds: num(o.replication?.lagSeconds),
    connections: num(o.connections),
    maxConnections: num(o.maxConnections),
    qps: num(o.queriesPerSecond),
    tps: num(o.transactionsPerSecond),
    longestQuerySeconds: num(o.longestQuerySeconds),
    replication: o.replication ? { ...o.replication } : null,
    galera: o.galera ? { ...o.galera } : null,
    hostStats: o.host ? { ...o.host } : null,
  };
}

function healthFields(
  health: NodeHealth | undefined,
): Pick<NodeStatusView, 'state' | 'role' | 'reason' | 'maintenance'> {
  if (!health)
    return { state: 'unknown', role: 'unknown', reason: 'unknown: never probed', maintenance: false };
  return { state: health.state, role: health.role, reason: health.reason, maintenance: health.maintenance };
}

function nodeView(snap: NodeSnapshot, health: NodeHealth | undefined): NodeStatusView {
  const o = snap.observation;
  return {
    node: nodeKey(snap),
    host: snap.host,
    port: snap.port,
    ...healthFields(health),
    observedAt: iso(o?.time),
    lastSeenAt: iso(snap.lastGood?.time),
    consecutiveFailures: snap.consecutiveFailures,
    error: o?.error ?? null,
    ...figures(o),
  };
}

function notMonitoredReason(monitored: boolean): string {
  return monitored
    ? 'unknown: first probes running'
    : 'unknown: not monitored (cluster not deployed or healthy)';
}

export function clusterStatusView(input: {
  readonly cluster: string;
  readonly type: string;
  readonly state: ClusterState | undefined;
  readonly nodes: readonly { readonly host: string; readonly port: number }[];
  readonly alarms: readonly AlarmRecord[];
  readonly maintenance: readonly MaintenanceRecord[];
  readonly proxies: readonly ProxyStates[];
  readonly monitor?: MonitorSelf;
}): ClusterStatusView {
  const state = input.state;
  const health: ClusterHealth | undefined = state?.health;
  const snapshot = state?.snapshot;
  const healthByNode = new Map((health?.nodes ?? []).map((n) => [n.node, n]));
  const snaps: readonly NodeSnapshot[] =
    snapshot?.nodes ?? input.nodes.map((n) => ({ host: n.host, port: n.port, consecutiveFailures: 0 }));
  const suppressed = state?.evaluation?.suppressed ?? [];
  return {
    cluster: input.cluster,
    type: input.type,
    monitored: state !== undefined,
    state: health ? health.state : 'unknown',
    reason: health ? health.reason : notMonitoredReason(state !== undefined),
    problems: health ? health.problems : [],
    time: iso(snapshot?.time),
    nodes: snaps.map((s) => nodeView(s, healthByNode.get(nodeKey(s)))),
    alarms: input.alarms,
    suppressed: suppressed.map((s) => ({ key: s.key, reason: s.reason })),
    maintenance: input.maintenance,
    proxies: input.proxies,
    monitor: input.monitor ?? { degraded: false, reason: null, errors: {}, lastFailures: [] },
  };
}
