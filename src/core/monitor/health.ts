// Health classification: a frozen ClusterSnapshot in, node and cluster states with a reason sentence out, and the
// state changes between two classifications as event descriptors. Pure: no I/O, no clock (time comes from the
// snapshot). Uptime Kuma's lesson: one failed probe makes a node PENDING, only N in a row make it DOWN, so one
// lost packet never pages anyone. Patroni's lesson: every verdict carries the sentence that explains it.
import type { ClusterType } from '../spec.ts';
import {
  inMaintenance,
  nodeKey,
  type ClusterSnapshot,
  type MonitorThresholds,
  type NodeObservation,
  type NodeSnapshot,
  type ObservedNodeRole,
  type ReplicationObservation,
} from './observation.ts';

export type NodeState = 'up' | 'pending' | 'down' | 'unknown';
/** 'unknown' only until every node was probed once (controller start, node just added). */
export type ClusterState = 'healthy' | 'degraded' | 'failed' | 'maintenance' | 'unknown';

export interface NodeHealth {
  /** host:port, the stable identity of the node. */
  readonly node: string;
  /** How sentences name the node: its host, or host:port when two nodes share a host. */
  readonly label: string;
  readonly state: NodeState;
  /** The current role when up, else the last known role ('unknown' if never reached). */
  readonly role: ObservedNodeRole;
  /** A node maintenance window is open. */
  readonly maintenance: boolean;
  /** The sentence without the state, e.g. "2 failed probes in a row (down after 2): connection refused". */
  readonly detail: string;
  /** `${state}: ${detail}` */
  readonly reason: string;
}

export interface ClusterHealth {
  readonly cluster: string;
  readonly type: ClusterType;
  readonly time: number;
  readonly state: ClusterState;
  /** The sentence without the state, e.g. "replica h2 down; replica h3 lagging 45 s (max 30 s)". */
  readonly detail: string;
  /** `${state}: ${detail}`, e.g. "degraded: replica h2 down". */
  readonly reason: string;
  /** What makes the cluster degraded or failed, one phrase each (empty when healthy). */
  readonly problems: readonly string[];
  readonly nodes: readonly NodeHealth[];
}

function describeError(obs: NodeObservation | undefined): string {
  if (!obs?.error) return 'no answer';
  return `${obs.error.code} ${obs.error.message}`;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** Classifies one node: unknown (never probed), up, pending (fewer than N failures in a row), down. */
export function classifyNode(
  node: NodeSnapshot,
  thresholds: MonitorThresholds,
  now: number,
  label = node.host,
): NodeHealth {
  const base = { node: nodeKey(node), label, maintenance: inMaintenance(node.maintenance, now) };
  const obs = node.observation;
  const lastRole = node.lastGood?.role ?? 'unknown';
  let state: NodeState;
  let detail: string;
  let role: ObservedNodeRole = lastRole;
  if (obs === undefined) {
    state = 'unknown';
    detail = 'never probed';
  } else if (obs.reachable) {
    state = 'up';
    role = obs.role;
    detail = `reachable as ${obs.role}${obs.readOnly === true && obs.role === 'primary' ? ' (read-only)' : ''}`;
  } else {
    const failures = Math.max(1, node.consecutiveFailures);
    const n = thresholds.downAfterFailures;
    state = failures >= n ? 'down' : 'pending';
    detail = `${plural(failures, 'failed probe')} in a row (down after ${n}): ${describeError(obs)}`;
  }
  return { ...base, state, role, detail, reason: `${state}: ${detail}` };
}

/** Labels nodes by host, or host:port for hosts that carry more than one node. */
export function nodeLabels(nodes: readonly NodeSnapshot[]): Map<string, string> {
  const perHost = new Map<string, number>();
  for (const n of nodes) perHost.set(n.host, (perHost.get(n.host) ?? 0) + 1);
  return new Map(nodes.map((n) => [nodeKey(n), (perHost.get(n.host) ?? 0) > 1 ? nodeKey(n) : n.host]));
}

/** Why a replica's replication is not working, or undefined when it is. */
export function replicationBroken(r: ReplicationObservation | undefined): string | undefined {
  if (r === undefined) return 'no replication configured';
  switch (r.kind) {
    case 'mariadb': {
      const stopped = [r.ioRunning ? '' : 'IO', r.sqlRunning ? '' : 'SQL'].filter(Boolean);
      if (stopped.length === 0) return undefined;
      const what = `${stopped.join(' and ')} thread${stopped.length > 1 ? 's' : ''} stopped`;
      return r.lastError ? `${what} (${r.lastError})` : what;
    }
    case 'postgres':
      return r.receiverStatus === 'streaming'
        ? undefined
        : `WAL receiver ${r.receiverStatus ?? 'not running'}`;
  }
}

/** A node as the cluster classification sees it: pending nodes get the benefit of the doubt (last good state). */
interface NodeView {
  readonly health: NodeHealth;
  /** Current observation when up, last good one when pending, else undefined. */
  readonly obs: NodeObservation | undefined;
  readonly available: boolean;
}

function viewOf(node: NodeSnapshot, health: NodeHealth): NodeView {
  if (health.state === 'up') return { health, obs: node.observation, available: true };
  if (health.state === 'pending') return { health, obs: node.lastGood, available: true };
  return { health, obs: undefined, available: false };
}

interface Verdict {
  readonly state: 'healthy' | 'degraded' | 'failed';
  readonly detail: string;
  readonly problems: readonly string[];
}

function failed(detail: string): Verdict {
  return { state: 'failed', detail, problems: [detail] };
}

function degradedOrHealthy(problems: string[], healthy: string, views: readonly NodeView[]): Verdict {
  if (problems.length > 0) return { state: 'degraded', detail: problems.join('; '), problems };
  const notes = views
    .filter((v) => v.health.state === 'pending' || v.health.maintenance)
    .map((v) => `${v.health.label} ${v.health.maintenance ? 'in maintenance' : 'pending'}`);
  return { state: 'healthy', detail: [healthy, ...notes].join('; '), problems: [] };
}

function roleWord(role: ObservedNodeRole): string {
  return role === 'unknown' || role === 'member' ? 'node' : role;
}

function isWritablePrimary(v: NodeView): boolean {
  return v.available && v.obs?.role === 'primary' && v.obs.readOnly !== true;
}

/** Cluster types where exactly one node may accept writes (Galera is multi-writer). */
export const SINGLE_WRITER_TYPES: readonly ClusterType[] = ['mariadb-replication', 'postgres-streaming'];

/** A node seen accepting writes by its latest probe (never a last good reading: a writer is a fact, not a guess). */
export interface ObservedWriter {
  /** host:port */
  readonly node: string;
  readonly label: string;
  readonly role: ObservedNodeRole;
}

/**
 * The nodes whose latest probe answered and reported writes allowed: a primary that is not read-only, or a replica
 * whose read-only flag is off (MariaDB read_only=0 on a node that replicates: writes land there and diverge).
 */
export function observedWriters(snapshot: ClusterSnapshot, nodes: readonly NodeHealth[]): ObservedWriter[] {
  return snapshot.nodes.flatMap((n, i) => {
    const h = nodes[i];
    const obs = n.observation;
    if (h?.state !== 'up' || !obs?.reachable || obs.readOnly !== false) return [];
    if (obs.role !== 'primary' && obs.role !== 'replica') return [];
    return [{ node: h.node, label: h.label, role: obs.role }];
  });
}

/** "h1 (primary), h2 (replica)" */
export function writersPhrase(writers: readonly ObservedWriter[]): string {
  return writers.map((w) => `${w.label} (${w.role})`).join(', ');
}

function isWritableReplica(v: NodeView): boolean {
  return v.health.state === 'up' && v.obs?.role === 'replica' && v.obs.readOnly === false;
}

function noPrimaryDetail(views: readonly NodeView[]): string {
  const causes = views
    .filter((v) => v.health.role === 'primary')
    .map((v) => `primary ${v.health.label} ${v.available ? 'is read-only' : v.health.state}`);
  return causes.length > 0 ? `no writable primary (${causes.join(', ')})` : 'no writable primary';
}

function singlePrimaryProblem(v: NodeView, snapshot: ClusterSnapshot): string | undefined {
  const { label, role } = v.health;
  if (!v.available || !v.obs) return `${roleWord(role)} ${label} ${v.health.state}`;
  if (v.obs.role !== 'replica') return `node ${label} has role ${v.obs.role}, expected replica`;
  const broken = replicationBroken(v.obs.replication);
  if (broken) return `replica ${label} replication broken: ${broken}`;
  const lag = v.obs.replication?.lagSeconds;
  const max = snapshot.thresholds.lagSeconds.warning;
  return lag != null && lag > max ? `replica ${label} lagging ${lag} s (max ${max} s)` : undefined;
}

function expectedCountProblem(snapshot: ClusterSnapshot): string[] {
  const n = snapshot.nodes.length;
  return n < snapshot.expectedNodes ? [`${n} of ${snapshot.expectedNodes} expected nodes monitored`] : [];
}

/** MariaDB replication and PostgreSQL streaming: exactly one writable primary, replicas replicating in time. */
function classifySinglePrimary(snapshot: ClusterSnapshot, views: readonly NodeView[]): Verdict {
  if (!views.some((v) => v.available)) return failed(`all ${plural(views.length, 'node')} down`);
  const writable = views.filter(isWritablePrimary);
  const writableReplicas = views
    .filter(isWritableReplica)
    .map((v) => `replica ${v.health.label} is writable`);
  if (writable.length === 0) return failed([noPrimaryDetail(views), ...writableReplicas].join('; '));
  if (writable.length > 1 && writableReplicas.length === 0) {
    return failed(
      `${writable.length} writable primaries (${writable.map((v) => v.health.label).join(', ')})`,
    );
  }
  if (writableReplicas.length > 0) {
    const all = views.filter((v) => isWritablePrimary(v) || isWritableReplica(v));
    const names = all.map((v) => `${v.health.label} (${v.obs?.role ?? 'unknown'})`).join(', ');
    return failed(`${all.length} writable nodes: ${names}; only the primary may accept writes`);
  }
  const primary = writable[0] as NodeView;
  const others = views.filter((v) => v !== primary && !v.health.maintenance);
  const problems = [
    ...others.map((v) => singlePrimaryProblem(v, snapshot)).filter((p): p is string => p !== undefined),
    ...expectedCountProblem(snapshot),
  ];
  const replicas = views.length - 1;
  return degradedOrHealthy(
    problems,
    `primary ${primary.health.label}, ${replicas} ${replicas === 1 ? 'replica' : 'replicas'}`,
    views,
  );
}

function galeraProblem(v: NodeView): string | undefined {
  const { label } = v.health;
  if (!v.available || !v.obs) return `node ${label} ${v.health.state}`;
  const g = v.obs.galera;
  if (!g) return `node ${label} reports no galera status`;
  if (g.clusterStatus !== 'Primary') return `node ${label} galera ${g.clusterStatus}`;
  if (!g.ready) return `node ${label} galera not ready (${g.localState})`;
  return g.localState === 'Synced' ? undefined : `node ${label} galera ${g.localState}`;
}

/** Galera: a Primary component with a ready node; degraded when smaller than expected or a node is not Synced. */
function classifyGalera(snapshot: ClusterSnapshot, views: readonly NodeView[]): Verdict {
  const available = views.filter((v) => v.available);
  if (available.length === 0) return failed(`all ${plural(views.length, 'node')} down`);
  const members = available.filter((v) => v.obs?.galera?.clusterStatus === 'Primary');
  if (members.length === 0) {
    return failed(
      available.length === views.length
        ? 'galera non-Primary on all nodes'
        : `galera non-Primary on all reachable nodes (${available.length} of ${views.length})`,
    );
  }
  if (!members.some((v) => v.obs?.galera?.ready === true)) {
    return failed('no node of the galera Primary component is ready');
  }
  const size = Math.max(...members.map((v) => v.obs?.galera?.clusterSize ?? 0));
  const problems = views
    .filter((v) => !v.health.maintenance)
    .map(galeraProblem)
    .filter((p): p is string => p !== undefined);
  if (size < snapshot.expectedNodes)
    problems.push(`galera size ${size} below expected ${snapshot.expectedNodes}`);
  return degradedOrHealthy(problems, `galera Primary component of ${size}, all Synced`, views);
}

const CLASSIFIERS: Readonly<Record<ClusterType, (s: ClusterSnapshot, v: readonly NodeView[]) => Verdict>> = {
  'mariadb-replication': classifySinglePrimary,
  'postgres-streaming': classifySinglePrimary,
  galera: classifyGalera,
};

/** Classifies every node, then the cluster. The reason always starts with the state. */
export function classifyCluster(snapshot: ClusterSnapshot): ClusterHealth {
  const now = snapshot.time;
  const labels = nodeLabels(snapshot.nodes);
  const nodes = snapshot.nodes.map((n) => classifyNode(n, snapshot.thresholds, now, labels.get(nodeKey(n))));
  const base = { cluster: snapshot.cluster, type: snapshot.type, time: now, nodes };
  const result = (state: ClusterState, detail: string, problems: readonly string[] = []): ClusterHealth => ({
    ...base,
    state,
    detail,
    reason: `${state}: ${detail}`,
    problems,
  });
  if (inMaintenance(snapshot.maintenance, now)) {
    const until = new Date(snapshot.maintenance?.until ?? now).toISOString();
    const why = snapshot.maintenance?.reason ? ` (${snapshot.maintenance.reason})` : '';
    return result('maintenance', `cluster in maintenance until ${until}${why}`);
  }
  const unprobed = nodes.filter((n) => n.state === 'unknown');
  if (unprobed.length > 0 || nodes.length === 0) {
    const names = unprobed.map((n) => n.label).join(', ');
    return result(
      'unknown',
      `${unprobed.length} of ${plural(nodes.length, 'node')} not probed yet (${names})`,
    );
  }
  const views = snapshot.nodes.map((n, i) => viewOf(n, nodes[i] as NodeHealth));
  const verdict = CLASSIFIERS[snapshot.type](snapshot, views);
  return result(verdict.state, verdict.detail, verdict.problems);
}

export type HealthEventSeverity = 'info' | 'warning' | 'error' | 'critical';

/** A state change worth an operator event; shaped like the controller's EventInput. */
export interface HealthEvent {
  readonly type: 'node.state' | 'node.role' | 'cluster.state';
  readonly cluster: string;
  readonly node?: string;
  readonly severity: HealthEventSeverity;
  readonly time: number;
  readonly message: string;
  readonly data: {
    readonly from: string;
    readonly to: string;
    readonly reason: string;
    readonly node?: string;
  };
}

const NODE_SEVERITY: Readonly<Record<NodeState, HealthEventSeverity>> = {
  up: 'info',
  pending: 'warning',
  down: 'error',
  unknown: 'info',
};
const CLUSTER_SEVERITY: Readonly<Record<ClusterState, HealthEventSeverity>> = {
  healthy: 'info',
  degraded: 'warning',
  failed: 'critical',
  maintenance: 'info',
  unknown: 'info',
};

function nodeEvents(prev: NodeHealth | undefined, next: NodeHealth, c: ClusterHealth): HealthEvent[] {
  const events: HealthEvent[] = [];
  const from = prev?.state ?? 'unknown';
  const base = { cluster: c.cluster, node: next.node, time: c.time };
  if (from !== next.state) {
    events.push({
      ...base,
      type: 'node.state',
      severity: NODE_SEVERITY[next.state],
      message: `node ${next.label} ${from} -> ${next.state}: ${next.detail}`,
      data: { from, to: next.state, reason: next.reason, node: next.node },
    });
  }
  const before = prev?.role ?? 'unknown';
  if (before !== 'unknown' && next.role !== 'unknown' && before !== next.role) {
    events.push({
      ...base,
      type: 'node.role',
      severity: 'warning',
      message: `node ${next.label} role ${before} -> ${next.role}`,
      data: { from: before, to: next.role, reason: next.reason, node: next.node },
    });
  }
  return events;
}

/**
 * The changes from one classification to the next: node state, node role and cluster state, in that order.
 * With no previous classification everything starts from 'unknown', so a restart reports the current state once.
 */
export function diffStates(prev: ClusterHealth | undefined, next: ClusterHealth): HealthEvent[] {
  const before = new Map((prev?.nodes ?? []).map((n) => [n.node, n]));
  const events = next.nodes.flatMap((n) => nodeEvents(before.get(n.node), n, next));
  const from = prev?.state ?? 'unknown';
  if (from !== next.state) {
    events.push({
      type: 'cluster.state',
      cluster: next.cluster,
      severity: CLUSTER_SEVERITY[next.state],
      time: next.time,
      message: `cluster ${next.cluster} ${from} -> ${next.state}: ${next.detail}`,
      data: { from, to: next.state, reason: next.reason },
    });
  }
  return events;
}
