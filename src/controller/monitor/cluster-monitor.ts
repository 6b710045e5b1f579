// The monitor loop of one cluster (Uptime Kuma: never overlapping; Patroni: frozen snapshot, then decide).
//   - One persistent NodeProbe per node. Each tick starts a probe on every node that is not still busy, all at
//     once, each bounded by the probe timeout (its signal is aborted, and the tick stops waiting for it).
//   - The tick waits for the probes until they all finished or the timeout passed, whichever comes first; a node
//     whose probe has not finished counts as a failed probe this tick (its old probe is not started again while
//     it hangs). So a hung node never delays the other nodes' observations.
//   - The next tick is scheduled with setTimeout after the current one completed, at start + interval (or at
//     once when the tick took longer): never overlapping, and a steady 1 s cadence in the normal case.
//   - The tick builds the next NodeSnapshots (nextNodeSnapshot), freezes a ClusterSnapshot and hands it to the
//     handler (decide + act: the MonitorService). Any error is caught and logged; the loop never dies.
//   - Host statistics (SSH, every 10 s) and HAProxy backend states (every few seconds) are collected by their own
//     never-overlapping pollers and merged into the next snapshot (host stats) or kept for the status view.
import {
  freezeSnapshot,
  nextNodeSnapshot,
  nodeKey,
  type ClusterSnapshot,
  type HostStats,
  type MaintenanceWindow,
  type MonitorThresholds,
  type NodeObservation,
  type NodeSnapshot,
} from '../../core/monitor/observation.ts';
import type { ClusterType } from '../../core/spec.ts';
import type { NodeProbe } from '../../engines/engine.ts';
import type { Logger } from '../logger.ts';

export interface MonitoredNodeSpec {
  readonly host: string;
  readonly port: number;
}

/** What the cluster's settings say at the start of a tick (read from the store by the service). */
export interface TickContext {
  readonly thresholds: MonitorThresholds;
  readonly maintenance?: MaintenanceWindow;
  /** Node maintenance windows by host:port. */
  readonly nodeMaintenance: ReadonlyMap<string, MaintenanceWindow>;
}

export interface ProxyServerState {
  readonly backend: string;
  readonly server: string;
  readonly status: string;
  readonly address?: string;
  readonly admin?: string;
  readonly health?: string;
  readonly sessions?: number;
  /** Galera: a fallback server of the write backend (HAProxy `backup`). */
  readonly backup?: boolean;
}

export interface ProxyStates {
  readonly proxy: string;
  readonly time: number;
  readonly servers?: readonly ProxyServerState[];
  readonly error?: { readonly code: string; readonly message: string };
}

export interface ClusterMonitorOptions {
  readonly cluster: string;
  readonly type: ClusterType;
  readonly nodes: readonly MonitoredNodeSpec[];
  /** Nodes the spec declares (usually nodes.length). */
  readonly expectedNodes: number;
  openProbe(node: MonitoredNodeSpec): NodeProbe;
  readonly intervalMs: number;
  readonly probeTimeoutMs: number;
  context(): TickContext;
  /** Decide and act on a snapshot; may be async (the next tick waits for it). */
  onSnapshot(snapshot: ClusterSnapshot): void | Promise<void>;
  /** A tick produced no snapshot (building it threw) or its handler threw: the loop goes on regardless. */
  onTickError?(stage: 'snapshot' | 'handler', err: unknown): void;
  readonly hostStats?: {
    readonly intervalMs: number;
    readonly read: (node: MonitoredNodeSpec, signal: AbortSignal) => Promise<HostStats>;
  };
  readonly proxies?: {
    readonly intervalMs: number;
    readonly hosts: readonly string[];
    readonly read: (proxy: string, signal: AbortSignal) => Promise<readonly ProxyServerState[]>;
  };
  readonly logger?: Logger;
  readonly now?: () => number;
}

interface NodeSlot {
  readonly spec: MonitoredNodeSpec;
  readonly key: string;
  readonly probe: NodeProbe;
  /** The probe's observe() still running (possibly past its timeout). */
  busy: boolean;
  snapshot: NodeSnapshot | undefined;
  host: { stats: HostStats; time: number } | undefined;
}

function failure(time: number, code: string, message: string): NodeObservation {
  return { time, reachable: false, role: 'unknown', error: { code, message } };
}

function errorText(err: unknown): { code: string; message: string } {
  const e = err as { code?: unknown; message?: unknown } | undefined;
  return {
    code: typeof e?.code === 'string' && e.code.startsWith('NINES_E_') ? e.code : 'NINES_E_INTERNAL',
    message: typeof e?.message === 'string' ? e.message : String(err),
  };
}

/** Resolves after ms (unref'd, cancellable through the returned clear()). */
function delay(ms: number): { promise: Promise<void>; clear(): void } {
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  return { promise, clear: () => clearTimeout(timer) };
}

export class ClusterMonitor {
  readonly cluster: string;
  private readonly options: ClusterMonitorOptions;
  private readonly nodes: NodeSlot[];
  private readonly now: () => number;
  private readonly abort = new AbortController();
  private readonly proxyStates = new Map<string, ProxyStates>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private pollers: Promise<void>[] = [];
  private stopped = false;
  private ticks = 0;
  private lastSnapshot: ClusterSnapshot | undefined;
  private readonly whenStopped: Promise<void>;

  constructor(options: ClusterMonitorOptions) {
    this.options = options;
    this.cluster = options.cluster;
    this.now = options.now ?? Date.now;
    this.whenStopped = new Promise((resolve) =>
      this.abort.signal.addEventListener('abort', () => resolve(), { once: true }),
    );
    this.nodes = options.nodes.map((spec) => ({
      spec,
      key: nodeKey(spec),
      probe: options.openProbe(spec),
      busy: false,
      snapshot: undefined,
      host: undefined,
    }));
  }

  /** Starts the loop (first tick at once) and the pollers. */
  start(): void {
    this.schedule(0);
    const hs = this.options.hostStats;
    if (hs) {
      for (const n of this.nodes) this.pollers.push(this.poll(hs.intervalMs, (s) => this.readHost(n, s)));
    }
    const px = this.options.proxies;
    if (px) {
      for (const proxy of px.hosts) {
        this.pollers.push(this.poll(px.intervalMs, (s) => this.readProxy(proxy, s)));
      }
    }
  }

  /** Stops the loop and pollers, waits for the current tick, closes the probes. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.timer);
    this.abort.abort();
    await this.running;
    await Promise.allSettled(this.pollers);
    await Promise.allSettled(this.nodes.map((n) => n.probe.close()));
  }

  get tickCount(): number {
    return this.ticks;
  }

  get snapshot(): ClusterSnapshot | undefined {
    return this.lastSnapshot;
  }

  proxies(): ProxyStates[] {
    return [...this.proxyStates.values()];
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const started = this.now();
      this.running = this.tick().finally(() => {
        this.running = undefined;
        this.schedule(Math.max(0, started + this.options.intervalMs - this.now()));
      });
    }, delayMs);
  }

  /** One tick: probe, snapshot, hand over. Never throws. */
  private async tick(): Promise<void> {
    try {
      const observations = await this.probeAll();
      if (this.stopped) return;
      let snapshot: ClusterSnapshot;
      try {
        snapshot = this.buildSnapshot(observations);
      } catch (err) {
        this.tickFailed('snapshot', err);
        return;
      }
      this.lastSnapshot = snapshot;
      this.ticks++;
      await this.options.onSnapshot(snapshot);
    } catch (err) {
      this.tickFailed('handler', err);
    }
  }

  private tickFailed(stage: 'snapshot' | 'handler', err: unknown): void {
    this.options.logger?.error(
      { err, cluster: this.cluster, stage },
      'monitor tick failed; next tick as planned',
    );
    try {
      this.options.onTickError?.(stage, err);
    } catch (e) {
      this.options.logger?.error({ err: e, cluster: this.cluster }, 'monitor tick error handler failed');
    }
  }

  private async probeAll(): Promise<NodeObservation[]> {
    const timeoutMs = this.options.probeTimeoutMs;
    const deadline = delay(timeoutMs);
    const ticks = this.nodes.map((n) => this.probeOne(n, deadline.promise, timeoutMs));
    try {
      return await Promise.all(ticks);
    } finally {
      deadline.clear();
    }
  }

  /** The node's observation of this tick: the probe's answer, or a failure when it did not answer in time. */
  private async probeOne(n: NodeSlot, deadline: Promise<void>, timeoutMs: number): Promise<NodeObservation> {
    if (n.busy) {
      return failure(
        this.now(),
        'NINES_E_MONITOR_PROBE_TIMEOUT',
        `${n.key}: the previous probe is still running (no answer for more than ${timeoutMs} ms)`,
      );
    }
    n.busy = true;
    const ac = new AbortController();
    const onStop = (): void => ac.abort();
    this.abort.signal.addEventListener('abort', onStop, { once: true });
    const answer = Promise.resolve()
      .then(() => n.probe.observe(ac.signal))
      .catch((err: unknown) => {
        const e = errorText(err);
        return failure(this.now(), e.code, e.message);
      })
      .finally(() => {
        n.busy = false;
        this.abort.signal.removeEventListener('abort', onStop);
      });
    const late = deadline.then(() => {
      ac.abort();
      return failure(
        this.now(),
        'NINES_E_MONITOR_PROBE_TIMEOUT',
        `${n.key}: no answer within ${timeoutMs} ms`,
      );
    });
    return Promise.race([answer, late]);
  }

  private buildSnapshot(observations: readonly NodeObservation[]): ClusterSnapshot {
    const ctx = this.options.context();
    const time = this.now();
    const hostFresh = (this.options.hostStats?.intervalMs ?? 0) * 3;
    const nodes = this.nodes.map((n, i) => {
      let obs = observations[i] as NodeObservation;
      if (obs.reachable && obs.host === undefined && n.host && time - n.host.time <= hostFresh) {
        obs = { ...obs, host: n.host.stats };
      }
      const maintenance = ctx.nodeMaintenance.get(n.key);
      n.snapshot = nextNodeSnapshot(
        n.snapshot,
        { host: n.spec.host, port: n.spec.port, ...(maintenance ? { maintenance } : {}) },
        obs,
      );
      return n.snapshot;
    });
    return freezeSnapshot({
      cluster: this.cluster,
      type: this.options.type,
      expectedNodes: this.options.expectedNodes,
      time,
      nodes,
      ...(ctx.maintenance ? { maintenance: ctx.maintenance } : {}),
      thresholds: ctx.thresholds,
    });
  }

  /** A never-overlapping poller: fn, then wait intervalMs, until stopped. */
  private async poll(intervalMs: number, fn: (signal: AbortSignal) => Promise<void>): Promise<void> {
    while (!this.stopped) {
      const ac = new AbortController();
      const onStop = (): void => ac.abort();
      this.abort.signal.addEventListener('abort', onStop, { once: true });
      const bound = setTimeout(() => ac.abort(), intervalMs * 2);
      try {
        await fn(ac.signal);
      } catch (err) {
        this.options.logger?.debug({ err, cluster: this.cluster }, 'monitor poller failed');
      } finally {
        clearTimeout(bound);
        this.abort.signal.removeEventListener('abort', onStop);
      }
      if (this.stopped) return;
      const wait = delay(intervalMs);
      await Promise.race([wait.promise, this.whenStopped]);
      wait.clear();
    }
  }

  private async readHost(n: NodeSlot, signal: AbortSignal): Promise<void> {
    const read = this.options.hostStats?.read;
    if (!read) return;
    const stats = await read(n.spec, signal);
    n.host = { stats, time: this.now() };
  }

  private async readProxy(proxy: string, signal: AbortSignal): Promise<void> {
    const read = this.options.proxies?.read;
    if (!read) return;
    try {
      const servers = await read(proxy, signal);
      this.proxyStates.set(proxy, { proxy, time: this.now(), servers });
    } catch (err) {
      this.proxyStates.set(proxy, { proxy, time: this.now(), error: errorText(err) });
    }
  }
}
