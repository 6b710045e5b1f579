// The drill's report: one entry per repeat (run) and the distribution over them. JSON values only: it is stored
// as the result of the job's last step and served by GET /api/v1/clusters/:name/drill/:id.
import type { DrillSummary, WritableOverlap } from '../../core/recovery/drill.ts';
import type { DrillFault } from './params.ts';

/** The stages of one run, in order. */
export const DRILL_STAGES = [
  'baseline',
  'fault',
  'failover',
  'writes',
  'revert',
  'rejoin',
  'verify',
] as const;
export type DrillStage = (typeof DRILL_STAGES)[number];

export interface StageRecord {
  readonly stage: DrillStage;
  readonly ok: boolean;
  readonly ms: number;
  /** What was seen, or why it did not finish. */
  readonly detail: string;
}

/** An event of the cluster from the fault on (the failover's decisions, the monitor's view, the drill's marks). */
export interface TimelineEntry {
  /** Milliseconds after the fault took effect (negative: while it was being injected). */
  readonly atMs: number;
  readonly time: string;
  readonly type: string;
  readonly severity: string;
  readonly message: string;
}

/** An overlap, its times relative to the fault. */
export interface OverlapView {
  readonly fromMs: number;
  readonly toMs: number;
  readonly ms: number;
  readonly nodes: readonly string[];
}

export interface DrillRunReport {
  readonly run: number;
  readonly fault: DrillFault;
  /** Every stage finished. */
  readonly recovered: boolean;
  /** The first stage that did not finish; null when every one did. */
  readonly failedStage: DrillStage | null;
  /** One sentence: what happened, or what did not happen in time. */
  readonly reason: string;
  /** host:port of the primary the fault hit, and its lab host. */
  readonly oldPrimary: string | null;
  readonly faultHost: string | null;
  /** host:port of the node the inventory named primary after the fault; null when none did in time. */
  readonly newPrimary: string | null;
  /** When the fault took effect (ISO), and how long the fault command took. */
  readonly faultAt: string | null;
  readonly faultCommandMs: number | null;
  /** After the fault: a new primary in the inventory, the revert done, the old primary a replica again. */
  readonly newPrimaryAfterMs: number | null;
  readonly revertedAfterMs: number | null;
  readonly rejoinedAfterMs: number | null;
  /** Last acknowledged write before the fault -> first after it. */
  readonly rtoMs: number | null;
  readonly lastAckBeforeMs: number | null;
  readonly firstAckAfterMs: number | null;
  readonly writes: {
    readonly firstId: number;
    readonly lastId: number;
    readonly sent: number;
    readonly acknowledged: number;
    readonly failed: number;
    /** Acknowledged ids missing on the new primary; null when not measured (no new primary, read failed). */
    readonly lostAcknowledged: readonly number[] | null;
    /** How many unacknowledged writes exist anyway; null when not measured. */
    readonly unacknowledgedPresent: number | null;
  };
  readonly writable: {
    /** The most nodes answering writable at once (proven from consecutive answers). */
    readonly maxWritable: number;
    readonly proven: readonly OverlapView[];
    /** Within the sampling resolution (see core/recovery/drill.ts). */
    readonly possible: readonly OverlapView[];
    /** Writable answers of the old primary after the fault was reverted while another node was primary. */
    readonly oldPrimaryAfterRevert: number;
    readonly samples: number;
  };
  readonly stages: readonly StageRecord[];
  readonly timeline: readonly TimelineEntry[];
}

export interface DrillReport {
  readonly cluster: string;
  readonly type: string;
  readonly fault: DrillFault;
  readonly repeat: number;
  readonly rate: number;
  readonly timeoutMs: number;
  readonly lab: string;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly runs: readonly DrillRunReport[];
  /** Repeats not run: a run that did not recover ends the drill (the cluster is not known to be back). */
  readonly skipped: number;
  readonly summary: DrillSummary;
}

export function overlapView(o: WritableOverlap, faultAt: number): OverlapView {
  return { fromMs: o.from - faultAt, toMs: o.to - faultAt, ms: o.ms, nodes: o.nodes };
}
