// Durable jobs: the job row (state, progress, current step, error), its checkpointed steps and its log lines.
import type { Db } from './db.ts';

export const JOB_STATES = ['queued', 'running', 'succeeded', 'failed', 'cancelled'] as const;
export type JobState = (typeof JOB_STATES)[number];
export const TERMINAL_STATES: ReadonlySet<JobState> = new Set(['succeeded', 'failed', 'cancelled']);
export type StepState = 'running' | 'succeeded' | 'failed' | 'cancelled' | 'interrupted';

export interface JobError {
  readonly code: string;
  readonly message: string;
  readonly hint: string;
}

export interface JobRecord {
  readonly id: number;
  readonly type: string;
  readonly cluster: string | null;
  readonly writes: boolean;
  readonly params: Readonly<Record<string, unknown>>;
  readonly state: JobState;
  readonly progress: number;
  readonly currentStep: string | null;
  readonly error: JobError | null;
  readonly requestedBy: string | null;
  /** How many times the job started running (more than 1 after a resume). */
  readonly attempts: number;
  readonly createdAt: string;
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
}

export interface StepRecord {
  readonly seq: number;
  readonly name: string;
  readonly state: StepState;
  readonly attempt: number;
  readonly startedAt: string;
  readonly finishedAt: string | null;
  readonly error: JobError | null;
}

export interface LogLine {
  readonly seq: number;
  readonly time: string;
  readonly line: string;
}

export interface JobFilter {
  readonly cluster?: string;
  readonly state?: JobState;
  readonly type?: string;
  readonly limit?: number;
  /** Only jobs with id < before (paging, newest first). */
  readonly before?: number;
}

interface JobRow {
  id: number;
  type: string;
  cluster: string | null;
  writes: number;
  params_json: string;
  state: JobState;
  progress: number;
  current_step: string | null;
  error_json: string | null;
  requested_by: string | null;
  attempts: number;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
}
interface StepRow {
  seq: number;
  name: string;
  state: StepState;
  attempt: number;
  started_at: string;
  finished_at: string | null;
  error_json: string | null;
  result_json: string | null;
}

const JOB_COLUMNS = `id, type, cluster, writes, params_json, state, progress, current_step, error_json, requested_by,
  attempts, created_at, started_at, finished_at`;

function toJob(r: JobRow): JobRecord {
  return {
    id: r.id,
    type: r.type,
    cluster: r.cluster,
    writes: r.writes === 1,
    params: JSON.parse(r.params_json) as Record<string, unknown>,
    state: r.state,
    progress: r.progress,
    currentStep: r.current_step,
    error: r.error_json ? (JSON.parse(r.error_json) as JobError) : null,
    requestedBy: r.requested_by,
    attempts: r.attempts,
    createdAt: r.created_at,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
  };
}

function toStep(r: StepRow): StepRecord {
  return {
    seq: r.seq,
    name: r.name,
    state: r.state,
    attempt: r.attempt,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    error: r.error_json ? (JSON.parse(r.error_json) as JobError) : null,
  };
}

const now = (): string => new Date().toISOString();

export class JobRepo {
  private readonly db: Db;

  constructor(db: Db) {
    this.db = db;
  }

  insert(job: {
    readonly type: string;
    readonly cluster: string | null;
    readonly writes: boolean;
    readonly params: Readonly<Record<string, unknown>>;
    readonly secretsEnc: string | null;
    readonly requestedBy: string | null;
  }): JobRecord {
    const { lastId } = this.db.run(
      `INSERT INTO jobs (type, cluster, writes, params_json, secrets_enc, state, requested_by, created_at)
       VALUES (?, ?, ?, ?, ?, 'queued', ?, ?)`,
      job.type,
      job.cluster,
      job.writes ? 1 : 0,
      JSON.stringify(job.params),
      job.secretsEnc,
      job.requestedBy,
      now(),
    );
    return this.mustGet(lastId);
  }

  get(id: number): JobRecord | undefined {
    const r = this.db.get<JobRow>(`SELECT ${JOB_COLUMNS} FROM jobs WHERE id = ?`, id);
    return r ? toJob(r) : undefined;
  }

  mustGet(id: number): JobRecord {
    const job = this.get(id);
    if (!job) throw new Error(`job ${id} vanished from the store`);
    return job;
  }

  /** Newest first. */
  list(f: JobFilter = {}): JobRecord[] {
    const where: string[] = ['id < ?'];
    const params: (string | number)[] = [f.before ?? Number.MAX_SAFE_INTEGER];
    if (f.cluster !== undefined) {
      where.push('cluster = ?');
      params.push(f.cluster);
    }
    if (f.state !== undefined) {
      where.push('state = ?');
      params.push(f.state);
    }
    if (f.type !== undefined) {
      where.push('type = ?');
      params.push(f.type);
    }
    const limit = Math.min(Math.max(f.limit ?? 50, 1), 500);
    return this.db
      .all<JobRow>(
        `SELECT ${JOB_COLUMNS} FROM jobs WHERE ${where.join(' AND ')} ORDER BY id DESC LIMIT ${limit}`,
        ...params,
      )
      .map(toJob);
  }

  /** Jobs in a state, oldest first (the run queue). */
  byState(state: JobState): JobRecord[] {
    return this.db
      .all<JobRow>(`SELECT ${JOB_COLUMNS} FROM jobs WHERE state = ? ORDER BY id`, state)
      .map(toJob);
  }

  secretsEnc(id: number): string | null {
    return this.db.get<{ s: string | null }>('SELECT secrets_enc AS s FROM jobs WHERE id = ?', id)?.s ?? null;
  }

  markRunning(id: number): void {
    this.db.run(
      `UPDATE jobs SET state = 'running', attempts = attempts + 1, started_at = COALESCE(started_at, ?) WHERE id = ?`,
      now(),
      id,
    );
  }

  finish(id: number, state: JobState, error: JobError | null): void {
    this.db.run(
      `UPDATE jobs SET state = ?, error_json = ?, finished_at = ?, current_step = NULL,
       progress = CASE WHEN ? = 'succeeded' THEN 100 ELSE progress END WHERE id = ?`,
      state,
      error ? JSON.stringify(error) : null,
      now(),
      state,
      id,
    );
  }

  requeue(id: number): void {
    this.db.run(`UPDATE jobs SET state = 'queued', current_step = NULL WHERE id = ?`, id);
  }

  setProgress(id: number, pct: number): void {
    this.db.run('UPDATE jobs SET progress = ? WHERE id = ?', pct, id);
  }

  setCurrentStep(id: number, name: string | null): void {
    this.db.run('UPDATE jobs SET current_step = ? WHERE id = ?', name, id);
  }

  steps(id: number): StepRecord[] {
    return this.db.all<StepRow>('SELECT * FROM job_steps WHERE job_id = ? ORDER BY seq', id).map(toStep);
  }

  /** The stored result of a step that already succeeded (checkpoint), if any. */
  completedStep(id: number, name: string): { result: unknown } | undefined {
    const r = this.db.get<{ result_json: string | null }>(
      `SELECT result_json FROM job_steps WHERE job_id = ? AND name = ? AND state = 'succeeded'`,
      id,
      name,
    );
    if (!r) return undefined;
    return { result: r.result_json === null ? undefined : (JSON.parse(r.result_json) as unknown) };
  }

  startStep(id: number, name: string, attempt: number): number {
    const seq =
      (this.db.get<{ m: number | null }>('SELECT MAX(seq) AS m FROM job_steps WHERE job_id = ?', id)?.m ??
        0) + 1;
    this.db.run(
      `INSERT INTO job_steps (job_id, seq, name, state, attempt, started_at) VALUES (?, ?, ?, 'running', ?, ?)`,
      id,
      seq,
      name,
      attempt,
      now(),
    );
    this.setCurrentStep(id, name);
    return seq;
  }

  finishStep(id: number, seq: number, state: StepState, result?: unknown, error?: JobError | null): void {
    this.db.run(
      'UPDATE job_steps SET state = ?, finished_at = ?, result_json = ?, error_json = ? WHERE job_id = ? AND seq = ?',
      state,
      now(),
      result === undefined ? null : JSON.stringify(result),
      error ? JSON.stringify(error) : null,
      id,
      seq,
    );
  }

  runningSteps(id: number): StepRecord[] {
    return this.db
      .all<StepRow>(`SELECT * FROM job_steps WHERE job_id = ? AND state = 'running'`, id)
      .map(toStep);
  }

  appendLog(id: number, line: string): LogLine {
    const seq =
      (this.db.get<{ m: number | null }>('SELECT MAX(seq) AS m FROM job_logs WHERE job_id = ?', id)?.m ?? 0) +
      1;
    const time = now();
    this.db.run('INSERT INTO job_logs (job_id, seq, time, line) VALUES (?, ?, ?, ?)', id, seq, time, line);
    return { seq, time, line };
  }

  logs(id: number, since = 0, limit = 10_000): LogLine[] {
    return this.db.all<LogLine>(
      `SELECT seq, time, line FROM job_logs WHERE job_id = ? AND seq > ? ORDER BY seq LIMIT ${Math.min(limit, 10_000)}`,
      id,
      since,
    );
  }

  /** Whether a job of this type for this cluster is queued or running. */
  hasActive(type: string, cluster: string): boolean {
    return (
      this.db.get(
        `SELECT 1 AS x FROM jobs WHERE type = ? AND cluster = ? AND state IN ('queued', 'running') LIMIT 1`,
        type,
        cluster,
      ) !== undefined
    );
  }
}
