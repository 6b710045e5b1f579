// One run of the drill: workload and pollers on, the fault on the primary's host, wait for a new primary and for
// writes to be acknowledged again, revert the fault, wait for the old primary to be a replica, read back the ids,
// compute the figures. Every wait is bounded by the run's deadline; the fault is always reverted and the workload
// and pollers always stopped (also when the job is cancelled).
import { toNinesError } from '../../core/errors.ts';
import {
  drillRunFigures,
  writableSince,
  type DrillRunFigures,
  type WritabilitySample,
} from '../../core/recovery/drill.ts';
import { credentialSecrets, redactText } from '../../core/redact.ts';
import type { ClusterSpec, NodeSpec } from '../../core/spec.ts';
import type { AppUser } from '../../engines/registry.ts';
import type { EventBus } from '../events.ts';
import type { EventRecord } from '../store/event-repo.ts';
import type { Store } from '../store/store.ts';
import { primaries, REVERT, type DrillParams, type LabMatch } from './params.ts';
import {
  overlapView,
  type DrillRunReport,
  type DrillStage,
  type StageRecord,
  type TimelineEntry,
} from './report.ts';
import type { DrillSql } from './sql.ts';
import { WritabilityPollers, Workload } from './workload.ts';

/** The knobs of a run (tests shorten them). */
export interface DrillTiming {
  /** Between two polls of a node. */
  readonly pollIntervalMs: number;
  /** A poll without an answer within this is unknown. */
  readonly sampleBoundMs: number;
  /** A write without an acknowledgement within this failed. */
  readonly writeTimeoutMs: number;
  /** The baseline (writes flowing, one writable primary, cluster healthy) waits at most this long. */
  readonly baselineMs: number;
  /** Reading the ids back on the new primary. */
  readonly verifyMs: number;
  /** Between two looks at the inventory while waiting. */
  readonly waitStepMs: number;
}

export const DEFAULT_TIMING: DrillTiming = {
  pollIntervalMs: 100,
  sampleBoundMs: 500,
  writeTimeoutMs: 1000,
  baselineMs: 60_000,
  verifyMs: 15_000,
  waitStepMs: 100,
};

/** Whether the controller would fail over now, and its sentence (the live plan's reason, or why not). */
export interface FailoverReadiness {
  readonly ready: boolean;
  readonly reason: string;
}

/** Applies a lab fault to a lab host; the drill's only way of touching hosts. */
export type FaultFn = (lab: string, host: string, fault: string) => Promise<void>;

export interface RunEnv {
  readonly cluster: string;
  readonly spec: ClusterSpec;
  readonly params: DrillParams;
  readonly lab: LabMatch;
  readonly app: AppUser;
  readonly target: { readonly host: string; readonly port: number };
  readonly sql: DrillSql;
  readonly fault: FaultFn;
  readonly store: Store;
  readonly events: EventBus;
  readonly jobId: number;
  readonly signal: AbortSignal;
  readonly timing: DrillTiming;
  /** See DrillDeps.failoverReadiness. */
  readonly readiness?: (cluster: string) => FailoverReadiness | undefined;
  log(line: string): void;
}

class StageFailed extends Error {}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

/** Sleeps ms, or less when the signal aborts (its listener removed either way). */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/** Waits until check() returns a value, or throws StageFailed(onTimeout()) at the deadline. */
async function waitFor<T>(
  env: RunEnv,
  deadline: number,
  check: () => T | undefined,
  onTimeout: () => string,
): Promise<T> {
  for (;;) {
    env.signal.throwIfAborted();
    const v = check();
    if (v !== undefined) return v;
    if (Date.now() >= deadline) throw new StageFailed(onTimeout());
    await pause(Math.max(0, Math.min(env.timing.waitStepMs, deadline - Date.now())), env.signal);
  }
}

/** Every event of the cluster after `since` (oldest first), at most `max`. */
function eventsSince(store: Store, cluster: string, since: number, max = 2000): EventRecord[] {
  const out: EventRecord[] = [];
  let last = since;
  while (out.length < max) {
    const batch = store.events.list({ cluster, since: last, limit: 1000 });
    out.push(...batch);
    const tail = batch.at(-1);
    if (!tail || batch.length < 1000) break;
    last = tail.id;
  }
  return out.slice(0, max);
}

function nodeKey(n: Pick<NodeSpec, 'host' | 'port'>): string {
  return `${n.host}:${n.port}`;
}

/** State of one run, filled in as its stages pass. */
interface RunState {
  readonly stages: StageRecord[];
  failure: { stage: DrillStage; reason: string } | undefined;
  oldPrimary: NodeSpec | undefined;
  faultHost: string | undefined;
  faultStarted: number | undefined;
  faultAt: number | undefined;
  newPrimary: string | undefined;
  newPrimaryAt: number | undefined;
  revertedAt: number | undefined;
  rejoinedAt: number | undefined;
  present: Set<number> | null;
  eventsFrom: number;
  lastWriteError: string | undefined;
}

export class DrillRun {
  readonly #env: RunEnv;
  readonly #run: number;
  readonly #firstId: number;
  readonly #started: number;
  readonly #deadline: number;
  readonly #workload: Workload;
  readonly #pollers: WritabilityPollers;
  readonly #s: RunState;
  readonly #secrets: string[];

  constructor(env: RunEnv, run: number, firstId: number) {
    this.#env = env;
    this.#run = run;
    this.#firstId = firstId;
    this.#started = Date.now();
    this.#deadline = this.#started + env.params.timeoutMs;
    this.#secrets = [env.app.password, ...credentialSecrets(env.spec.credentials)];
    this.#s = {
      stages: [],
      failure: undefined,
      oldPrimary: undefined,
      faultHost: undefined,
      faultStarted: undefined,
      faultAt: undefined,
      newPrimary: undefined,
      newPrimaryAt: undefined,
      revertedAt: undefined,
      rejoinedAt: undefined,
      present: null,
      eventsFrom: env.store.events.lastId(),
      lastWriteError: undefined,
    };
    this.#workload = new Workload({
      sql: env.sql,
      target: env.target,
      app: env.app,
      rate: env.params.rate,
      writeTimeoutMs: env.timing.writeTimeoutMs,
      firstId,
      onError: (message) => {
        const clean = this.#redact(message);
        this.#s.lastWriteError = clean;
        this.#log(`write error: ${clean}`);
      },
    });
    this.#pollers = new WritabilityPollers({
      sql: env.sql,
      spec: env.spec,
      nodes: env.spec.nodes,
      intervalMs: env.timing.pollIntervalMs,
      boundMs: env.timing.sampleBoundMs,
    });
  }

  #redact(text: string): string {
    return redactText(text, this.#secrets);
  }

  #log(line: string): void {
    this.#env.log(`run ${this.#run}: ${line}`);
  }

  /** Runs the stage unless an earlier one failed; records its time and outcome. Cancellation propagates. */
  async #stage(stage: DrillStage, fn: () => Promise<string>, always = false): Promise<void> {
    if (this.#s.failure && !always) return;
    const started = Date.now();
    try {
      const detail = await fn();
      this.#s.stages.push({ stage, ok: true, ms: Date.now() - started, detail });
      this.#log(`${stage}: ${detail}`);
    } catch (err) {
      if (this.#env.signal.aborted) throw err;
      const reason =
        err instanceof StageFailed
          ? err.message
          : this.#redact(`${toNinesError(err).code}: ${toNinesError(err).message}`);
      this.#s.stages.push({ stage, ok: false, ms: Date.now() - started, detail: reason });
      this.#s.failure ??= { stage, reason };
      this.#log(`${stage} did not finish: ${reason}`);
    }
  }

  async execute(): Promise<DrillRunReport> {
    const env = this.#env;
    this.#pollers.start();
    this.#workload.start();
    let stopped = false;
    try {
      await this.#stage('baseline', () => this.#baseline());
      await this.#stage('fault', () => this.#inject());
      await this.#stage('failover', () => this.#awaitNewPrimary());
      await this.#stage('writes', () => this.#awaitWrites());
      if (this.#s.faultStarted !== undefined) await this.#stage('revert', () => this.#revert(), true);
      await this.#stage('rejoin', () => this.#awaitRejoin());
      await Promise.all([this.#workload.stop(), this.#pollers.stop()]);
      stopped = true;
      // Lost writes are worth measuring whenever there is a new primary, even when a later stage failed.
      if (this.#s.newPrimary !== undefined) await this.#stage('verify', () => this.#verify(), true);
    } finally {
      if (this.#s.faultStarted !== undefined && this.#s.revertedAt === undefined) {
        // Cancelled (or the revert stage was never reached): undo the fault before anything else.
        await this.#revert().catch((err: unknown) =>
          env.log(`run ${this.#run}: revert failed: ${this.#redact(toNinesError(err).message)}`),
        );
      }
      if (!stopped) await Promise.all([this.#workload.stop(), this.#pollers.stop()]);
    }
    return this.#report();
  }

  #inventoryPrimaries(): string[] {
    return primaries(this.#env.store.inventory.listNodes(this.#env.cluster));
  }

  /** What the workload and the pollers say is not ready yet (empty when both are). */
  #trafficProblems(minAcks: number, primary: string | undefined): string[] {
    const problems: string[] = [];
    const { acknowledged, lastAckAt } = this.#workload.progress();
    if (acknowledged < minAcks) problems.push(`${acknowledged} of ${minAcks} writes acknowledged`);
    else if (Date.now() - lastAckAt > 1000) problems.push('no write acknowledged in the last second');
    const latest = this.#pollers.latest();
    const unpolled = this.#env.spec.nodes.filter((n) => !latest.has(nodeKey(n))).map(nodeKey);
    if (unpolled.length > 0) problems.push(`not polled yet: ${unpolled.join(', ')}`);
    const writable = [...latest.values()].filter((s) => s.state === 'writable').map((s) => s.node);
    if (primary !== undefined && (writable.length !== 1 || writable[0] !== primary))
      problems.push(`writable now: ${writable.join(', ') || 'none'} (primary ${primary})`);
    return problems;
  }

  /** What the controller says is not ready yet: the monitor's health, the live failover plan. */
  #controllerProblems(): string[] {
    const problems: string[] = [];
    const health = this.#health();
    if (health !== undefined && health.state !== 'healthy')
      problems.push(`cluster ${health.state}: ${health.reason}`);
    const plan = this.#env.readiness?.(this.#env.cluster);
    if (plan && !plan.ready) problems.push(`the controller would not fail over now: ${plan.reason}`);
    return problems;
  }

  async #baseline(): Promise<string> {
    const env = this.#env;
    const minAcks = Math.max(3, Math.ceil(env.params.rate / 2));
    let missing = 'nothing observed yet';
    const deadline = Math.min(this.#deadline, Date.now() + env.timing.baselineMs);
    const primary = await waitFor(
      env,
      deadline,
      () => {
        const found = this.#inventoryPrimaries();
        const problems = [
          ...(found.length === 1 ? [] : [`the inventory names ${found.length} primaries`]),
          ...this.#trafficProblems(minAcks, found.length === 1 ? found[0] : undefined),
          ...this.#controllerProblems(),
        ];
        missing = problems.join('; ');
        return problems.length === 0 ? found[0] : undefined;
      },
      () => `the cluster was not ready to drill within ${seconds(deadline - this.#started)}: ${missing}`,
    );
    const node = env.spec.nodes.find((n) => nodeKey(n) === primary);
    if (!node) throw new StageFailed(`the inventory primary ${primary} is not a node of the spec`);
    this.#s.oldPrimary = node;
    const { acknowledged } = this.#workload.progress();
    const health = this.#health();
    const plan = env.readiness?.(env.cluster);
    return `${acknowledged} writes acknowledged; primary ${primary} (${env.lab.hostNames[node.host] ?? '?'}) the only writable node${health ? `; cluster ${health.state}` : ''}${plan ? `; ${plan.reason}` : ''}`;
  }

  /** The monitor's health of the cluster in the inventory, when the monitor wrote one. */
  #health(): { state: string; reason: string } | undefined {
    const observed = this.#env.store.inventory.getCluster(this.#env.cluster)?.observed;
    const h = observed?.health as { state?: unknown; reason?: unknown } | undefined;
    if (!h || typeof h.state !== 'string') return undefined;
    return { state: h.state, reason: typeof h.reason === 'string' ? h.reason : '' };
  }

  async #inject(): Promise<string> {
    const env = this.#env;
    const node = this.#s.oldPrimary;
    const host = node ? env.lab.hostNames[node.host] : undefined;
    if (!node || host === undefined) throw new StageFailed('no primary to inject the fault on');
    this.#s.faultHost = host;
    this.#s.eventsFrom = env.store.events.lastId();
    this.#s.faultStarted = Date.now();
    await env.fault(env.lab.lab, host, env.params.fault);
    this.#s.faultAt = Date.now();
    const ms = this.#s.faultAt - this.#s.faultStarted;
    env.events.emit({
      cluster: env.cluster,
      type: 'drill.fault',
      severity: 'warning',
      message: `drill: ${env.params.fault} of ${host} (primary ${nodeKey(node)}), run ${this.#run}`,
      data: { jobId: env.jobId, run: this.#run, fault: env.params.fault, host, node: nodeKey(node) },
    });
    return `${env.params.fault} of ${host} (primary ${nodeKey(node)}) in ${ms} ms`;
  }

  async #awaitNewPrimary(): Promise<string> {
    const env = this.#env;
    const old = nodeKey(this.#s.oldPrimary ?? { host: '', port: 0 });
    const faultAt = this.#s.faultAt ?? Date.now();
    const found = await waitFor(
      env,
      this.#deadline,
      () => {
        const others = this.#inventoryPrimaries().filter((p) => p !== old);
        if (others.length === 0) return undefined;
        // Several new ones would be a bug of the failover: prefer the one the pollers see writable.
        const latest = this.#pollers.latest();
        return others.find((p) => latest.get(p)?.state === 'writable') ?? others[0];
      },
      () => this.#noFailoverReason(old),
    );
    this.#s.newPrimary = found;
    this.#s.newPrimaryAt = Date.now();
    return `new primary ${found} (${env.lab.hostNames[found.slice(0, found.lastIndexOf(':'))] ?? '?'}) ${seconds(this.#s.newPrimaryAt - faultAt)} after the fault`;
  }

  #noFailoverReason(old: string): string {
    const env = this.#env;
    const found = this.#inventoryPrimaries();
    const named =
      found.length === 0
        ? 'the inventory names no primary'
        : `the inventory names ${found.join(', ')}${found.length === 1 && found[0] === old ? ' (the faulted node)' : ''} as primary`;
    const failover = eventsSince(env.store, env.cluster, this.#s.eventsFrom).filter((e) =>
      e.type.startsWith('failover.'),
    );
    const last = failover.at(-1);
    const events = last
      ? `${failover.length} failover event(s), the last ${last.type}: ${last.message}`
      : 'no failover.* event was recorded';
    return `no new primary within ${seconds(env.params.timeoutMs)} of the run's start: ${named}; ${events}`;
  }

  async #awaitWrites(): Promise<string> {
    const env = this.#env;
    const faultAt = this.#s.faultAt ?? Date.now();
    const first = await waitFor(
      env,
      this.#deadline,
      () => this.#workload.firstAckAfter(faultAt),
      () =>
        `writes through ${env.target.host}:${env.target.port} not acknowledged again within ${seconds(env.params.timeoutMs)} of the run's start${this.#s.lastWriteError ? ` (last error ${this.#s.lastWriteError})` : ''}`,
    );
    return `writes acknowledged again ${seconds(first - faultAt)} after the fault`;
  }

  async #revert(): Promise<string> {
    const env = this.#env;
    const host = this.#s.faultHost ?? '';
    const revert = REVERT[env.params.fault];
    const started = Date.now();
    await env.fault(env.lab.lab, host, revert);
    this.#s.revertedAt = Date.now();
    env.events.emit({
      cluster: env.cluster,
      type: 'drill.reverted',
      severity: 'info',
      message: `drill: ${revert} of ${host}, run ${this.#run}`,
      data: { jobId: env.jobId, run: this.#run, fault: revert, host },
    });
    return `${revert} of ${host} in ${this.#s.revertedAt - started} ms`;
  }

  async #awaitRejoin(): Promise<string> {
    const env = this.#env;
    const old = this.#s.oldPrimary;
    if (!old) throw new StageFailed('no old primary');
    const key = nodeKey(old);
    const since = this.#s.revertedAt ?? Date.now();
    let scanned = this.#s.eventsFrom;
    const diverged = (): EventRecord | undefined => {
      const fresh = eventsSince(env.store, env.cluster, scanned);
      scanned = fresh.at(-1)?.id ?? scanned;
      return fresh.find((e) => e.type === 'node.diverged' && JSON.stringify(e.data).includes(key));
    };
    await waitFor(
      env,
      this.#deadline,
      () => {
        const d = diverged();
        if (d) throw new StageFailed(`the old primary ${key} diverged: ${d.message}`);
        const row = env.store.inventory.listNodes(env.cluster).find((n) => nodeKey(n) === key);
        return row?.role === 'replica' ? true : undefined;
      },
      () => {
        const row = env.store.inventory.listNodes(env.cluster).find((n) => nodeKey(n) === key);
        return `the old primary ${key} was not a replica again within ${seconds(env.params.timeoutMs)} of the run's start (inventory role ${row?.role ?? 'none'}, state ${row?.state ?? '?'})`;
      },
    );
    this.#s.rejoinedAt = Date.now();
    return `old primary ${key} is a replica again ${seconds(this.#s.rejoinedAt - since)} after the revert`;
  }

  async #verify(): Promise<string> {
    const env = this.#env;
    const target = this.#s.newPrimary;
    const node = env.spec.nodes.find((n) => nodeKey(n) === target);
    if (!node) throw new StageFailed(`the new primary ${target ?? '?'} is not a node of the spec`);
    const lastId = this.#workload.lastId;
    const conn = await env.sql.openAdmin(env.spec, node, env.timing.verifyMs, env.app.database);
    try {
      const ids = await conn.ids(this.#firstId, lastId);
      this.#s.present = new Set(ids);
    } finally {
      conn.close();
    }
    return `${this.#s.present.size} of ids ${this.#firstId}-${lastId} present on ${target}`;
  }

  #timeline(faultAt: number): TimelineEntry[] {
    const env = this.#env;
    return eventsSince(env.store, env.cluster, this.#s.eventsFrom)
      .filter((e) => !(e.type.startsWith('job.') && e.data.jobId === env.jobId))
      .map((e) => ({
        atMs: Date.parse(e.time) - faultAt,
        time: e.time,
        type: e.type,
        severity: e.severity,
        message: e.message,
      }));
  }

  /** Writable answers of the old primary after the revert, while another node was primary. */
  #oldPrimaryWritableAfterRevert(samples: readonly WritabilitySample[]): number {
    const s = this.#s;
    if (!s.oldPrimary || !s.newPrimary || s.revertedAt === undefined) return 0;
    return writableSince(samples, nodeKey(s.oldPrimary), s.revertedAt).samples;
  }

  #reason(f: DrillRunFigures): string {
    if (this.#s.failure) return this.#s.failure.reason;
    const rto = f.rtoMs === null ? '?' : seconds(f.rtoMs);
    const lost = f.lostAcknowledged?.length ?? '?';
    return `recovered: new primary ${this.#s.newPrimary ?? '?'}, RTO ${rto}, ${lost} acknowledged write(s) lost, at most ${f.overlaps.maxWritable} writable node(s) at once`;
  }

  #report(): DrillRunReport {
    const s = this.#s;
    const samples = this.#pollers.samples();
    const at = s.faultAt;
    const faultAt = at ?? Date.now();
    const f = drillRunFigures({
      acks: this.#workload.acks(),
      faultAt,
      present: s.present,
      samples,
      ...(s.revertedAt !== undefined ? { revertedAt: s.revertedAt } : {}),
    });
    // Times relative to the fault; none when the fault never took effect.
    const rel = (t: number | null | undefined): number | null =>
      at === undefined || t == null ? null : t - at;
    return {
      run: this.#run,
      fault: this.#env.params.fault,
      recovered: s.failure === undefined,
      failedStage: s.failure?.stage ?? null,
      reason: this.#reason(f),
      oldPrimary: s.oldPrimary ? nodeKey(s.oldPrimary) : null,
      faultHost: s.faultHost ?? null,
      newPrimary: s.newPrimary ?? null,
      faultAt: at === undefined ? null : new Date(at).toISOString(),
      faultCommandMs: at === undefined || s.faultStarted === undefined ? null : at - s.faultStarted,
      newPrimaryAfterMs: rel(s.newPrimaryAt),
      revertedAfterMs: rel(s.revertedAt),
      rejoinedAfterMs: rel(s.rejoinedAt),
      rtoMs: at === undefined ? null : f.rtoMs,
      lastAckBeforeMs: rel(f.lastAckBefore),
      firstAckAfterMs: rel(f.firstAckAfter),
      writes: {
        firstId: this.#firstId,
        lastId: this.#workload.lastId,
        sent: f.sent,
        acknowledged: f.acknowledged,
        failed: f.failed,
        lostAcknowledged: f.lostAcknowledged,
        unacknowledgedPresent: f.unacknowledgedPresent?.length ?? null,
      },
      writable: {
        maxWritable: f.overlaps.maxWritable,
        proven: f.overlaps.proven.map((o) => overlapView(o, faultAt)),
        possible: f.overlaps.possible.map((o) => overlapView(o, faultAt)),
        oldPrimaryAfterRevert: this.#oldPrimaryWritableAfterRevert(samples),
        samples: samples.length,
      },
      stages: s.stages,
      timeline: at === undefined ? [] : this.#timeline(at),
    };
  }
}
