// Automatic failover, switchover and rejoin as the controller runs them: observe -> snapshot -> decide (pure,
// src/core/recovery/) -> act (persisted, failover-executor.ts).
//   - The monitor hands every frozen snapshot to onSnapshot (never blocking it). Per cluster, one evaluation at a
//     time (a newer snapshot waits for the running one and replaces older waiting ones).
//   - An evaluation finds the primary (inventory role, not fenced), builds the vantage points from the snapshot,
//     and when anything looks wrong asks every replica's host over SSH whether the primary's port answers and
//     reads every proxy's backend states — in parallel and bounded, starting at the first failed probe, so the
//     answers are in when the probe that declares the primary down returns. analysePrimary + decideAutoFailover
//     say what to do and why; every change of that answer is an event (acting or not acting).
//   - A failover runs outside the job queue (it never waits behind a job) and pre-empts the cluster's running
//     writing job (cancelled, with an event saying so).
//   - Fenced former primaries: fenced again at once when seen accepting writes; rejoined as replicas when they
//     answer again (bounded retries with backoff); diverged ones stay fenced with a critical alarm until
//     `nines node rebuild`.
//   - The live failover plan is recomputed from every snapshot (status route).
import { NinesError } from '../../core/errors.ts';
import {
  inMaintenance,
  nodeKey,
  type ClusterSnapshot,
  type NodeObservation,
} from '../../core/monitor/observation.ts';
import { checkCooldown } from '../../core/recovery/cooldown.ts';
import { decideAutoFailover } from '../../core/recovery/decide.ts';
import type { Detection } from '../../core/recovery/detection.ts';
import { isFinal } from '../../core/recovery/phases.ts';
import type { FailoverPlan } from '../../core/recovery/plan.ts';
import type { ClusterSpec, NodeSpec } from '../../core/spec.ts';
import type {
  ClusterRecoveryResult,
  Engine,
  HostAccess,
  RecoveryContext,
  ReplicationRecovery,
} from '../../engines/engine.ts';
import { updateEndpoint } from '../../proxies/endpoint.ts';
import type { NotifyHub } from '../alarms/notify-hub.ts';
import type { AlarmRepo } from '../alarms/alarm-repo.ts';
import type { EventBus } from '../events.ts';
import type { JobRunner } from '../jobs/runner.ts';
import type { Logger } from '../logger.ts';
import type { ProxyStates } from '../monitor/cluster-monitor.ts';
import type { Store } from '../store/store.ts';
import {
  Abort,
  FailoverExecutor,
  chooseCandidate,
  type Chosen,
  type ExecutorDeps,
  type RecoveryTimeouts,
} from './failover-executor.ts';
import { excludedNodes, livePlan } from './live-plan.ts';
import { RecoveryAlarms } from './recovery-alarms.ts';
import { RejoinLoop } from './rejoin-loop.ts';
import { SelfHeal } from './self-heal.ts';
import { setNodeLock } from './node-locks.ts';
import { ArmedFences } from './armed-fences.ts';
import { Announcer, type Announced } from './announce.ts';
import { cutWriter, preemptWritingJobs } from './actions.ts';
import { Detector } from './detector.ts';
import { requestablePrimary, resolveTarget } from './requests.ts';
import {
  RecoveryRepo,
  type FailoverKind,
  type FailoverRecord,
  type NodeLock,
  type NodeRecoveryRecord,
} from './recovery-repo.ts';

export interface RecoveryConfig {
  /** Automatic failover for clusters that did not turn it off (nines recovery off). */
  readonly enabled: boolean;
  /** A second automatic failover of a cluster within this time after one is refused (anti-flap). */
  readonly cooldownMs: number;
  /** Bound on one replica host's check of the primary's port (and on reading the proxies). */
  readonly portCheckMs: number;
  readonly timeouts: RecoveryTimeouts;
  /** Pause between rejoin attempts of a fenced node (doubles after each real failure, up to 60 s). */
  readonly rejoinIntervalMs: number;
}

export const DEFAULT_RECOVERY_CONFIG: RecoveryConfig = {
  enabled: true,
  cooldownMs: 300_000,
  portCheckMs: 1000,
  timeouts: { positionMs: 1000, fenceMs: 1500, catchUpMs: 10_000, verbMs: 10_000 },
  rejoinIntervalMs: 2000,
};

export interface RecoveryServiceOptions {
  readonly store: Store;
  readonly events: EventBus;
  readonly jobs: JobRunner;
  readonly logger: Logger;
  readonly alarms: AlarmRepo;
  readonly notify: Pick<NotifyHub, 'notifyTransitions'>;
  readonly config: RecoveryConfig;
  engineFor(type: ClusterSpec['type']): Engine;
  /** Cached executors for the cluster's hosts (kept open: a failover cannot wait for SSH handshakes). */
  hosts(spec: ClusterSpec): HostAccess;
  fullSpec(cluster: string): ClusterSpec;
  readonly now?: () => number;
}

/** What recovery shows for a cluster (status route, CLI). */
export interface RecoveryStatus {
  readonly cluster: string;
  readonly supported: boolean;
  readonly enabled: boolean;
  readonly primary: string | null;
  readonly detection: Detection | null;
  readonly plan: FailoverPlan | null;
  readonly cooldownUntil: number | null;
  readonly running: FailoverRecord | null;
  readonly last: FailoverRecord | null;
  readonly nodes: readonly NodeRecoveryRecord[];
  /** Nodes self-healing leaves alone (nines node lock). */
  readonly locks: readonly NodeLock[];
}

interface ClusterRecovery extends Announced {
  snapshot: ClusterSnapshot | undefined;
  proxies: readonly ProxyStates[];
  evaluating: Promise<void> | undefined;
  pending: boolean;
  plan: FailoverPlan | null;
  running: { executor: FailoverExecutor; done: Promise<FailoverRecord>; abort: AbortController } | undefined;
  readonly detector: Detector;
  /** The last observation of each node that reached it (the ack state at the moment of failure). */
  /**
   * Every node's observation from the latest snapshot in which the primary was healthy: how commits were
   * acknowledged right before the failure (the replicas' semi-sync/sync state).
   */
  ackBasis: Map<string, NodeObservation | undefined>;
  /** A starting failover (the preflight runs): no second one meanwhile. */
  starting: boolean;
}

/** How long stop() waits for running failovers and evaluations to notice the abort. */
const STOP_WAIT_MS = 10_000;
/** After a failed attempt to arm a primary's fence, the next waits this long. */
const ARM_RETRY_MS = 5000;

export class RecoveryService {
  readonly repo: RecoveryRepo;
  private readonly o: RecoveryServiceOptions;
  private readonly alarms: RecoveryAlarms;
  private readonly rejoins: RejoinLoop;
  private readonly heal: SelfHeal;
  private readonly armed: ArmedFences;
  private readonly announcer: Announcer;
  private readonly clusters = new Map<string, ClusterRecovery>();
  private readonly now: () => number;
  private stopped = false;
  private readonly stopAll = new AbortController();
  private unsubscribe: (() => void) | undefined;

  constructor(options: RecoveryServiceOptions) {
    this.o = options;
    this.repo = new RecoveryRepo(options.store.db);
    this.now = options.now ?? Date.now;
    this.alarms = new RecoveryAlarms({
      alarms: options.alarms,
      events: options.events,
      notify: options.notify,
      logger: options.logger,
      now: this.now,
    });
    this.announcer = new Announcer(this.alarms, options.events);
    this.armed = new ArmedFences({
      events: options.events,
      logger: options.logger,
      ctx: (spec) => this.ctx(spec, this.stopAll.signal),
      armMs: options.config.timeouts.positionMs,
      retryMs: ARM_RETRY_MS,
      now: this.now,
    });
    this.rejoins = new RejoinLoop({
      repo: this.repo,
      inventory: options.store.inventory,
      events: options.events,
      alarms: this.alarms,
      logger: options.logger,
      hosts: (spec) => options.hosts(spec),
      ctx: (spec, log) => this.ctx(spec, this.stopAll.signal, log),
      primaryOf: (c) => this.primaryOf(c),
      enabled: (c) => options.config.enabled && this.repo.enabled(c),
      fenceMs: options.config.timeouts.fenceMs,
      rejoinMs: options.config.timeouts.verbMs * 3,
      rejoinIntervalMs: options.config.rejoinIntervalMs,
      signal: this.stopAll.signal,
      now: this.now,
    });
    this.heal = new SelfHeal({
      store: options.store,
      repo: this.repo,
      events: options.events,
      alarms: this.alarms,
      logger: options.logger,
      hosts: (spec) => options.hosts(spec),
      ctx: (spec, log) => this.ctx(spec, this.stopAll.signal, log),
      enabled: (c) => options.config.enabled && this.repo.enabled(c),
      failoverRunning: (c) =>
        this.clusters.get(c)?.running !== undefined || this.clusters.get(c)?.starting === true,
      verbMs: options.config.timeouts.verbMs,
      signal: this.stopAll.signal,
      now: this.now,
    });
  }

  /** Resumes failovers a stopped controller left unfinished; forgets deleted clusters' state. */
  start(): void {
    this.unsubscribe = this.o.events.subscribe((e) => {
      if (e.type === 'cluster.deleted' && e.cluster) {
        this.repo.forget(e.cluster);
        this.clusters.delete(e.cluster);
        this.armed.drop(e.cluster);
        this.heal.forget(e.cluster);
      }
    });
    for (const f of this.repo.unfinished()) {
      if (!this.o.store.inventory.hasCluster(f.cluster)) continue;
      this.log(f.cluster, `resuming ${f.kind} ${f.id} after a controller restart (phase ${f.phase})`);
      this.o.events.emit({
        cluster: f.cluster,
        type: 'failover.resumed',
        severity: 'warning',
        message: `${f.kind} ${f.id} of ${f.cluster} resumes after a controller restart from phase ${f.phase}`,
        data: { failover: f.id, phase: f.phase },
      });
      try {
        this.launch(f.cluster, f);
      } catch (err) {
        this.o.logger.error({ err, cluster: f.cluster }, `cannot resume failover ${f.id}`);
      }
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    this.stopAll.abort();
    const running = [...this.clusters.values()].flatMap((c) => (c.running ? [c.running.done] : []));
    const evaluating = [...this.clusters.values()].flatMap((c) => (c.evaluating ? [c.evaluating] : []));
    // Every verb is bounded and aborted by stopAll; the bound here only keeps a stuck one from holding the stop.
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), STOP_WAIT_MS);
    });
    const outcome = await Promise.race([
      Promise.allSettled([
        ...running,
        ...evaluating,
        this.rejoins.drain(),
        this.armed.stop(),
        this.heal.drain(),
      ]),
      late,
    ]);
    clearTimeout(timer);
    if (outcome === 'late') this.o.logger.warn(`recovery did not stop within ${STOP_WAIT_MS} ms; leaving it`);
  }

  private state(cluster: string): ClusterRecovery {
    let s = this.clusters.get(cluster);
    if (!s) {
      s = {
        snapshot: undefined,
        proxies: [],
        evaluating: undefined,
        pending: false,
        detection: null,
        decision: null,
        plan: null,
        running: undefined,
        detector: new Detector(),
        ackBasis: new Map(),
        starting: false,
        refusal: undefined,
      };
      this.clusters.set(cluster, s);
    }
    return s;
  }

  private log(cluster: string, msg: string): void {
    this.o.logger.info({ cluster }, msg);
  }

  /** Nodes fenced or diverged, by host:port (the monitor keeps their inventory role as recovery set it). */
  fencedNodes(cluster: string): ReadonlySet<string> {
    return new Set(this.repo.nodeStates(cluster).map((n) => n.node));
  }

  /** The monitor's hook: every snapshot of every cluster. Never throws, never blocks the monitor. */
  onSnapshot(snapshot: ClusterSnapshot, proxies: readonly ProxyStates[]): void {
    if (this.stopped) return;
    const s = this.state(snapshot.cluster);
    s.snapshot = snapshot;
    s.proxies = proxies;
    if (s.evaluating) {
      s.pending = true;
      return;
    }
    const run = async (): Promise<void> => {
      do {
        s.pending = false;
        try {
          await this.evaluate(snapshot.cluster, s);
        } catch (err) {
          this.o.logger.error({ err, cluster: snapshot.cluster }, 'recovery evaluation failed');
        }
      } while (s.pending && !this.stopped);
      s.evaluating = undefined;
    };
    s.evaluating = run();
  }

  private recoveryOf(spec: ClusterSpec): ReplicationRecovery | undefined {
    return this.o.engineFor(spec.type).recovery;
  }

  /** The node the inventory knows as primary (exactly one, not fenced); undefined otherwise. */
  private primaryOf(cluster: string): string | undefined {
    const fenced = this.fencedNodes(cluster);
    const primaries = this.o.store.inventory
      .listNodes(cluster)
      .filter((n) => n.role === 'primary' && !fenced.has(nodeKey(n)));
    return primaries.length === 1 ? nodeKey(primaries[0] as { host: string; port: number }) : undefined;
  }

  private ctx(spec: ClusterSpec, signal: AbortSignal, log?: (line: string) => void): RecoveryContext {
    return {
      spec,
      hosts: this.o.hosts(spec),
      signal,
      log: log ?? ((l) => this.log(spec.name, l)),
    };
  }

  private keepAckBasis(s: ClusterRecovery, snapshot: ClusterSnapshot, primary: string): void {
    const p = snapshot.nodes.find((n) => nodeKey(n) === primary);
    if (p?.observation?.reachable === true) {
      s.ackBasis = new Map(snapshot.nodes.map((n) => [nodeKey(n), n.observation]));
    }
  }

  private async evaluate(cluster: string, s: ClusterRecovery): Promise<void> {
    const snapshot = s.snapshot;
    if (!snapshot || !this.o.store.inventory.hasCluster(cluster)) return;
    const spec = this.o.fullSpec(cluster);
    const engine = this.o.engineFor(spec.type);
    this.heal.pass(spec, engine, snapshot, s.proxies, this.primaryOf(cluster));
    const recovery = engine.recovery;
    if (!recovery) return;
    await this.rejoins.pass(spec, recovery, snapshot, s.running !== undefined);
    const primary = this.primaryOf(cluster);
    if (primary === undefined) {
      s.detection = null;
      s.plan = null;
      return;
    }
    s.plan = livePlan({
      spec,
      recovery,
      snapshot,
      observations: new Map(snapshot.nodes.map((n) => [nodeKey(n), n.observation])),
      excluded: excludedNodes(this.repo.nodeStates(cluster), snapshot, this.now()),
      primary,
      maxApplyBacklogSeconds: Math.ceil(this.o.config.timeouts.catchUpMs / 1000),
    });
    const detection = await s.detector.detect({
      spec,
      recovery,
      snapshot,
      primary,
      proxies: s.proxies,
      hosts: this.o.hosts(spec),
      ctx: (signal) => this.ctx(spec, signal),
      portCheckMs: this.o.config.portCheckMs,
      signal: this.stopAll.signal,
      now: this.now,
    });
    const primarySnap = snapshot.nodes.find((n) => nodeKey(n) === primary);
    // How commits were acknowledged is taken from the last tick the primary was seen healthy by everyone: once
    // trouble starts (a partition, say), the replicas' and the primary's own view of who acknowledges fades
    // before the failure is declared.
    if (detection.action === 'healthy') {
      this.keepAckBasis(s, snapshot, primary);
      const node = spec.nodes.find((n) => nodeKey(n) === primary);
      if (node) this.armed.keep(spec, recovery, node);
    }
    this.announcer.settle(spec, s, detection);
    if (detection.action !== 'failed' && detection.action !== 'unreachable-from-controller') return;
    const maintenance =
      inMaintenance(snapshot.maintenance, snapshot.time) ||
      inMaintenance(primarySnap?.maintenance, snapshot.time);
    const cooldown = checkCooldown({
      now: this.now(),
      lastFailoverAt: this.repo.lastDoneAt(cluster),
      cooldownMs: this.o.config.cooldownMs,
    });
    const decision = decideAutoFailover({
      detection,
      enabled: this.o.config.enabled && this.repo.enabled(cluster),
      maintenance,
      cooldown,
      running: s.running !== undefined || s.starting,
    });
    this.announcer.decided(spec, s, decision, detection);
    if (decision.action === 'failover') {
      await this.startFailover(spec, s, {
        kind: 'failover',
        trigger: 'automatic',
        oldPrimary: primary,
        reason: decision.reason,
        forced: false,
        requestedBy: null,
        detection,
      });
    }
  }

  // ---- running failovers

  private async startFailover(
    spec: ClusterSpec,
    s: ClusterRecovery,
    f: {
      kind: FailoverKind;
      trigger: 'automatic' | 'manual';
      oldPrimary: string;
      reason: string;
      forced: boolean;
      requestedBy: string | null;
      detection?: Detection;
      target?: string;
    },
  ): Promise<FailoverRecord | undefined> {
    s.starting = true;
    let chosen: Chosen;
    try {
      chosen = await chooseCandidate(
        {
          recovery: this.recoveryOf(spec) as ReplicationRecovery,
          spec,
          hosts: this.o.hosts(spec),
          signal: this.stopAll.signal,
          timeouts: this.o.config.timeouts,
          observations: s.ackBasis,
          excluded: excludedNodes(this.repo.nodeStates(spec.name), s.snapshot, this.now()),
        },
        {
          kind: f.kind,
          oldPrimary: f.oldPrimary,
          forced: f.forced,
          ...(f.target ? { target: f.target } : {}),
        },
      );
    } catch (err) {
      s.starting = false;
      if (!(err instanceof Abort)) throw err;
      if (f.trigger === 'manual')
        throw new NinesError('NINES_E_FAILOVER_REFUSED', err.message, { context: { cluster: spec.name } });
      this.announcer.refused(spec, s, err.message);
      return undefined;
    }
    s.refusal = undefined;
    const record = this.repo.createFailover({
      cluster: spec.name,
      kind: f.kind,
      trigger: f.trigger,
      oldPrimary: f.oldPrimary,
      forced: f.forced,
      reason: f.reason,
      requestedBy: f.requestedBy,
      data: {
        ...(f.detection ? { detection: { reason: f.detection.reason, agreeing: f.detection.agreeing } } : {}),
        ...(f.target ? { target: f.target } : {}),
        ...FailoverExecutor.chosenData(chosen),
      },
      now: this.now(),
    });
    this.repo.update(record.id, this.now(), { candidate: chosen.candidate });
    this.o.events.emit({
      cluster: spec.name,
      type: 'failover.detected',
      severity: f.kind === 'failover' ? 'critical' : 'warning',
      message:
        f.kind === 'failover'
          ? `failing over ${spec.name} (${f.trigger}${f.forced ? ', forced' : ''}): ${f.reason}`
          : `switchover of ${spec.name} from ${f.oldPrimary}${f.target ? ` to ${f.target}` : ''} requested${f.requestedBy ? ` by ${f.requestedBy}` : ''}`,
      data: {
        failover: record.id,
        kind: f.kind,
        trigger: f.trigger,
        oldPrimary: f.oldPrimary,
        reason: f.reason,
      },
    });
    preemptWritingJobs(this.o, spec.name, record.id);
    const started = this.repo.getFailover(record.id) as FailoverRecord;
    this.launch(spec.name, started, s);
    s.starting = false;
    return started;
  }

  private launch(cluster: string, record: FailoverRecord, state?: ClusterRecovery): void {
    const s = state ?? this.state(cluster);
    const spec = this.o.fullSpec(cluster);
    const recovery = this.recoveryOf(spec);
    if (!recovery) throw new NinesError('NINES_E_FAILOVER_UNSUPPORTED', spec.type);
    const abort = new AbortController();
    const signal = AbortSignal.any([abort.signal, this.stopAll.signal]);
    const hosts = this.o.hosts(spec);
    const deps: ExecutorDeps = {
      repo: this.repo,
      inventory: this.o.store.inventory,
      events: this.o.events,
      logger: this.o.logger,
      engine: this.o.engineFor(spec.type),
      recovery,
      spec,
      hosts,
      timeouts: this.o.config.timeouts,
      observations: s.ackBasis,
      excluded: excludedNodes(this.repo.nodeStates(spec.name), s.snapshot, this.now()),
      updateEndpoint: (ctx, topology) => updateEndpoint(ctx, topology),
      cutWriter: (server, sig) => cutWriter(spec, hosts, server, sig, this.o.config.portCheckMs),
      fenceWhenAnswers: (node) => this.rejoins.fenceWhenAnswers(spec, recovery, node),
      fireArmedFence: (node) => {
        if (this.armed.fire(spec, node)) this.log(spec.name, `${nodeKey(node)}: armed fence fired`);
      },
      signal,
      now: this.now,
    };
    const executor = new FailoverExecutor(deps, record);
    const done = executor
      .run()
      .then((final) => {
        this.alarms.afterFailover(cluster, final);
        return final;
      })
      .catch((err: unknown) => {
        this.o.logger.error({ err, cluster }, `failover ${record.id} stopped`);
        return this.repo.getFailover(record.id) as FailoverRecord;
      })
      .finally(() => {
        if (s.running?.executor === executor) s.running = undefined;
      });
    s.running = { executor, done, abort };
  }

  // ---- what the API offers

  status(cluster: string): RecoveryStatus {
    const spec = this.o.fullSpec(cluster);
    const s = this.state(cluster);
    const failovers = this.repo.listFailovers(cluster, 1);
    const last = failovers[0] ?? null;
    const lastDone = this.repo.lastDoneAt(cluster);
    const cooldownUntil =
      lastDone !== null && lastDone + this.o.config.cooldownMs > this.now()
        ? lastDone + this.o.config.cooldownMs
        : null;
    return {
      cluster,
      supported: this.recoveryOf(spec) !== undefined,
      enabled: this.o.config.enabled && this.repo.enabled(cluster),
      primary: this.primaryOf(cluster) ?? null,
      detection: s.detection,
      plan: s.plan,
      cooldownUntil,
      running: last && !isFinal(last.phase) ? last : null,
      last,
      nodes: this.repo.nodeStates(cluster),
      locks: this.repo.locks(cluster),
    };
  }

  /** `nines node lock|unlock`: self-healing leaves a locked node alone. */
  setLock(cluster: string, node: NodeSpec, locked: boolean, o: { reason?: string; by?: string | null }) {
    return setNodeLock({ repo: this.repo, events: this.o.events, now: this.now() }, cluster, node, locked, o);
  }

  /** `nines cluster recover`: a full-cluster recovery now (Galera), forced or not. */
  recoverCluster(cluster: string, force: boolean): Promise<ClusterRecoveryResult> {
    const spec = this.o.fullSpec(cluster);
    return this.heal.recoverCluster(spec, this.o.engineFor(spec.type), force);
  }

  setEnabled(cluster: string, enabled: boolean, by: string | null): RecoveryStatus {
    this.repo.setEnabled(cluster, enabled, by, this.now());
    this.o.events.emit({
      cluster,
      type: enabled ? 'recovery.enabled' : 'recovery.disabled',
      severity: enabled ? 'info' : 'warning',
      message: `automatic recovery of ${cluster} turned ${enabled ? 'on' : 'off'}${by ? ` by ${by}` : ''}`,
      data: { enabled, by },
    });
    return this.status(cluster);
  }

  /** The primary a requested failover/switchover starts from; throws why it cannot start now. */
  private requestable(spec: ClusterSpec, s: ClusterRecovery, kind: FailoverKind): string {
    return requestablePrimary({
      spec,
      kind,
      supported: this.recoveryOf(spec) !== undefined,
      running: s.running ? String(s.running.executor.id) : s.starting ? 'starting' : undefined,
      primary: this.primaryOf(spec.name),
      snapshot: s.snapshot,
    });
  }

  /** A failover or switchover the operator asked for. Resolves when it has started (not finished). */
  async request(
    cluster: string,
    kind: FailoverKind,
    options: { to?: string; force?: boolean; by?: string | null },
  ): Promise<FailoverRecord> {
    const spec = this.o.fullSpec(cluster);
    const s = this.state(cluster);
    const primary = this.requestable(spec, s, kind);
    const target = options.to === undefined ? undefined : resolveTarget(spec, options.to, primary);
    const record = await this.startFailover(spec, s, {
      kind,
      trigger: 'manual',
      oldPrimary: primary,
      reason:
        kind === 'failover'
          ? `failover requested${options.by ? ` by ${options.by}` : ''}`
          : `switchover requested${options.by ? ` by ${options.by}` : ''}`,
      forced: options.force === true,
      requestedBy: options.by ?? null,
      ...(target ? { target } : {}),
    });
    if (!record) throw new NinesError('NINES_E_FAILOVER_REFUSED', `cluster ${cluster}`);
    return record;
  }

  /** Waits for the running failover of a cluster (tests, CLI follow). */
  async settled(cluster: string): Promise<FailoverRecord | undefined> {
    return this.clusters.get(cluster)?.running?.done;
  }

  getFailover(cluster: string, id: number): FailoverRecord {
    return this.repo.failoverOf(cluster, id);
  }

  listFailovers(cluster: string, limit = 50): FailoverRecord[] {
    return this.repo.listFailovers(cluster, limit);
  }

  /** `nines node rebuild`: the node is re-cloned from the primary (runs as the node.rebuild job). */
  async rebuild(
    cluster: string,
    node: NodeSpec,
    signal: AbortSignal,
    log: (line: string) => void,
  ): Promise<void> {
    const spec = this.o.fullSpec(cluster);
    const recovery = this.recoveryOf(spec);
    if (!recovery) throw new NinesError('NINES_E_FAILOVER_UNSUPPORTED', spec.type);
    const primaryKey = this.primaryOf(cluster);
    const primary = spec.nodes.find((n) => nodeKey(n) === primaryKey);
    if (!primary) throw new NinesError('NINES_E_NO_PRIMARY', `cluster ${cluster}`);
    if (nodeKey(primary) === nodeKey(node)) {
      throw new NinesError(
        'NINES_E_INVALID_ARGUMENT',
        `${nodeKey(node)} is the primary: nothing to rebuild it from`,
      );
    }
    await recovery.rebuild(this.ctx(spec, signal, log), node, primary);
    await this.rejoins.rebuilt(spec, node, primary);
  }
}
