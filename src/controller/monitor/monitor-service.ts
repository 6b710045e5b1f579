// The monitor as the controller runs it: one ClusterMonitor per monitored cluster (started with the controller for
// every cluster in the store, and when a cluster becomes healthy / is imported; stopped when it is deleted), the
// stores it writes (alarms, metrics, settings, maintenance), the notifier, and the read views of the API
// (status, Prometheus). Lifecycle changes are picked up from events and by a periodic reconcile against the
// inventory, so a missed event only delays monitoring by one reconcile period.
import { NinesError } from '../../core/errors.ts';
import type { Alarm } from '../../core/monitor/alarms.ts';
import { MONITOR_DEGRADED_RULE } from '../../core/monitor/degraded.ts';
import type { AlarmTransition } from '../../core/monitor/notify.ts';
import {
  resolveThresholds,
  type ClusterSnapshot,
  type HostStats,
  type MaintenanceWindow,
  type MonitorThresholds,
} from '../../core/monitor/observation.ts';
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
import type { ChannelConfig } from '../../core/monitor/notify.ts';
import type { Store } from '../store/store.ts';
import {
  ClusterMonitor,
  type ProxyServerState,
  type ProxyStates,
  type TickContext,
} from './cluster-monitor.ts';
import { MonitorFaults } from './monitor-faults.ts';
import type { MonitorHostAccess } from './host-access.ts';
import type { ClusterHosts } from '../cluster-hosts.ts';
import { queryKillJob } from './query-insight.ts';
import { clusterStatusView, type ClusterStatusView } from './status-view.ts';
import { activeAfter, handleSnapshot, stageFailure, type ClusterState } from './tick-handler.ts';
import type { MaintenanceRecord } from '../alarms/settings-repo.ts';
import type { AlarmRecord } from '../alarms/alarm-repo.ts';
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

/** What recovery (src/controller/recovery/) takes from the monitor, and gives back. */
export interface MonitorRecoveryHook {
  onSnapshot(snapshot: ClusterSnapshot, proxies: readonly ProxyStates[]): void;
  /** Nodes (host:port) recovery fenced: the monitor never writes an observed role over theirs. */
  fencedNodes(cluster: string): ReadonlySet<string>;
}

export interface MonitorServiceOptions {
  readonly store: Store;
  readonly events: EventBus;
  readonly jobs: JobRunner;
  readonly logger: Logger;
  readonly config: MonitorConfig;
  readonly drivers: MonitorDrivers;
  /** The controller's host access: the pollers' (host stats, HAProxy) SSH executors; closed by the controller. */
  readonly hosts?: ClusterHosts;
  /** Replaces createChannel (tests). */
  readonly createChannel?: (c: ChannelConfig) => NotificationChannel;
}

/** Lifecycle states of the inventory in which a cluster is monitored. */
const MONITORED_STATES = new Set(['healthy', 'degraded', 'active']);
const RECONCILE_MS = 10_000;
const LIFECYCLE_EVENTS =
  /^(cluster\.(created|imported|deleted|updated|state)|node\.(added|removed)|job\.succeeded)$/;

/** The longest maintenance window (and the longest duration any monitoring input accepts). */
export const MAX_WINDOW_MS = 365 * 86_400_000;

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
  private readonly faults: MonitorFaults;
  private recovery: MonitorRecoveryHook | undefined;

  constructor(options: MonitorServiceOptions) {
    this.options = options;
    this.config = options.config;
    const { db, secrets } = options.store;
    this.alarms = new AlarmRepo(db);
    this.settings = new MonitorSettingsRepo(db);
    this.metrics = new MetricStore(db);
    this.faults = new MonitorFaults({
      alarms: this.alarms,
      notify: { notifyTransitions: (t) => this.notify.notifyTransitions(t) },
      events: options.events,
      logger: options.logger,
    });
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

  /** Recovery sees every snapshot after the monitor acted on it, and tells the monitor which nodes it fenced. */
  setRecovery(hook: MonitorRecoveryHook): void {
    this.recovery = hook;
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
    this.every(this.config.retentionIntervalMs, () => void this.metrics.retentionPass());
    this.every(this.config.retentionIntervalMs, () => this.expireMaintenance());
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

  /** Stops every loop and the notifier. Never throws: a part that fails to stop is logged and the rest still stop. */
  async stop(): Promise<void> {
    this.running = false;
    this.unsubscribe?.();
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    await this.reconciling; // never rejects (see reconcile)
    const names = [...this.watched.keys()];
    const results = await Promise.allSettled(names.map((name) => this.unwatch(name, false)));
    results.forEach((r, i) => {
      if (r.status === 'rejected') {
        this.options.logger.error({ err: r.reason, cluster: names[i] }, 'monitor loop did not stop cleanly');
      }
    });
    try {
      await this.notify.stop();
    } catch (err) {
      this.options.logger.error({ err }, 'notifier did not stop cleanly');
    }
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

  /**
   * Brings the set of loops in line with the inventory (serialized). Never rejects: a failed pass is logged and
   * the next one runs as if it had not happened.
   */
  reconcile(): Promise<void> {
    this.reconciling = this.reconciling
      .then(() => this.reconcileNow())
      .catch((err: unknown) => {
        this.options.logger.error({ err }, 'monitor reconcile failed; the next one runs as planned');
      });
    return this.reconciling;
  }

  private async reconcileNow(): Promise<void> {
    if (!this.running) return;
    const inventory = this.options.store.inventory;
    await this.forgetDeleted();
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
      if (this.watched.has(name) || !this.running) continue;
      try {
        this.watch(name);
      } catch (err) {
        // Retried on the next reconcile; meanwhile the cluster carries monitor-degraded (stage watch).
        this.faults.finishTick(name, [stageFailure('watch', err)], Date.now());
      }
    }
  }

  /** Drops what deleted clusters left behind (alarms, series, settings, windows), e.g. after a crash mid-delete. */
  private async forgetDeleted(): Promise<void> {
    const inventory = this.options.store.inventory;
    const names = new Set([
      ...this.alarms.clustersWithActive(),
      ...this.settings.clusters(),
      ...this.metrics.clusters(),
      ...this.faults.clusters(),
    ]);
    for (const name of names) {
      if (this.watched.has(name) || inventory.hasCluster(name)) continue;
      await this.unwatch(name, true);
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
        ? (drivers.hostAccess?.(spec) ?? this.options.hosts?.monitorAccess(spec))
        : undefined;
    const state: ClusterState = { health: undefined, snapshot: undefined, evaluation: undefined };
    this.faults.of(name);
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
      onSnapshot: (snapshot) => {
        const failures = handleSnapshot(this.tickDeps(), state, snapshot, this.faults.takePending(name));
        this.faults.finishTick(name, failures, snapshot.time);
        try {
          this.recovery?.onSnapshot(snapshot, monitor.proxies());
        } catch (err) {
          this.options.logger.error({ err, cluster: name }, 'recovery hook failed');
        }
      },
      onTickError: (stage, err) => {
        const failures = [
          ...this.faults.takePending(name),
          stageFailure(stage === 'snapshot' ? 'snapshot' : 'tick', err),
        ];
        this.faults.finishTick(name, failures, Date.now());
      },
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
    this.faults.delete(name);
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
      fenced: (cluster) => this.recovery?.fencedNodes(cluster) ?? new Set(),
    };
  }

  /**
   * The settings of a tick. A part that cannot be read (a stored row that is invalid, the store failing) is
   * replaced by the defaults (thresholds) or left out (maintenance), and recorded as a settings failure.
   */
  private tickContext(name: string, spec: ClusterSpec): TickContext {
    const pending = this.faults.of(name).pending;
    let thresholds: MonitorThresholds;
    try {
      thresholds = this.settings.thresholds(name, spec.options.maxLagSeconds);
    } catch (err) {
      pending.push(stageFailure('settings', err));
      thresholds = resolveThresholds({}, spec.options.maxLagSeconds);
    }
    let windows: MaintenanceRecord[] = [];
    try {
      windows = this.settings.maintenance(name);
      for (const problem of this.settings.invalidMaintenance(name)) {
        pending.push({ stage: 'settings', code: 'NINES_E_MONITOR_ROW_INVALID', message: problem });
      }
    } catch (err) {
      pending.push(stageFailure('settings', err));
    }
    const toWindow = (m: MaintenanceWindow): MaintenanceWindow => ({
      until: m.until,
      ...(m.reason ? { reason: m.reason } : {}),
    });
    const cluster = windows.find((m) => m.node === null);
    return {
      thresholds,
      ...(cluster ? { maintenance: toWindow(cluster) } : {}),
      nodeMaintenance: new Map(
        windows.flatMap((m) => (m.node === null ? [] : [[m.node, toWindow(m)] as const])),
      ),
    };
  }

  /**
   * Active alarms of a cluster: from the store, or (when it cannot be read) what the monitor holds in memory;
   * plus monitor-degraded while it is not stored. An alarm not in the store has id 0.
   */
  private activeAlarms(name: string): AlarmRecord[] {
    const memory = (a: Alarm): AlarmRecord => ({
      ...a,
      id: 0,
      state: 'active',
      clearedAt: null,
      clearReason: null,
    });
    let list: AlarmRecord[];
    try {
      list = this.alarms.active(name);
    } catch {
      const evaluation = this.watched.get(name)?.state.evaluation;
      list = (evaluation ? activeAfter(evaluation) : []).map(memory);
    }
    const degraded = this.faults.get(name)?.degraded;
    list = list.filter((a) => a.rule !== MONITOR_DEGRADED_RULE || degraded !== undefined);
    if (degraded && !list.some((a) => a.key === degraded.key)) list.push(memory(degraded));
    return list;
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
      alarms: this.activeAlarms(name),
      maintenance: this.settings.maintenance(name),
      proxies: w?.monitor.proxies() ?? [],
      monitor: this.faults.monitorSelf(name),
    });
  }

  /**
   * Opens a maintenance window of the cluster or of one node (host or host:port); emits maintenance.started.
   * Checked before anything is written: the cluster (and node) exist, `until` is a time in the next year, the
   * reason is at most 500 characters.
   */
  startMaintenance(
    cluster: string,
    input: { readonly node?: string; readonly until: number; readonly reason?: string },
    by: string | null,
  ): MaintenanceRecord {
    if (!this.options.store.inventory.hasCluster(cluster)) {
      throw new NinesError('NINES_E_CLUSTER_NOT_FOUND', cluster, { context: { cluster } });
    }
    const node = input.node === undefined ? null : this.nodeName(cluster, input.node);
    const now = Date.now();
    if (!Number.isSafeInteger(input.until) || !(input.until > now) || input.until > now + MAX_WINDOW_MS) {
      throw new NinesError('NINES_E_INVALID_ARGUMENT', 'maintenance must end in the future, within 1 year', {
        hint: 'Give a duration such as 30m, 2h or 7d (at most 365d), or an ISO time within the next year.',
        context: { until: input.until },
      });
    }
    if (input.reason !== undefined && input.reason.length > 500) {
      throw new NinesError('NINES_E_INVALID_ARGUMENT', 'maintenance reason: expected at most 500 characters');
    }
    const untilIso = new Date(input.until).toISOString();
    const what = node ? `node ${node}` : `cluster ${cluster}`;
    const message = `maintenance of ${what} until ${untilIso}${input.reason ? ` (${input.reason})` : ''} by ${by ?? 'unknown'}`;
    const record = this.settings.setMaintenance(
      cluster,
      node,
      { until: input.until, ...(input.reason ? { reason: input.reason } : {}) },
      by,
      now,
    );
    this.options.events.emit({
      cluster,
      type: 'maintenance.started',
      message,
      data: { node, until: untilIso, reason: input.reason ?? null, by },
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

  /** What Prometheus scrapes (alarm counts from memory when the alarm store cannot be read). */
  async renderPrometheus(): Promise<string> {
    let counts: { cluster: string; severity: string; n: number }[] | undefined;
    try {
      counts = this.alarms.activeCounts();
    } catch (err) {
      this.options.logger.error({ err }, 'alarm counts not readable; exporting what the monitor holds');
    }
    const names = new Set([
      ...this.watched.keys(),
      ...this.faults.clusters(),
      ...(counts ?? []).map((c) => c.cluster),
    ]);
    const clusters: ExportedCluster[] = [...names].sort().map((cluster) => {
      const w = this.watched.get(cluster);
      const f = this.faults.get(cluster);
      const memory = counts ? [] : this.activeAlarms(cluster);
      const degradedUnstored = counts && f?.degraded && !f.stored ? 1 : 0;
      const n = (severity: string): number =>
        counts
          ? (counts.find((c) => c.cluster === cluster && c.severity === severity)?.n ?? 0) +
            (severity === 'critical' ? degradedUnstored : 0)
          : memory.filter((a) => a.severity === severity).length;
      return {
        cluster,
        type: w?.type ?? 'unknown',
        snapshot: w?.state.snapshot,
        health: w?.state.health,
        proxies: w?.monitor.proxies() ?? [],
        alarms: { warning: n('warning'), critical: n('critical') },
        monitor: { degraded: f?.degraded !== undefined, errors: f?.errors ?? new Map() },
      };
    });
    return this.prometheus.render(clusters);
  }
}
