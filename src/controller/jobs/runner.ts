// The job runner: durable queue in SQLite, at most one writing job per cluster (FIFO), reading jobs concurrent,
// cancel, checkpointed steps, and restart safety (a job found `running` at start is resumed or failed with
// NINES_E_JOB_INTERRUPTED — never left running).
import { NinesError, toNinesError } from '../../core/errors.ts';
import { parseOrThrow } from '../../core/validation.ts';
import type { EventBus } from '../events.ts';
import type { Logger } from '../logger.ts';
import type { Severity } from '../store/event-repo.ts';
import type { JobError, JobRecord, JobState } from '../store/job-repo.ts';
import { TERMINAL_STATES } from '../store/job-repo.ts';
import type { Store } from '../store/store.ts';
import type { JobContext, JobType, JobUpdate } from './types.ts';

export interface SubmitRequest {
  readonly type: string;
  readonly cluster?: string | null;
  readonly params?: Readonly<Record<string, unknown>>;
  /** Stored encrypted with the job, handed to the handler through ctx.secrets(). */
  readonly secrets?: Readonly<Record<string, string>>;
  readonly requestedBy?: string | null;
}

interface Running {
  readonly id: number;
  readonly abort: AbortController;
  readonly type: JobType<never>;
  readonly cluster: string;
  cancelRequested: boolean;
  /** Controller stopping: resumable jobs stop at their next checkpoint. */
  stopRequested: boolean;
  currentStep: string | null;
  done: Promise<void>;
}

const jobError = (err: NinesError): JobError => ({ code: err.code, message: err.message, hint: err.hint });
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms).unref());

export class JobRunner {
  private readonly store: Store;
  private readonly events: EventBus;
  private readonly logger: Logger;
  private readonly maxConcurrent: number;
  private readonly types = new Map<string, JobType<never>>();
  private readonly running = new Map<number, Running>();
  private readonly watchers = new Map<number, Set<(u: JobUpdate) => void>>();
  private started = false;
  private stopping = false;
  private pumpScheduled = false;

  constructor(opts: { store: Store; events: EventBus; logger: Logger; maxConcurrent: number }) {
    this.store = opts.store;
    this.events = opts.events;
    this.logger = opts.logger;
    this.maxConcurrent = opts.maxConcurrent;
  }

  registerJobType<P>(type: JobType<P>): void {
    if (this.types.has(type.type)) throw new Error(`job type ${type.type} is already registered`);
    this.types.set(type.type, type as unknown as JobType<never>);
  }

  jobType(name: string): JobType<never> | undefined {
    return this.types.get(name);
  }

  get runningCount(): number {
    return this.running.size;
  }

  /** Queues a job. Validates its params against the type's schema. */
  submit(req: SubmitRequest): JobRecord {
    if (this.stopping) throw new NinesError('NINES_E_SHUTTING_DOWN');
    const type = this.types.get(req.type);
    if (!type) throw new NinesError('NINES_E_JOB_TYPE_UNKNOWN', req.type, { context: { type: req.type } });
    const params = (
      type.params
        ? parseOrThrow(type.params, req.params ?? {}, 'NINES_E_INVALID_ARGUMENT', { prefix: ['params'] })
        : (req.params ?? {})
    ) as Record<string, unknown>;
    const cluster = req.cluster ?? null;
    const job = this.store.jobs.insert({
      type: req.type,
      cluster,
      writes: type.writes,
      params,
      secretsEnc: req.secrets
        ? this.store.box.seal(JSON.stringify(req.secrets), secretsAad(req.type, cluster))
        : null,
      requestedBy: req.requestedBy ?? null,
    });
    this.emit(job, 'job.queued', 'info', `job ${job.id} ${job.type} queued`);
    this.schedulePump();
    return job;
  }

  /** Queued: cancelled at once. Running: its signal is aborted and it ends `cancelled` at its next await. */
  cancel(id: number, by?: string): JobRecord {
    const job = this.store.jobs.get(id);
    if (!job) throw new NinesError('NINES_E_JOB_NOT_FOUND', `job ${id}`, { context: { id } });
    if (TERMINAL_STATES.has(job.state)) {
      throw new NinesError('NINES_E_JOB_NOT_CANCELLABLE', `job ${id} is ${job.state}`, { context: { id } });
    }
    const run = this.running.get(id);
    if (run) {
      run.cancelRequested = true;
      this.appendLog(id, `cancel requested${by ? ` by ${by}` : ''}`);
      run.abort.abort(new NinesError('NINES_E_JOB_CANCELLED', `job ${id}`));
      return this.store.jobs.mustGet(id);
    }
    this.finish(
      job,
      'cancelled',
      new NinesError('NINES_E_JOB_CANCELLED', `job ${id} was cancelled while queued`),
    );
    this.schedulePump();
    return this.store.jobs.mustGet(id);
  }

  /** Live updates (log lines, state/progress changes) of one job. Returns the unsubscribe function. */
  watch(id: number, listener: (u: JobUpdate) => void): () => void {
    let set = this.watchers.get(id);
    if (!set) {
      set = new Set();
      this.watchers.set(id, set);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.watchers.delete(id);
    };
  }

  /**
   * Startup: every job found `running` was interrupted by a crash or a kill. Resumable types go back to the
   * queue (completed steps will be skipped); the others fail with NINES_E_JOB_INTERRUPTED and the reason.
   */
  recover(): void {
    for (const job of this.store.jobs.byState('running')) {
      const interrupted = this.store.jobs.runningSteps(job.id);
      const stepName = interrupted[0]?.name ?? job.currentStep;
      const reason = stepName
        ? `controller stopped while step '${stepName}' ran`
        : 'controller stopped while the job ran';
      const err = new NinesError('NINES_E_JOB_INTERRUPTED', reason, {
        context: { id: job.id, step: stepName },
      });
      for (const s of interrupted)
        this.store.jobs.finishStep(job.id, s.seq, 'interrupted', undefined, jobError(err));
      if (this.types.get(job.type)?.resumable) {
        this.store.jobs.requeue(job.id);
        this.appendLog(job.id, `${reason}; resuming (completed steps are skipped)`);
        this.emit(job, 'job.resumed', 'warning', `job ${job.id} ${job.type} will resume: ${reason}`);
      } else {
        this.appendLog(job.id, `${reason}; the job type cannot resume, marking it failed`);
        this.finish(job, 'failed', err);
      }
    }
  }

  /** Recovers interrupted jobs and starts running the queue. */
  start(): void {
    this.recover();
    this.started = true;
    this.schedulePump();
  }

  /**
   * Graceful stop: no new jobs start; resumable jobs stop at their next checkpoint (and resume on the next start),
   * others may finish. After graceMs everything still running is aborted and recorded as interrupted.
   */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    for (const run of this.running.values()) if (run.type.resumable) run.stopRequested = true;
    const all = (): Promise<unknown> => Promise.allSettled([...this.running.values()].map((r) => r.done));
    await Promise.race([all(), sleep(graceMs)]);
    for (const run of this.running.values()) {
      run.stopRequested = true;
      run.abort.abort(new NinesError('NINES_E_SHUTTING_DOWN'));
    }
    await Promise.race([all(), sleep(1000)]);
    // Handlers that ignore their signal: record them as interrupted now; recover() handles the rest next start.
    for (const run of this.running.values())
      this.settleStopped(run, new Error('did not stop within the grace period'));
    this.running.clear();
  }

  private schedulePump(): void {
    if (this.pumpScheduled || !this.started) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    if (this.stopping) return;
    const busy = new Set<string>();
    for (const run of this.running.values()) if (run.type.writes) busy.add(run.cluster);
    for (const job of this.store.jobs.byState('queued')) {
      if (this.running.size >= this.maxConcurrent) return;
      const type = this.types.get(job.type);
      if (!type) {
        this.finish(
          job,
          'failed',
          new NinesError('NINES_E_JOB_TYPE_UNKNOWN', `${job.type} (not registered)`),
        );
        continue;
      }
      if (job.writes) {
        const key = job.cluster ?? '';
        if (busy.has(key)) continue; // FIFO: later writers of this cluster wait behind this one too
        busy.add(key);
      }
      this.launch(job, type);
    }
  }

  private launch(job: JobRecord, type: JobType<never>): void {
    const run: Running = {
      id: job.id,
      abort: new AbortController(),
      type,
      cluster: job.cluster ?? '',
      cancelRequested: false,
      stopRequested: false,
      currentStep: null,
      done: Promise.resolve(),
    };
    this.running.set(job.id, run);
    this.store.jobs.markRunning(job.id);
    const current = this.store.jobs.mustGet(job.id);
    const resumed = current.attempts > 1;
    this.emit(
      current,
      'job.started',
      'info',
      `job ${job.id} ${job.type} ${resumed ? `resumed (attempt ${current.attempts})` : 'started'}`,
    );
    run.done = this.execute(current, run, resumed).finally(() => {
      this.running.delete(job.id);
      this.schedulePump();
    });
  }

  private async execute(job: JobRecord, run: Running, resumed: boolean): Promise<void> {
    const ctx = this.context(job, run, resumed);
    try {
      await run.type.run(ctx as JobContext<never>);
      if (!this.running.has(job.id)) return; // settled by stop() already
      this.finish(job, 'succeeded', null);
    } catch (err) {
      if (!this.running.has(job.id)) return;
      if (run.cancelRequested)
        this.finish(job, 'cancelled', new NinesError('NINES_E_JOB_CANCELLED', `job ${job.id}`));
      else if (run.stopRequested) this.settleStopped(run, err);
      else this.finish(job, 'failed', toNinesError(err));
    }
  }

  /** A job stopped by controller shutdown: resumable -> back to the queue; otherwise failed as interrupted. */
  private settleStopped(run: Running, cause: unknown): void {
    const job = this.store.jobs.get(run.id);
    if (!job || TERMINAL_STATES.has(job.state)) return;
    const reason = run.currentStep
      ? `controller stopped while step '${run.currentStep}' ran`
      : 'controller stopped while the job ran';
    if (run.type.resumable) {
      for (const s of this.store.jobs.runningSteps(run.id))
        this.store.jobs.finishStep(run.id, s.seq, 'interrupted');
      this.store.jobs.requeue(run.id);
      this.appendLog(run.id, `${reason}; the job will resume when the controller starts again`);
      this.emit(job, 'job.interrupted', 'warning', `job ${job.id} ${job.type} paused: ${reason}`);
      return;
    }
    const err = new NinesError('NINES_E_JOB_INTERRUPTED', reason, { cause, context: { id: run.id } });
    for (const s of this.store.jobs.runningSteps(run.id)) {
      this.store.jobs.finishStep(run.id, s.seq, 'interrupted', undefined, jobError(err));
    }
    this.finish(job, 'failed', err);
  }

  private context(job: JobRecord, run: Running, resumed: boolean): JobContext {
    const logger = this.logger.child({ jobId: job.id, jobType: job.type, cluster: job.cluster });
    const steps = new Set<string>();
    return {
      job,
      params: job.params,
      signal: run.abort.signal,
      resumed,
      logger,
      services: { store: this.store, events: this.events },
      step: <T>(name: string, fn: () => Promise<T> | T) => this.runStep(job, run, { name, fn, steps }),
      log: (line) => this.appendLog(job.id, line),
      progress: (pct) => {
        this.store.jobs.setProgress(job.id, Math.round(Math.min(100, Math.max(0, pct))));
        this.notify(job.id);
      },
      secrets: () => {
        const sealed = this.store.jobs.secretsEnc(job.id);
        if (!sealed) return {};
        return JSON.parse(this.store.box.open(sealed, secretsAad(job.type, job.cluster))) as Record<
          string,
          string
        >;
      },
      cluster: () => (job.cluster ? this.store.inventory.getCluster(job.cluster) : undefined),
    };
  }

  private async runStep<T>(
    job: JobRecord,
    run: Running,
    step: { name: string; fn: () => Promise<T> | T; steps: Set<string> },
  ): Promise<T> {
    const { name } = step;
    if (step.steps.has(name)) throw new Error(`step name '${name}' used twice in job type ${job.type}`);
    step.steps.add(name);
    const done = this.store.jobs.completedStep(job.id, name);
    if (done) {
      this.appendLog(job.id, `step ${name}: already done before the restart, skipped`);
      return done.result as T;
    }
    run.abort.signal.throwIfAborted();
    if (run.stopRequested) throw new NinesError('NINES_E_SHUTTING_DOWN', `before step '${name}'`);
    const seq = this.store.jobs.startStep(job.id, name, this.store.jobs.mustGet(job.id).attempts);
    run.currentStep = name;
    this.emit(job, 'job.step', 'info', `job ${job.id} step ${name} started`, {
      step: name,
      state: 'running',
    });
    try {
      const result = await step.fn();
      this.store.jobs.finishStep(job.id, seq, 'succeeded', result === undefined ? null : result);
      this.emit(job, 'job.step', 'info', `job ${job.id} step ${name} succeeded`, {
        step: name,
        state: 'succeeded',
      });
      return result;
    } catch (err) {
      const e = toNinesError(err);
      const state = run.cancelRequested ? 'cancelled' : run.stopRequested ? 'interrupted' : 'failed';
      this.store.jobs.finishStep(job.id, seq, state, undefined, jobError(e));
      this.emit(
        job,
        'job.step',
        state === 'failed' ? 'error' : 'warning',
        `job ${job.id} step ${name} ${state}`,
        {
          step: name,
          state,
          code: e.code,
        },
      );
      throw err;
    } finally {
      run.currentStep = null;
      this.store.jobs.setCurrentStep(job.id, null);
    }
  }

  private finish(job: JobRecord, state: JobState, err: NinesError | null): void {
    this.store.jobs.finish(job.id, state, err ? jobError(err) : null);
    if (err) this.appendLog(job.id, `${state}: ${err.code}: ${err.message}`);
    const severity: Severity = state === 'failed' ? 'error' : state === 'cancelled' ? 'warning' : 'info';
    this.emit(
      job,
      `job.${state}`,
      severity,
      `job ${job.id} ${job.type} ${state}${err ? `: ${err.message}` : ''}`,
      {
        ...(err ? { code: err.code } : {}),
      },
    );
  }

  private appendLog(id: number, line: string): void {
    const stored = this.store.jobs.appendLog(id, line);
    const set = this.watchers.get(id);
    if (set) for (const w of set) w({ kind: 'log', jobId: id, line: stored });
  }

  private notify(id: number): void {
    const set = this.watchers.get(id);
    if (!set) return;
    const job = this.store.jobs.mustGet(id);
    for (const w of set) w({ kind: 'job', jobId: id, job });
  }

  private emit(
    job: JobRecord,
    type: string,
    severity: Severity,
    message: string,
    data: Record<string, unknown> = {},
  ): void {
    this.events.emit({
      cluster: job.cluster,
      type,
      severity,
      message,
      data: { jobId: job.id, jobType: job.type, ...data },
    });
    this.notify(job.id);
  }
}

function secretsAad(type: string, cluster: string | null): string {
  return `job-secrets:${type}:${cluster ?? ''}`;
}
