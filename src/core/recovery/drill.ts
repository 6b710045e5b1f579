// The figures of a failover drill, from what the drill recorded: the log of writes it sent through the endpoint
// (each acknowledged or not), when the fault took effect, the ids found on the new primary afterwards and the
// writability samples of every node. Pure: the drill job (src/controller/drill/) records, this file computes.
//
// Times are milliseconds since the epoch, all from the controller's one clock.

/** One write of the drill's workload: an INSERT of a unique id. */
export interface AckRecord {
  readonly id: number;
  /** When the write was sent. */
  readonly sentAt: number;
  /** When the server acknowledged it (the statement returned); absent when it failed or got no answer. */
  readonly ackedAt?: number;
  /** Why it was not acknowledged: an error code (NINES_E_DB_UNREACHABLE, timeout, ...). */
  readonly error?: string;
}

export type Writability = 'writable' | 'read-only' | 'unknown';

/** One poll of one node: what it answered (read_only / pg_is_in_recovery), or unknown when it did not in time. */
export interface WritabilitySample {
  /** When the answer came (or the bound expired, for unknown). */
  readonly time: number;
  /** host:port */
  readonly node: string;
  readonly state: Writability;
}

export interface RecoveryTime {
  /** The last acknowledgement of a write sent before the fault took effect; null when none. */
  readonly lastAckBefore: number | null;
  /** The first acknowledgement of a write sent after the fault took effect; null when writes never came back. */
  readonly firstAckAfter: number | null;
  /** RTO: firstAckAfter - lastAckBefore; null when either is missing. */
  readonly rtoMs: number | null;
}

/**
 * RTO as a client sees it: from the last acknowledged write before the fault to the first one after it. A write
 * belongs to "before" or "after" by when it was sent: one sent before the fault took effect was served by the old
 * primary even when its acknowledgement is read a little after (the reply was on its way, or the client busy),
 * and one sent after it cannot have been. Acknowledgements after `until` do not count (the drill reverted the
 * fault then: writes that come back after it came back because the fault ended, not because of a failover).
 */
export function recoveryTime(acks: readonly AckRecord[], faultAt: number, until = Infinity): RecoveryTime {
  let before: number | null = null;
  let after: number | null = null;
  for (const a of acks) {
    if (a.ackedAt === undefined || a.ackedAt > until) continue;
    if (a.sentAt <= faultAt) before = before === null ? a.ackedAt : Math.max(before, a.ackedAt);
    else after = after === null ? a.ackedAt : Math.min(after, a.ackedAt);
  }
  return {
    lastAckBefore: before,
    firstAckAfter: after,
    rtoMs: before !== null && after !== null ? after - before : null,
  };
}

/** Acknowledged writes whose id is not on the new primary, ascending: the writes the failover lost. */
export function lostAcknowledged(acks: readonly AckRecord[], present: ReadonlySet<number>): number[] {
  return acks
    .filter((a) => a.ackedAt !== undefined && !present.has(a.id))
    .map((a) => a.id)
    .sort((x, y) => x - y);
}

/**
 * Writes the client never saw acknowledged that exist anyway, ascending. Not a loss and not a bug: the commit
 * happened, its answer did not reach the client (the connection died in between). Reported so a client author
 * knows that a failed write may still have happened.
 */
export function unacknowledgedPresent(acks: readonly AckRecord[], present: ReadonlySet<number>): number[] {
  return acks
    .filter((a) => a.ackedAt === undefined && present.has(a.id))
    .map((a) => a.id)
    .sort((x, y) => x - y);
}

/** A period during which more than one node was writable. */
export interface WritableOverlap {
  readonly from: number;
  readonly to: number;
  readonly ms: number;
  /** Every node writable at some point of the period, sorted. */
  readonly nodes: readonly string[];
}

export interface WritableOverlaps {
  /**
   * Periods where consecutive writable answers of two or more nodes overlap in time: each of those nodes
   * answered "writable" both at (or before) the start and at (or after) the end, with no other answer between.
   * A single writable answer of one node that falls inside another node's writable run counts (0 ms long).
   */
  readonly proven: readonly WritableOverlap[];
  /**
   * Periods where two or more nodes may have been writable at once within the sampling resolution: each
   * writable answer is taken to hold until that node's next answer (of any kind). Includes the proven ones. A
   * clean switch (fence, then promote) between two polls shows here and not in `proven`.
   */
  readonly possible: readonly WritableOverlap[];
  /** The most nodes writable at one instant, by the proven rule (1 for a healthy single-primary cluster). */
  readonly maxWritable: number;
}

interface Span {
  readonly node: string;
  readonly from: number;
  readonly to: number;
  /** Whether `to` belongs to the span (proven runs) or not (held answers). */
  readonly closed: boolean;
}

function byNode(samples: readonly WritabilitySample[]): Map<string, WritabilitySample[]> {
  const map = new Map<string, WritabilitySample[]>();
  for (const s of samples) {
    const list = map.get(s.node) ?? [];
    list.push(s);
    map.set(s.node, list);
  }
  for (const list of map.values()) list.sort((a, b) => a.time - b.time);
  return map;
}

/** Maximal runs of consecutive writable answers of each node, as closed intervals. */
function writableRuns(nodes: Map<string, WritabilitySample[]>): Span[] {
  const spans: Span[] = [];
  for (const [node, list] of nodes) {
    let start: number | null = null;
    let last = 0;
    for (const s of list) {
      if (s.state === 'writable') {
        start ??= s.time;
        last = s.time;
      } else if (start !== null) {
        spans.push({ node, from: start, to: last, closed: true });
        start = null;
      }
    }
    if (start !== null) spans.push({ node, from: start, to: last, closed: true });
  }
  return spans;
}

/** Each writable answer held until the node's next answer (half-open), merged per node. */
function heldSpans(nodes: Map<string, WritabilitySample[]>): Span[] {
  const spans: Span[] = [];
  for (const [node, list] of nodes) {
    list.forEach((s, i) => {
      if (s.state !== 'writable') return;
      const next = list[i + 1];
      const to = next ? next.time : s.time;
      const prev = spans.at(-1);
      if (prev && prev.node === node && prev.to === s.time && !prev.closed) {
        spans[spans.length - 1] = { node, from: prev.from, to, closed: next === undefined };
      } else spans.push({ node, from: s.time, to, closed: next === undefined });
    });
  }
  return spans;
}

/** Sweep: the periods where at least two spans are active at once, and the most active at one instant. */
function overlapsOf(spans: readonly Span[]): { overlaps: WritableOverlap[]; max: number } {
  // At equal times a closed span's end comes after every start (its end instant is included), a half-open
  // span's end before them (it is over at that instant).
  type Edge = { time: number; order: number; span: Span; start: boolean };
  const edges: Edge[] = spans.flatMap((span) => [
    { time: span.from, order: 1, span, start: true },
    { time: span.to, order: span.closed ? 2 : 0, span, start: false },
  ]);
  edges.sort((a, b) => a.time - b.time || a.order - b.order);
  const active = new Map<Span, string>();
  const overlaps: WritableOverlap[] = [];
  let open: { from: number; nodes: Set<string> } | null = null;
  let max = 0;
  const distinct = (): number => new Set(active.values()).size;
  for (const e of edges) {
    if (e.start) active.set(e.span, e.span.node);
    else active.delete(e.span);
    const count = distinct();
    max = Math.max(max, count);
    if (count >= 2) {
      open ??= { from: e.time, nodes: new Set() };
      for (const n of active.values()) open.nodes.add(n);
    } else if (open) {
      overlaps.push({ from: open.from, to: e.time, ms: e.time - open.from, nodes: [...open.nodes].sort() });
      open = null;
    }
  }
  return { overlaps, max };
}

/** When more than one node was writable, from the writability samples of every node. */
export function writableOverlaps(samples: readonly WritabilitySample[]): WritableOverlaps {
  const nodes = byNode(samples);
  const proven = overlapsOf(writableRuns(nodes));
  const possible = overlapsOf(heldSpans(nodes));
  return { proven: proven.overlaps, possible: possible.overlaps, maxWritable: proven.max };
}

/** Writable answers of `node` at or after `since` (e.g. the old primary after it thawed): count and first. */
export function writableSince(
  samples: readonly WritabilitySample[],
  node: string,
  since: number,
): { readonly samples: number; readonly firstAt: number | null } {
  const hits = samples.filter((s) => s.node === node && s.state === 'writable' && s.time >= since);
  return { samples: hits.length, firstAt: hits.length > 0 ? Math.min(...hits.map((s) => s.time)) : null };
}

export interface DrillRunInput {
  readonly acks: readonly AckRecord[];
  /** When the fault was in effect (the fault command returned). */
  readonly faultAt: number;
  /** Ids found on the new primary after recovery; null when they could not be read. */
  readonly present: ReadonlySet<number> | null;
  readonly samples: readonly WritabilitySample[];
  /** When the fault was reverted, if it was: acknowledgements after it do not count for the RTO. */
  readonly revertedAt?: number;
}

export interface DrillRunFigures extends RecoveryTime {
  readonly sent: number;
  readonly acknowledged: number;
  /** Writes that got an error or no answer in time. */
  readonly failed: number;
  /** Acknowledged ids missing on the new primary; null when the ids could not be read. */
  readonly lostAcknowledged: readonly number[] | null;
  /** Unacknowledged ids present anyway; null when the ids could not be read. */
  readonly unacknowledgedPresent: readonly number[] | null;
  readonly overlaps: WritableOverlaps;
}

/** Every figure of one drill run. */
export function drillRunFigures(input: DrillRunInput): DrillRunFigures {
  const acknowledged = input.acks.filter((a) => a.ackedAt !== undefined).length;
  return {
    ...recoveryTime(input.acks, input.faultAt, input.revertedAt),
    sent: input.acks.length,
    acknowledged,
    failed: input.acks.length - acknowledged,
    lostAcknowledged: input.present ? lostAcknowledged(input.acks, input.present) : null,
    unacknowledgedPresent: input.present ? unacknowledgedPresent(input.acks, input.present) : null,
    overlaps: writableOverlaps(input.samples),
  };
}

export interface Distribution {
  readonly count: number;
  readonly min: number | null;
  readonly p50: number | null;
  readonly p90: number | null;
  readonly max: number | null;
}

/** Nearest-rank percentile of sorted values (p in 0-100): the smallest value with at least p% at or below it. */
function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1] ?? null;
}

export function distribution(values: readonly number[]): Distribution {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    count: sorted.length,
    min: sorted[0] ?? null,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    max: sorted.at(-1) ?? null,
  };
}

/** What the summary needs of each run. */
export interface DrillRunOutcome {
  readonly run: number;
  readonly rtoMs: number | null;
  /** The stage that did not finish (null when every stage did). */
  readonly failedStage: string | null;
  readonly reason: string;
  /** Null when not measured. */
  readonly lostAcknowledged: number | null;
  readonly maxWritable: number;
}

export interface DrillSummary {
  readonly runs: number;
  /** RTO of every run that measured one (a run that failed after writes came back still has its RTO). */
  readonly rtoMs: Distribution;
  /** Runs that did not finish every stage, with the stage and why. */
  readonly failures: readonly { readonly run: number; readonly stage: string; readonly reason: string }[];
  /** Acknowledged writes lost, over the runs that measured it. */
  readonly lostAcknowledged: number;
  /** Runs whose lost writes could not be measured. */
  readonly lossUnmeasured: number;
  /** The most nodes ever writable at once, over all runs. */
  readonly maxWritable: number;
}

/** The distribution over repeats. */
export function summarizeDrill(runs: readonly DrillRunOutcome[]): DrillSummary {
  const failures = runs
    .filter((r) => r.failedStage !== null)
    .map((r) => ({ run: r.run, stage: r.failedStage ?? '', reason: r.reason }));
  return {
    runs: runs.length,
    rtoMs: distribution(runs.flatMap((r) => (r.rtoMs === null ? [] : [r.rtoMs]))),
    failures,
    lostAcknowledged: runs.reduce((sum, r) => sum + (r.lostAcknowledged ?? 0), 0),
    lossUnmeasured: runs.filter((r) => r.lostAcknowledged === null).length,
    maxWritable: runs.reduce((m, r) => Math.max(m, r.maxWritable), 0),
  };
}
