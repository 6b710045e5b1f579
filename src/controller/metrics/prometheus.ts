// Prometheus exposition of the monitor's latest state (prom-client registry, text format 0.0.4). Gauges are
// reset and refilled from the current snapshots on each scrape, so a deleted cluster or removed node disappears
// at the next scrape instead of lingering with its last value.
import { Counter, Gauge, Registry } from 'prom-client';
import type { ClusterHealth } from '../../core/monitor/health.ts';
import { nodeKey, type ClusterSnapshot } from '../../core/monitor/observation.ts';
import type { ProxyStates } from '../monitor/cluster-monitor.ts';

export interface ExportedCluster {
  readonly cluster: string;
  readonly type: string;
  readonly snapshot: ClusterSnapshot | undefined;
  readonly health: ClusterHealth | undefined;
  readonly proxies: readonly ProxyStates[];
  readonly alarms: { readonly warning: number; readonly critical: number };
  /** The monitor's own failures: totals by stage since the controller started, and whether it is degraded. */
  readonly monitor?: { readonly degraded: boolean; readonly errors: ReadonlyMap<string, number> };
}

const NODE = ['cluster', 'node'] as const;

export class PrometheusExporter {
  readonly registry = new Registry();
  private readonly g;

  constructor() {
    const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[]): Gauge<L> =>
      new Gauge({ name: `nines_${name}`, help, labelNames, registers: [this.registry] });
    this.g = {
      clusterState: gauge('cluster_state', '1 for the current state of the cluster', [
        'cluster',
        'type',
        'state',
      ]),
      clusterNodes: gauge('cluster_nodes', 'Nodes monitored in the cluster', ['cluster']),
      clusterNodesUp: gauge('cluster_nodes_up', 'Nodes whose latest probe answered', ['cluster']),
      alarms: gauge('alarms_active', 'Active alarms', ['cluster', 'severity']),
      up: gauge('node_up', '1 when the latest probe reached the node', NODE),
      state: gauge('node_state', '1 for the current state of the node (up, pending, down, unknown)', [
        ...NODE,
        'state',
      ]),
      role: gauge('node_role', '1 for the role the node has (primary, replica, member, unknown)', [
        ...NODE,
        'role',
      ]),
      maintenance: gauge('node_maintenance', '1 while a maintenance window covers the node', NODE),
      lag: gauge('node_replication_lag_seconds', 'Replication lag of a replica in seconds', NODE),
      connections: gauge('node_connections', 'Client connections open', NODE),
      qps: gauge('node_queries_per_second', 'Queries per second', NODE),
      tps: gauge('node_transactions_per_second', 'Transactions per second', NODE),
      longest: gauge('node_longest_query_seconds', 'Age of the oldest running client statement', NODE),
      galeraSize: gauge('node_galera_cluster_size', 'wsrep_cluster_size seen by the node', NODE),
      galeraPrimary: gauge('node_galera_primary', '1 when the node is in a Primary component', NODE),
      galeraQueue: gauge('node_galera_recv_queue', 'wsrep_local_recv_queue', NODE),
      galeraFc: gauge('node_galera_flow_control_paused', 'wsrep_flow_control_paused (0..1)', NODE),
      cpu: gauge('node_cpu_percent', 'Host CPU busy percent', NODE),
      mem: gauge('node_memory_percent', 'Host memory used percent', NODE),
      disk: gauge('node_disk_percent', 'Data filesystem used percent', NODE),
      backend: gauge('haproxy_server_up', '1 when HAProxy reports the server UP', [
        'cluster',
        'proxy',
        'backend',
        'server',
      ]),
      degraded: gauge('monitor_degraded', '1 while the monitor-degraded alarm of the cluster is active', [
        'cluster',
      ]),
      lastTick: gauge('monitor_last_snapshot_timestamp_seconds', 'Time of the latest snapshot', ['cluster']),
    };
  }

  private readonly errors = new Counter({
    name: 'nines_monitor_errors_total',
    help: 'Failures of a stage of the monitor (settings, snapshot, classify, events, inventory, alarm-store, notify, metrics ...) since the controller started',
    labelNames: ['cluster', 'stage'] as const,
    registers: [this.registry],
  });

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The text exposition of the given clusters. */
  async render(clusters: readonly ExportedCluster[]): Promise<string> {
    for (const g of Object.values(this.g)) g.reset();
    this.errors.reset();
    for (const c of clusters) this.fill(c);
    return this.registry.metrics();
  }

  private fill(c: ExportedCluster): void {
    const { g } = this;
    const cluster = c.cluster;
    g.alarms.set({ cluster, severity: 'warning' }, c.alarms.warning);
    g.alarms.set({ cluster, severity: 'critical' }, c.alarms.critical);
    if (c.monitor) {
      g.degraded.set({ cluster }, c.monitor.degraded ? 1 : 0);
      for (const [stage, n] of c.monitor.errors) this.errors.inc({ cluster, stage }, n);
    }
    if (c.health) {
      g.clusterState.set({ cluster, type: c.type, state: c.health.state }, 1);
      g.clusterNodes.set({ cluster }, c.health.nodes.length);
      g.clusterNodesUp.set({ cluster }, c.health.nodes.filter((n) => n.state === 'up').length);
      for (const n of c.health.nodes) {
        g.state.set({ cluster, node: n.node, state: n.state }, 1);
        g.role.set({ cluster, node: n.node, role: n.role }, 1);
        g.maintenance.set({ cluster, node: n.node }, n.maintenance ? 1 : 0);
      }
    }
    if (c.snapshot) {
      g.lastTick.set({ cluster }, c.snapshot.time / 1000);
      for (const n of c.snapshot.nodes) this.fillNode(cluster, nodeKey(n), n.observation);
    }
    for (const p of c.proxies) {
      for (const s of p.servers ?? []) {
        g.backend.set(
          { cluster, proxy: p.proxy, backend: s.backend, server: s.server },
          s.status.startsWith('UP') ? 1 : 0,
        );
      }
    }
  }

  private fillNode(cluster: string, node: string, o: ClusterSnapshot['nodes'][number]['observation']): void {
    const { g } = this;
    const labels = { cluster, node };
    g.up.set(labels, o?.reachable ? 1 : 0);
    if (!o?.reachable) return;
    const set = (gauge: Gauge<'cluster' | 'node'>, v: number | null | undefined): void => {
      if (typeof v === 'number' && Number.isFinite(v)) gauge.set(labels, v);
    };
    set(g.lag, o.replication?.lagSeconds);
    set(g.connections, o.connections);
    set(g.qps, o.queriesPerSecond);
    set(g.tps, o.transactionsPerSecond);
    set(g.longest, o.longestQuerySeconds);
    set(g.galeraSize, o.galera?.clusterSize);
    set(g.galeraPrimary, o.galera ? (o.galera.clusterStatus === 'Primary' ? 1 : 0) : undefined);
    set(g.galeraQueue, o.galera?.recvQueue);
    set(g.galeraFc, o.galera?.flowControlPaused);
    set(g.cpu, o.host?.cpuPct);
    set(g.mem, o.host?.memPct);
    set(g.disk, o.host?.diskPct);
  }
}
