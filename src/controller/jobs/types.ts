// What a job type is, and what its handler gets. Later features add job types with `registerJobType` and never
// touch the runner.
import type { z } from 'zod';
import type { EventBus } from '../events.ts';
import type { Logger } from '../logger.ts';
import type { ClusterRecord } from '../store/inventory-repo.ts';
import type { JobRecord } from '../store/job-repo.ts';
import type { Store } from '../store/store.ts';

export interface JobServices {
  readonly store: Store;
  readonly events: EventBus;
}

export interface JobContext<P = Record<string, unknown>> {
  /** The job as it was when this run started. */
  readonly job: JobRecord;
  readonly params: P;
  /** Aborted when the job is cancelled or the controller stops for good; pass it to everything slow. */
  readonly signal: AbortSignal;
  /** True when this run resumes a job interrupted by a controller restart. */
  readonly resumed: boolean;
  /** Developer log (pino child with jobId/cluster). Operators see ctx.log lines instead. */
  readonly logger: Logger;
  readonly services: JobServices;
  /**
   * Runs a checkpointed step. A step that already succeeded in an earlier run of this job is skipped and its
   * stored result returned (so results must be JSON values). Names must be unique within a job.
   */
  step<T>(name: string, fn: () => Promise<T> | T): Promise<T>;
  /** A log line for the operator (stored and streamed live). Never pass secrets. */
  log(line: string): void;
  /** 0-100. */
  progress(pct: number): void;
  /** Secrets given at submission (decrypted on demand; never log them). */
  secrets(): Readonly<Record<string, string>>;
  /** The job's cluster from the inventory, if it exists. */
  cluster(): ClusterRecord | undefined;
}

export interface JobType<P = Record<string, unknown>> {
  readonly type: string;
  /** Writing jobs run one at a time per cluster (FIFO); reading jobs run concurrently. */
  readonly writes: boolean;
  /** When true, a job interrupted by a restart runs again with its completed steps skipped. */
  readonly resumable?: boolean;
  /** Validates params at submission (errors name the field as params.x). */
  readonly params?: z.ZodType<P>;
  /** May be submitted directly through POST /api/v1/jobs (otherwise only by the controller's own routes). */
  readonly submittable?: boolean;
  run(ctx: JobContext<P>): Promise<void>;
}

export type JobUpdate =
  | {
      readonly kind: 'log';
      readonly jobId: number;
      readonly line: { seq: number; time: string; line: string };
    }
  | { readonly kind: 'job'; readonly jobId: number; readonly job: JobRecord };
