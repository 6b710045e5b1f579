// The monitor as the controller runs it: one ClusterMonitor per monitored cluster (started with the controller for
// every cluster in the store, and when a cluster becomes healthy / is imported; stopped when it is deleted), the
// stores it writes (alarms, metrics, settings, maintenance), the notifier, and the read views of the API
// (status, Prometheus). Lifecycle changes are picked up from events and by a periodic reconcile against the
// inventory, so a missed event only delays monitoring by one reconcile period.
import { NinesError } from '../../core/errors.ts';
import type { AlarmTransition } from '../../core/monitor-notify.ts';
import type { HostStats, MaintenanceWindow } from '../../core/monitor-observation.ts';
import type { ClusterSpec, ClusterType, NodeSpec } from '../../core/spec.ts';
import type { NodeProbe, QueryInsight } from '../../engines/engine.ts';
import { AlarmRepo } from '../alarms/alarm-repo.ts';
import { NotifyHub } from '../alarms/notify-hub.ts';
import { MonitorSettingsRepo } from '../alarms/settings-repo.ts';
import type { ControllerConfig } from '../config.ts';
import type { EventBus } from '../events.ts';
import type { JobRunner } from '../jobs/runner.ts';
import type { Logger } from '../logger.ts';
import { MetricStore } from '../metrics/metric-store.ts';
import { PrometheusExporter, type ExportedCluster } from '../metrics/prometheus.ts';
import type { NotificationChannel } from '../notify/channels.ts';
import type { ChannelConfig } from '../../core/monitor-notify.ts';
import type { Store } from '../store/store.ts';
import { ClusterMonitor, type ProxyServerState, type TickContext } from './cluster-monitor.ts';
import { monitorHostAccess, type MonitorHostAccess } from './host-access.ts';
import type { SshPool } from '../../hosts/ssh-pool.ts';
import { queryKillJob } from './query-insight.ts';
import { clusterStatusView, type ClusterStatusView } from './status-view.ts';
import { handleSnapshot, type ClusterState } from './tick-handler.ts';
import type { MaintenanceRecord } from '../alarms/settings-repo.ts';
import type { Executor } from '../../hosts/executor.ts';

export type MonitorConfig = ControllerConfig['monitor'];

/** How the monitor reaches engines and hosts; every part replaceable in tests. */
export interface MonitorDrivers {
  openProbe(spec: ClusterSpec, node: NodeSpec, timeoutMs: number): NodeProbe;
  openInsight(spec: ClusterSpec, node: NodeSpec): QueryInsight;
  /** Host statistics of a node's host; absent = not collected. */
  readonly readHostStats?: (executor: Executor, node: NodeSpec, signal: AbortSignal) => Promise<HostStats>;
  /** HAProxy backend states of a proxy host; absent = not collected. */
  readonly readProxy?: (executor: Executor, signal: AbortSignal) => Promise<readonly ProxyServerState[]>;
  hostAccess?(spec: ClusterSpec): MonitorHostAccess;
}

export interface MonitorServiceOptions {
  readonly store: Store;
  readonly events: EventBus;
  readonly jobs: JobRunner;
  readonly logger: Logger;
  readonly config: MonitorConfig;
  readonly dataDir: string;
  readonly drivers: MonitorDrivers;
  /** SSH pool of the pollers (host stats, HAProxy); the controller closes it after stop(). */
  readonly sshPool?: SshPool;
  /** Replaces createChannel (tests). */
  readonly createChannel?: (c: ChannelConfig) => NotificationChannel;
}

/** Lifecycle states of the inventory in which a cluster is monitored. */
const MONITORED_STATES = new Set(['healthy', 'degraded', 'active']);
const RECONCILE_MS = 10_000;
const LIFECYCLE_EVENTS =
  /^(cluster\.(created|imported|deleted|updated|state)|node\.(added|removed)|job\.succeeded)$/;

interface Watched {
  readonly monitor: ClusterMonitor;
  readonly state: ClusterState;
  readonly type: ClusterType;
  readonly nodeKeys: string;
  readonly hosts: MonitorHostAccess | undefined;
}

export class MonitorService {
  readonly alarms: AlarmRepo;
  readonly settings: MonitorSettingsRepo;
  readonly metrics: MetricStore;
  readonly notify: NotifyHub;
  readonly prometheus = new PrometheusExporter();
  readonly config: MonitorConfig;
  private readonly options: MonitorServiceOptions;
  private readonly watched = new Map<string, Watched>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private unsubscribe: (() => void) | undefined;
  private running = false;
  private reconciling: Promise<void> = Promise.resolve();

  constructor(options: MonitorServiceOptions) {
    this.options = options;
    this.config = options.config;
    const { db, secrets } = options.store;
    this.alarms = new AlarmRepo(db);
    this.settings = new MonitorSettingsRepo(db);
    this.metrics = new MetricStore(db);
    this.notify = new NotifyHub({
      db,
      secrets,
      logger: options.logger,
      ...(options.createChannel ? { createChannel: options.createChannel } : {}),
    });
    options.jobs.registerJobType(
      queryKillJob(
        (spec, node) => options.drivers.openInsight(spec, node),
        (c) => this.fullSpec(c),
      ),
    );
  }

  get monitoredClusters(): string[] {
    return [...this.watched.keys()].sort();
  }

  /** Starts the notifier, a loop per monitored cluster, and the periodic reconcile and retention passes. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.notify.start();
    this.unsubscribe = this.options.events.subscribe((e) => {
      if (LIFECYCLE_EVENTS.test(e.type)) this.every(0, () => this.reconcile(), false);
    });
    this.every(RECONCILE_MS, () => this.reconcile());
    this.every(this.config.retentionIntervalMs, () => {
      this.metrics.retentionPass();
      this.expireMaintenance();
    });
  }

  /** Runs fn now (or after ms) and then every ms, never overlapping; once only when repeat is false. */
  private every(ms: number, fn: () => void | Promise<void>, repeat = true): void {
    const run = async (): Promise<void> => {
      try {
        await fn();
      } catch (err) {
        this.options.logger.error({ err }, 'monitor background pass failed');
      }
    };
    const schedule = (delayMs: number): void => {
      if (!this.running) return;
      const t = setTimeout(() => {
        this.timers.delete(t);
        void run().finally(() => {
          if (repeat) schedule(ms);
        });
      }, delayMs);
      this.timers.add(t);
    };
    schedule(repeat ? 0 : ms);
  }

  async stop(): Promise<void> {
    this.running = false;
    this.unsubscribe?.();
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    await this.reconciling;
    await Promise.all([...this.watched.keys()].map((name) => this.unwatch(name, false)));
    await this.notify.stop();
  }

  /** The spec of a cluster with its credentials (never return or log it). */
  fullSpec(name: string): ClusterSpec {
    const record = this.options.store.inventory.getCluster(name);
    if (!record) throw new NinesError('NINES_E_CLUSTER_NOT_FOUND', name, { context: { cluster: name } });
    const credentials = this.options.store.inventory.credentials(name);
    return { ...record.spec, credentials: credentials as unknown as ClusterSpec['credentials'] };
  }

  /** Query insight of one node through the cluster's engine (close it after use). */
  openInsight(spec: ClusterSpec, node: NodeSpec): QueryInsight {
    return this.options.drivers.openInsight(spec, node);
  }

  /** Brings the set of loops in line with the inventory (serialized). */
  reconcile(): Promise<void> {
    this.reconciling = this.reconciling.then(() => this.reconcileNow());
    return this.reconciling;
  }

  private async reconcileNow(): Promise<void> {
    if (!this.running) return;
    const inventory = this.options.store.inventory;
    const wanted = new Map(
      inventory
        .listClusters()
        .filter((c) => MONITORED_STATES.has(c.state))
        .map((c) => [c.name, c] as const),
    );
    for (const name of [...this.watched.keys()]) {
      const w = this.watched.get(name);
      const nodes = inventory.listNodes(name).map((n) => `${n.host}:${n.port}`);
      if (!wanted.has(name) || w?.nodeKeys !== nodes.join(',')) {
        await this.unwatch(name, !inventory.hasCluster(name));
      }
    }
    for (const name of wanted.keys()) {
      if (!this.watched.has(name) && this.running) this.watch(name);
    }
  }

  private watch(name: string): void {
    const spec = this.fullSpec(name);
    const nodes = this.options.store.inventory.listNodes(name);
    const specNodes: NodeSpec[] = nodes.map(
      (n) =>
        spec.nodes.find((s) => s.host === n.host && s.port === n.port) ?? {
          host: n.host,
          port: n.port,
          datacenter: n.datacenter,
          priority: n.priority,
        },
    );
    const drivers = this.options.drivers;
    const hosts =
      drivers.readHostStats || drivers.readProxy
        ? (
            drivers.hostAccess ??
            ((s: ClusterSpec) => monitorHostAccess(s, this.options.dataDir, this.options.sshPool))
          )(spec)
        : undefined;
    const state: ClusterState = { health: undefined, snapshot: undefined, evaluation: undefined };
    const byKey = new Map(specNodes.map((n) => [`${n.host}:${n.port}`, n]));
    const nodeOf = (n: { host: string; port: number }): NodeSpec =>
      byKey.get(`${n.host}:${n.port}`) as NodeSpec;
    const readHost = drivers.readHostStats;
    const readProxy = drivers.readProxy;
    const monitor = new ClusterMonitor({
      cluster: name,
      type: spec.type,
      nodes: specNodes,
      expectedNodes: Math.max(spec.nodes.length, specNodes.length),
      intervalMs: this.config.intervalMs,
      probeTimeoutMs: this.config.probeTimeoutMs,
      openProbe: (n) => drivers.openProbe(spec, nodeOf(n), this.config.probeTimeoutMs),
      context: () => this.tickContext(name, spec),
      onSnapshot: (snapshot) => handleSnapshot(this.tickDeps(), state, snapshot),
      logger: this.options.logger,
      ...(readHost && hosts
        ? {
            hostStats: {
              intervalMs: this.config.hostStatsIntervalMs,
              read: (n, signal) => readHost(hosts.executor(n.host), nodeOf(n), signal),
            },
          }
        : {}),
      ...(readProxy && hosts && spec.endpoint
        ? {
            proxies: {
              intervalMs: this.config.proxyIntervalMs,
              hosts: spec.endpoint.proxies,
              read: (proxy, signal) => readProxy(hosts.executor(proxy), signal),
            },
          }
        : {}),
    });
    this.watched.set(name, {
      monitor,
      state,
      type: spec.type,
      nodeKeys: specNodes.map((n) => `${n.host}:${n.port}`).join(','),
      hosts,
    });
    monitor.start();
    this.options.logger.info({ cluster: name, nodes: specNodes.length }, `monitoring cluster ${name}`);
  }

  /** Stops a loop; when the cluster is gone, clears its alarms (notifying the clears) and drops its data. */
  private async unwatch(name: string, deleted: boolean): Promise<void> {
    const w = this.watched.get(name);
    this.watched.delete(name);
    if (w) {
      await w.monitor.stop();
      await w.hosts?.close();
      this.options.logger.info({ cluster: name }, `stopped monitoring cluster ${name}`);
    }
    if (!deleted) return;
    const now = Date.now();
    const cleared = this.alarms.clearCluster(name, `cluster ${name} deleted`, now);
    const transitions: AlarmTransition[] = cleared.map((a) => ({
      kind: 'cleared',
      alarm: a,
      reason: a.clearReason ?? 'cluster deleted',
      time: now,
    }));
    if (transitions.length > 0) this.notify.notifyCleared(transitions);
    this.metrics.forget(name);
    this.settings.forget(name);
  }

  private tickDeps(): Parameters<typeof handleSnapshot>[0] {
    return {
      events: this.options.events,
      inventory: this.options.store.inventory,
      alarms: this.alarms,
      settings: this.settings,
      metrics: this.metrics,
      notify: (evaluation, now) => this.notify.handle(evaluation, now),
    };
  }

  private tickContext(name: string, spec: ClusterSpec): TickContext {
    const windows = this.settings.maintenance(name);
    const toWindow = (m: MaintenanceWindow): MaintenanceWindow => ({
      until: m.until,
      ...(m.reason ? { reason: m.reason } : {}),
    });
    const cluster = windows.find((m) => m.node === null);
    return {
      thresholds: this.settings.thresholds(name, spec.options.maxLagSeconds),
      ...(cluster ? { maintenance: toWindow(cluster) } : {}),
      nodeMaintenance: new Map(
        windows.flatMap((m) => (m.node === null ? [] : [[m.node, toWindow(m)] as const])),
      ),
    };
  }

  /** Ends maintenance windows whose time is up, with an event each. */
  expireMaintenance(now: number = Date.now()): void {
    for (const m of this.settings.pruneMaintenance(now)) {
      this.options.events.emit({
        cluster: m.cluster,
        type: 'maintenance.ended',
        message: `maintenance of ${m.node ? `node ${m.node}` : `cluster ${m.cluster}`} ended (window expired)`,
        data: { node: m.node, until: new Date(m.until).toISOString(), expired: true },
      });
    }
  }

  /** The latest state of a monitored cluster (undefined when not monitored). */
  clusterState(name: string): (ClusterState & { monitor: ClusterMonitor; type: ClusterType }) | undefined {
    const w = this.watched.get(name);
    return w ? { ...w.state, monitor: w.monitor, type: w.type } : undefined;
  }

  /** The status view of a cluster (from memory; state unknown when not monitored). */
  status(name: string): ClusterStatusView {
    const record = this.options.store.inventory.getCluster(name);
    if (!record) throw new NinesError('NINES_E_CLUSTER_NOT_FOUND', name, { context: { cluster: name } });
    const w = this.watched.get(name);
    return clusterStatusView({
      cluster: name,
      type: record.type,
      state: w?.state,
      nodes: this.options.store.inventory.listNodes(name),
      alarms: this.alarms.active(name),
      maintenance: this.settings.maintenance(name),
      proxies: w?.monitor.proxies() ?? [],
    });
  }

  /** Opens a maintenance window of the cluster or of one node (host or host:port); emits maintenance.started. */
  startMaintenance(
    cluster: string,
    input: { readonly node?: string; readonly until: number; readonly reason?: string },
    by: string | null,
  ): MaintenanceRecord {
    const node = input.node === undefined ? null : this.nodeName(cluster, input.node);
    const now = Date.now();
    if (!(input.until > now)) {
      throw new NinesError('NINES_E_INVALID_ARGUMENT', 'maintenance must end in the future');
    }
    const record = this.settings.setMaintenance(
      cluster,
      node,
      { until: input.until, ...(input.reason ? { reason: input.reason } : {}) },
      by,
      now,
    );
    const what = node ? `node ${node}` : `cluster ${cluster}`;
    this.options.events.emit({
      cluster,
      type: 'maintenance.started',
      message: `maintenance of ${what} until ${new Date(input.until).toISOString()}${input.reason ? ` (${input.reason})` : ''} by ${by ?? 'unknown'}`,
      data: { node, until: new Date(input.until).toISOString(), reason: input.reason ?? null, by },
    });
    return record;
  }

  /** Ends a maintenance window now; emits maintenance.ended. Returns whether one was open. */
  endMaintenance(cluster: string, nodeName: string | undefined, by: string | null): boolean {
    const node = nodeName === undefined ? null : this.nodeName(cluster, nodeName);
    const ended = this.settings.endMaintenance(cluster, node);
    if (ended) {
      this.options.events.emit({
        cluster,
        type: 'maintenance.ended',
        message: `maintenance of ${node ? `node ${node}` : `cluster ${cluster}`} ended by ${by ?? 'unknown'}`,
        data: { node, by, expired: false },
      });
    }
    return ended;
  }

  /** host:port of a node named by host or host:port; NINES_E_NODE_NOT_FOUND otherwise. */
  nodeName(cluster: string, name: string): string {
    const inventory = this.options.store.inventory;
    if (!inventory.hasCluster(cluster)) {
      throw new NinesError('NINES_E_CLUSTER_NOT_FOUND', cluster, { context: { cluster } });
    }
    const nodes = inventory.listNodes(cluster).map((n) => `${n.host}:${n.port}`);
    const match = nodes.includes(name) ? [name] : nodes.filter((k) => k.startsWith(`${name}:`));
    if (match.length !== 1) {
      throw new NinesError('NINES_E_NODE_NOT_FOUND', `cluster ${cluster} has no node ${name}`, {
        context: { cluster, node: name, nodes },
      });
    }
    return match[0] as string;
  }

  /** What Prometheus scrapes. */
  async renderPrometheus(): Promise<string> {
    const counts = this.alarms.activeCounts();
    const names = new Set([...this.watched.keys(), ...counts.map((c) => c.cluster)]);
    const clusters: ExportedCluster[] = [...names].sort().map((cluster) => {
      const w = this.watched.get(cluster);
      const n = (severity: string): number =>
        counts.find((c) => c.cluster === cluster && c.severity === severity)?.n ?? 0;
      return {
        cluster,
        type: w?.type ?? 'unknown',
        snapshot: w?.state.snapshot,
        health: w?.state.health,
        proxies: w?.monitor.proxies() ?? [],
        alarms: { warning: n('warning'), critical: n('critical') },
      };
    });
    return this.prometheus.render(clusters);
  }
}
