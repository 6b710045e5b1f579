// Runs one failover or switchover through its persisted phases (core/recovery/phases.ts):
//   detected --fence-old-primary--> fenced --wait-candidate-caught-up--> caught-up --promote-candidate--> promoted
//   --repoint-replicas--> repointed --switch-endpoint--> endpoint-switched --finish--> done   (| aborted)
// Each phase is stored only after its step's effect was verified, so a controller killed at any point resumes with
// the next step and never repeats a completed one (the engine verbs are idempotent too, for the step that was
// running). The candidate is chosen, and the loss bound proven, in the first step before anything is changed: a
// failover that cannot prove its bound aborts without touching the cluster. After promotion there is no way back:
// failures retry forward until the endpoint is consistent.
import { NinesError, toNinesError } from '../../core/errors.ts';
import { nodeKey, type NodeObservation } from '../../core/monitor/observation.ts';
import { rankCandidates, type CandidateInput } from '../../core/recovery/candidates.ts';
import { NEXT_STEP, isFinal, type FailoverPhase, type FailoverStep } from '../../core/recovery/phases.ts';
import { proveRpo, type RpoDecision } from '../../core/recovery/rpo.ts';
import type { ClusterSpec, NodeSpec } from '../../core/spec.ts';
import type {
  AckState,
  Engine,
  RecoveryContext,
  ReplicationPosition,
  ReplicationRecovery,
  Topology,
} from '../../engines/engine.ts';
import type { EndpointContext, EndpointResult } from '../../proxies/endpoint.ts';
import { serverName } from '../../proxies/endpoint-view.ts';
import type { EventBus } from '../events.ts';
import type { Logger } from '../logger.ts';
import type { Severity } from '../store/event-repo.ts';
import type { InventoryRepo } from '../store/inventory-repo.ts';
import type { FailoverKind, FailoverRecord, RecoveryRepo } from './recovery-repo.ts';

export interface RecoveryTimeouts {
  /** Bound on reading one node's position. */
  readonly positionMs: number;
  /** Bound on fencing the old primary (a dead host must not hold the failover up). */
  readonly fenceMs: number;
  /** How long the candidate may take to apply what it received. */
  readonly catchUpMs: number;
  /** Bound on promote / repoint / demote. */
  readonly verbMs: number;
}

export interface ExecutorDeps {
  readonly repo: RecoveryRepo;
  readonly inventory: InventoryRepo;
  readonly events: EventBus;
  readonly logger: Logger;
  readonly engine: Engine;
  readonly recovery: ReplicationRecovery;
  readonly spec: ClusterSpec;
  readonly hosts: RecoveryContext['hosts'];
  readonly timeouts: RecoveryTimeouts;
  /** The monitor's last observations by host:port (for the ack state at the moment of the failure). */
  readonly observations: ReadonlyMap<string, NodeObservation | undefined>;
  /** Nodes (host:port) in a maintenance window, or fenced/diverged: never candidates. */
  readonly excluded: ReadonlyMap<string, string>;
  /** The endpoint switch (src/proxies/endpoint.ts updateEndpoint; replaceable in tests). */
  updateEndpoint(ctx: EndpointContext, topology: Topology): Promise<EndpointResult>;
  /** Takes the old primary out of every proxy's write backend at once (runtime API), best effort. */
  cutWriter(server: string, signal: AbortSignal): Promise<string[]>;
  /** The old primary could not be fenced (it did not answer): a fence waits for its first answer from now on. */
  fenceWhenAnswers?(node: NodeSpec): void;
  /** Fires the old primary's armed fence (engines with armFence), when the controller holds one for it. */
  fireArmedFence?(node: NodeSpec): void;
  readonly signal: AbortSignal;
  now(): number;
}

export interface Chosen {
  readonly candidate: string;
  readonly positions: Record<string, { label: string; received: string | null; reachable: boolean }>;
  readonly rpo: RpoDecision;
  readonly ranking: string;
}

const key = (n: Pick<NodeSpec, 'host' | 'port'>): string => nodeKey(n);

/** Thrown by a step that must stop the failover before promotion (nothing changed, or nothing unsafe). */
export class Abort extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

export class FailoverExecutor {
  private readonly d: ExecutorDeps;
  private record: FailoverRecord;
  private readonly started: number;
  /** Repoints started with the promotion (repointsBeforePromotion engines), awaited by the repoint step. */
  private early: Promise<PromiseSettledResult<void>[]> | undefined;

  constructor(deps: ExecutorDeps, record: FailoverRecord) {
    this.d = deps;
    this.record = record;
    this.started = deps.now();
  }

  get id(): number {
    return this.record.id;
  }

  private node(address: string): NodeSpec {
    const n = this.d.spec.nodes.find((x) => key(x) === address);
    if (!n) throw new NinesError('NINES_E_NODE_NOT_FOUND', `${address} is not a node of ${this.d.spec.name}`);
    return n;
  }

  private get old(): NodeSpec {
    return this.node(this.record.oldPrimary);
  }

  private others(except: readonly string[]): NodeSpec[] {
    return this.d.spec.nodes.filter((n) => !except.includes(key(n)));
  }

  log(line: string): void {
    const now = this.d.now();
    this.d.repo.appendLog(this.record.id, line, now);
    this.d.logger.info({ cluster: this.d.spec.name, failover: this.record.id }, line);
  }

  private emit(type: string, severity: Severity, message: string, data: Record<string, unknown> = {}): void {
    this.d.events.emit({
      cluster: this.d.spec.name,
      type,
      severity,
      message,
      data: {
        failover: this.record.id,
        kind: this.record.kind,
        trigger: this.record.trigger,
        oldPrimary: this.record.oldPrimary,
        ...(this.record.candidate ? { candidate: this.record.candidate } : {}),
        ...data,
      },
    });
  }

  private ctx(): RecoveryContext {
    return { spec: this.d.spec, hosts: this.d.hosts, signal: this.d.signal, log: (l) => this.log(l) };
  }

  private advance(
    phase: FailoverPhase,
    change: { data?: Record<string, unknown>; candidate?: string } = {},
  ): void {
    this.record = this.d.repo.advance(this.record.id, phase, this.d.now(), change);
    const ms = this.d.now() - this.record.startedAt;
    this.emit('failover.phase', 'info', `${this.record.kind} ${this.record.id}: ${phase} (${ms} ms)`, {
      phase,
      elapsedMs: ms,
    });
  }

  /** Runs the remaining steps; resolves with the final record (done, or aborted with its reason). */
  async run(): Promise<FailoverRecord> {
    while (!isFinal(this.record.phase)) {
      const step = NEXT_STEP[this.record.phase] as FailoverStep;
      try {
        await this.runStep(step);
      } catch (err) {
        if (err instanceof Abort || this.beforePromotion()) {
          this.abort(err);
          break;
        }
        // After promotion: never back. Log, wait a little and retry the step (bounded by the signal).
        const e = toNinesError(err);
        this.log(`step ${step} failed: ${e.code}: ${e.message}; retrying`);
        this.emit(
          'failover.retry',
          'error',
          `${this.record.kind} ${this.record.id}: ${step} failed: ${e.message}`,
          {
            step,
            code: e.code,
          },
        );
        if (this.d.signal.aborted) throw err;
        await new Promise((r) => setTimeout(r, 1000).unref());
      }
    }
    return this.record;
  }

  private beforePromotion(): boolean {
    return ['detected', 'fenced', 'caught-up'].includes(this.record.phase);
  }

  private abort(err: unknown): void {
    const e =
      err instanceof Abort
        ? { code: err.code, message: err.message }
        : (({ code, message, hint }) => ({ code, message, ...(hint ? { hint } : {}) }))(toNinesError(err));
    this.record = this.d.repo.advance(this.record.id, 'aborted', this.d.now(), { error: e });
    this.log(`aborted: ${e.message}`);
    this.emit(
      err instanceof Abort && err.code === 'NINES_E_FAILOVER_REFUSED'
        ? 'failover.refused'
        : 'failover.aborted',
      'critical',
      `${this.record.kind} ${this.record.id} of ${this.d.spec.name} aborted: ${e.message}`,
      { code: e.code, reason: e.message },
    );
  }

  private async runStep(step: FailoverStep): Promise<void> {
    switch (step) {
      case 'fence-old-primary':
        return this.fenceStep();
      case 'wait-candidate-caught-up':
        return this.catchUpStep();
      case 'promote-candidate':
        return this.promoteStep();
      case 'repoint-replicas':
        return this.repointStep();
      case 'switch-endpoint':
        return this.endpointStep();
      case 'finish':
        return this.finishStep();
    }
  }

  // ---- detected -> fenced: choose the candidate (and prove the loss bound), then fence the old primary.

  private ackState(): AckState {
    return this.d.recovery.ackState(this.d.spec, this.record.oldPrimary, this.d.observations);
  }

  private async readPositions(nodes: readonly NodeSpec[]): Promise<ReplicationPosition[]> {
    return Promise.all(
      nodes.map((n) => this.d.recovery.readPosition(this.ctx(), n, this.d.timeouts.positionMs)),
    );
  }

  private async choose(): Promise<Chosen> {
    const target = typeof this.record.data.target === 'string' ? this.record.data.target : undefined;
    return chooseCandidate(this.d, {
      kind: this.record.kind,
      oldPrimary: this.record.oldPrimary,
      forced: this.record.forced,
      ...(target ? { target } : {}),
    });
  }

  /** The data a failover stores for its chosen candidate. */
  static chosenData(chosen: Chosen): Record<string, unknown> {
    return {
      positions: chosen.positions,
      rpo: { ...chosen.rpo, observedGap: chosen.rpo.observedGap?.toString() ?? null },
      ranking: chosen.ranking,
    };
  }

  private async fenceStep(): Promise<void> {
    if (this.record.candidate === null) {
      const chosen = await this.choose();
      this.d.repo.update(this.record.id, this.d.now(), {
        candidate: chosen.candidate,
        data: FailoverExecutor.chosenData(chosen),
      });
      this.record = this.d.repo.getFailover(this.record.id) as FailoverRecord;
      this.log(`candidate ${chosen.ranking}; ${chosen.rpo.reason}`);
    }
    const old = this.old;
    const candidate = this.node(this.record.candidate as string);
    // First: a statement already in the old primary's socket is what a frozen one runs at its thaw.
    if (this.record.kind === 'failover') this.d.fireArmedFence?.(old);
    const [cut, fence] = await Promise.all([
      this.d
        .cutWriter(serverName(old), this.d.signal)
        .catch((err: unknown) => [`cutting the writer failed: ${toNinesError(err).message}`]),
      this.record.kind === 'switchover'
        ? this.d.recovery
            .demote(this.ctx(), old, this.d.timeouts.verbMs)
            .then((p) => ({ fenced: true, how: `demoted at ${p.label}`, position: p }))
        : this.d.recovery
            .fence(this.ctx(), old, this.d.timeouts.fenceMs)
            .then((f) => ({ ...f, position: undefined })),
      // Overlaps the fence: the replicas' waits for their links to the dead primary to stop (promote and repoint
      // repeat it). The candidate's is on the promotion's path and awaited; the others' repoints wait for theirs.
      this.record.kind === 'switchover' ? undefined : this.stopReceiving(candidate, old),
    ]);
    this.log(`endpoint: ${cut.join('; ') || 'old primary out of the write backends'}`);
    if (!fence.fenced) {
      // The detection proved nobody reaches it (controller, replicas, proxies); it cannot take writes through the
      // endpoint, and it stays marked fenced: the first time it answers it is fenced before anything else.
      if (this.record.kind === 'switchover')
        throw new Abort('NINES_E_FAILOVER_FENCE', `cannot demote ${key(old)}: ${fence.how}`);
      this.log(
        `${key(old)} not reachable to fence (${fence.how}); marked fenced, fenced when it answers again`,
      );
    } else {
      this.log(`${key(old)} fenced: ${fence.how}`);
    }
    this.d.repo.setNodeState({
      cluster: this.d.spec.name,
      node: key(old),
      state: 'fenced',
      reason: `former primary (${this.record.kind} ${this.record.id})`,
      failoverId: this.record.id,
      now: this.d.now(),
    });
    this.d.inventory.updateNode(this.d.spec.name, old, { role: null, state: 'fenced' });
    if (!fence.fenced) this.d.fenceWhenAnswers?.(old);
    this.advance('fenced', {
      data: {
        fence: fence.how,
        ...(fence.position
          ? {
              finalPosition: fence.position.appliedText ?? fence.position.receivedText,
              finalLabel: fence.position.label,
            }
          : {}),
      },
    });
  }

  private async stopReceiving(candidate: NodeSpec, old: NodeSpec): Promise<void> {
    const stop = this.d.recovery.stopReceiving?.bind(this.d.recovery);
    if (!stop) return;
    const one = async (n: NodeSpec): Promise<void> => {
      try {
        await stop(this.ctx(), n, this.d.timeouts.verbMs);
      } catch (err) {
        this.log(
          `${key(n)}: could not stop receiving early (${toNinesError(err).message}); promote or repoint does it`,
        );
      }
    };
    for (const n of this.others([key(candidate), key(old)])) void one(n);
    await one(candidate);
  }

  // ---- fenced -> caught-up

  private async catchUpStep(): Promise<void> {
    const candidate = this.node(this.record.candidate as string);
    const final = this.record.data.finalPosition;
    const p =
      typeof final === 'string' && final !== ''
        ? await this.d.recovery.waitPosition(this.ctx(), candidate, final, this.d.timeouts.catchUpMs)
        : await this.d.recovery.waitApplied(this.ctx(), candidate, this.d.timeouts.catchUpMs);
    this.log(`${key(candidate)} applied everything it received: ${p.label}`);
    this.advance('caught-up', { data: { candidatePosition: p.label } });
  }

  // ---- caught-up -> promoted: every other node confirmed read-only first.

  private async promoteStep(): Promise<void> {
    const cand = this.record.candidate as string;
    const candidate = this.node(cand);
    const rest = this.others([cand, this.record.oldPrimary]);
    const positions = await this.readPositions(rest);
    for (const p of positions) {
      if (p.readOnly === false) {
        const f = await this.d.recovery.fence(this.ctx(), this.node(p.node), this.d.timeouts.fenceMs);
        if (!f.fenced)
          throw new NinesError(
            'NINES_E_FAILOVER_FENCE',
            `${p.node} accepts writes and could not be made read-only: ${f.how}`,
          );
        this.log(`${p.node} accepted writes: made read-only (${f.how})`);
      }
    }
    const followers = rest.filter((n) => positions.find((p) => p.node === key(n))?.reachable === true);
    // Engines whose replicas can follow the candidate before it is promoted (MariaDB: its binlog serves them)
    // repoint them meanwhile: a replica whose STOP SLAVE waits for an IO thread stuck connecting to a dead host
    // does not add its wait to the promotion's.
    if (this.d.recovery.repointsBeforePromotion === true) {
      this.early = Promise.allSettled(
        rest.map((n) => this.d.recovery.repoint(this.ctx(), n, candidate, this.d.timeouts.verbMs)),
      );
    }
    const promoted = await this.d.recovery.promote(this.ctx(), candidate, followers, this.d.timeouts.verbMs);
    this.d.inventory.updateNode(this.d.spec.name, candidate, { role: 'primary', state: 'ok' });
    this.log(`${cand} promoted: ${promoted.label}`);
    this.advance('promoted', { data: { promotedAt: promoted.label } });
  }

  // ---- promoted -> repointed

  private async repointStep(): Promise<void> {
    const cand = this.record.candidate as string;
    const primary = this.node(cand);
    const rest = this.others([cand, this.record.oldPrimary]);
    const early = this.early;
    this.early = undefined;
    const results = await (early ??
      Promise.allSettled(
        rest.map((n) => this.d.recovery.repoint(this.ctx(), n, primary, this.d.timeouts.verbMs)),
      ));
    const repointed: string[] = [];
    const failed: string[] = [];
    results.forEach((r, i) => {
      const n = rest[i] as NodeSpec;
      if (r.status === 'fulfilled') {
        repointed.push(key(n));
        this.d.inventory.updateNode(this.d.spec.name, n, { role: 'replica' });
      } else {
        failed.push(`${key(n)} (${toNinesError(r.reason).message})`);
      }
    });
    this.log(
      `repointed to ${cand}: ${repointed.join(', ') || 'none'}${failed.length > 0 ? `; not repointed: ${failed.join('; ')} (left to the monitor's alarms and nines node rebuild)` : ''}`,
    );
    this.advance('repointed', { data: { repointed, notRepointed: failed } });
  }

  // ---- repointed -> endpoint-switched

  private topology(): Topology {
    const cand = this.record.candidate as string;
    const repointed = Array.isArray(this.record.data.repointed)
      ? (this.record.data.repointed as string[])
      : [];
    return {
      type: this.d.spec.type,
      nodes: this.d.spec.nodes.map((n) => {
        const k = key(n);
        const role = k === cand ? 'primary' : repointed.includes(k) ? 'replica' : 'unknown';
        return { host: n.host, port: n.port, role, readOnly: role !== 'primary' };
      }),
    };
  }

  private async endpointStep(): Promise<void> {
    if (!this.d.spec.endpoint) {
      this.advance('endpoint-switched', { data: { endpoint: 'no endpoint configured' } });
      return;
    }
    const lines: string[] = [];
    const result = await this.d.updateEndpoint(
      {
        spec: this.d.spec,
        hosts: this.d.hosts,
        signal: this.d.signal,
        log: (l) => lines.push(l),
        step: (_name, fn) => fn(),
      },
      this.topology(),
    );
    const summary = result.proxies.map((p) => `${p.host} ${p.action}`).join(', ');
    this.log(`endpoint: writer ${result.view.writer ?? 'none'} on ${summary}`);
    this.advance('endpoint-switched', { data: { endpoint: summary } });
  }

  // ---- endpoint-switched -> done

  private async finishStep(): Promise<void> {
    const cand = this.record.candidate as string;
    if (this.record.kind === 'switchover') {
      // The old primary becomes a replica of the new one (a failed rejoin leaves it fenced for the rejoin loop).
      try {
        const r = await this.d.recovery.rejoin(
          this.ctx(),
          this.old,
          this.node(cand),
          this.d.timeouts.catchUpMs,
        );
        if (r.action === 'rejoined') {
          this.d.repo.clearNodeState(this.d.spec.name, this.record.oldPrimary);
          this.d.inventory.updateNode(this.d.spec.name, this.old, { role: 'replica', state: 'ok' });
          this.log(`${this.record.oldPrimary} follows ${cand}: ${r.reason}`);
        } else this.log(`${this.record.oldPrimary} not rejoined: ${r.reason}`);
      } catch (err) {
        this.log(
          `${this.record.oldPrimary} not rejoined yet: ${toNinesError(err).message} (retried by the rejoin loop)`,
        );
      }
    }
    const ms = this.d.now() - this.record.startedAt;
    const rpo = this.record.data.rpo as { reason?: string } | undefined;
    this.record = this.d.repo.advance(this.record.id, 'done', this.d.now(), { data: { durationMs: ms } });
    const followers = Array.isArray(this.record.data.repointed)
      ? (this.record.data.repointed as string[])
      : [];
    const message = `${this.record.kind} ${this.record.id} of ${this.d.spec.name} done in ${ms} ms: ${cand} is the primary${followers.length > 0 ? `, ${followers.join(', ')} follow` : ''}; ${rpo?.reason ?? ''}`;
    this.log(message);
    this.emit('failover.done', 'warning', message, { durationMs: ms, newPrimary: cand, followers });
  }

  /** For tests and logs: how long this run has taken. */
  elapsedMs(): number {
    return this.d.now() - this.started;
  }
}

/**
 * Chooses the candidate and proves the loss bound, before anything is changed (also run by the service before a
 * failover record exists, so a refusal is a decision, not an aborted failover). Throws Abort
 * (NINES_E_FAILOVER_REFUSED) with the reason when no replica may be promoted.
 */
export async function chooseCandidate(
  d: Pick<
    ExecutorDeps,
    'recovery' | 'spec' | 'hosts' | 'signal' | 'timeouts' | 'observations' | 'excluded'
  > & {
    log?(line: string): void;
  },
  f: { kind: FailoverKind; oldPrimary: string; forced: boolean; target?: string },
): Promise<Chosen> {
  const ctx: RecoveryContext = { spec: d.spec, hosts: d.hosts, signal: d.signal, log: (l) => d.log?.(l) };
  const old = d.spec.nodes.find((n) => key(n) === f.oldPrimary);
  const replicas = d.spec.nodes.filter((n) => key(n) !== f.oldPrimary);
  // A switchover's reference for errant transactions is the live primary; a failover's, the dead primary's last
  // observed position.
  const [positions, live] = await Promise.all([
    Promise.all(replicas.map((n) => d.recovery.readPosition(ctx, n, d.timeouts.positionMs))),
    f.kind === 'switchover' && old ? d.recovery.readPosition(ctx, old, d.timeouts.positionMs) : undefined,
  ]);
  const ack = f.kind === 'switchover' ? undefined : d.recovery.ackState(d.spec, f.oldPrimary, d.observations);
  const reference = live ? live.receivedText : (ack?.primaryPositionText ?? null);
  const inputs = candidateInputs(d, positions, reference);
  const ranking = rankCandidates(f.target ? inputs.filter((c) => c.node === f.target) : inputs, {
    primaryDatacenter: old?.datacenter ?? 'default',
    maxApplyBacklogSeconds: Math.ceil(d.timeouts.catchUpMs / 1000),
    force: f.forced,
  });
  const byNode = Object.fromEntries(
    positions.map((p) => [p.node, { label: p.label, received: p.receivedText, reachable: p.reachable }]),
  );
  const excludedText = ranking.excluded.map((e) => `${e.node} ${e.reason}`).join('; ');
  const best = ranking.candidates[0];
  if (!best) throw noCandidate(f.target, excludedText);
  const rpo = rpoFor(d.spec, best.node, positions, ack, f.forced);
  if (rpo.action === 'refuse') throw new Abort('NINES_E_FAILOVER_REFUSED', rpo.reason);
  const label = positions.find((p) => p.node === best.node)?.label ?? '';
  return {
    candidate: best.node,
    positions: byNode,
    rpo,
    ranking: `${best.node} (${label}, ${best.reason})${excludedText ? `; excluded: ${excludedText}` : ''}`,
  };
}

function noCandidate(target: string | undefined, excluded: string): Abort {
  const requested = target ? ` (requested ${target})` : '';
  return new Abort(
    'NINES_E_FAILOVER_REFUSED',
    `not failing over: no replica can be promoted${requested}: ${excluded || 'no replicas'}`,
  );
}

function candidateInputs(
  d: {
    readonly spec: ClusterSpec;
    readonly recovery: ReplicationRecovery;
    readonly excluded: ReadonlyMap<string, string>;
  },
  positions: readonly ReplicationPosition[],
  reference: string | null,
): CandidateInput[] {
  return positions.map((p) => {
    const spec = d.spec.nodes.find((n) => key(n) === p.node) as NodeSpec;
    const excluded = d.excluded.get(p.node);
    return {
      node: p.node,
      reachable: p.reachable,
      received: p.received,
      applied: p.applied,
      applyBacklogSeconds: p.applyBacklogSeconds,
      datacenter: spec.datacenter,
      priority: spec.priority,
      applyError: p.applyError,
      errantTransactions: d.recovery.errantTransactions(p, reference),
      ...(excluded === 'maintenance' ? { inMaintenance: true } : excluded ? { fenced: true } : {}),
    };
  });
}

/** The loss bound of promoting `candidate` (a switchover's is proven by its wait for the final position). */
function rpoFor(
  spec: ClusterSpec,
  candidate: string,
  positions: readonly ReplicationPosition[],
  ack: AckState | undefined,
  forced: boolean,
): RpoDecision {
  if (!ack) {
    return {
      action: 'promote',
      reason: 'switchover: the candidate receives everything before promotion',
      proven: true,
      observedGap: 0n,
    };
  }
  return proveRpo({
    mode: ack.mode,
    candidate,
    replicas: positions.map((p) => ({
      node: p.node,
      reachable: p.reachable,
      received: p.received,
      inAckSet: ack.ackSet.has(p.node),
    })),
    primaryLastPosition: ack.primaryPosition,
    unit: ack.unit,
    force: forced,
    acceptAsyncLoss: spec.options.acceptAsyncLoss === true,
  });
}
