// Metric downsampling and retention, pure. Raw points (1 s) are kept 1 hour, 1-minute aggregates 7 days, 1-hour
// aggregates 90 days (docs/monitoring.md describes the tables a store keeps them in). An aggregate carries its sum
// so coarser aggregates are built from finer ones exactly (avg = sum / count), never as an average of averages.
// Retention never deletes data that has not been rolled up into the next tier yet.

export interface MetricPoint {
  /** Epoch milliseconds. */
  readonly time: number;
  readonly value: number;
}

export interface Aggregate {
  /** Start of the bucket (epoch ms, a multiple of the resolution); the bucket is [start, start + resolution). */
  readonly start: number;
  readonly count: number;
  readonly sum: number;
  readonly min: number;
  readonly max: number;
  /** sum / count, clamped into [min, max] against floating-point rounding. */
  readonly avg: number;
}

export function bucketStart(time: number, resolutionMs: number): number {
  return Math.floor(time / resolutionMs) * resolutionMs;
}

interface Acc {
  count: number;
  sum: number;
  min: number;
  max: number;
}

function finish(buckets: Map<number, Acc>): Aggregate[] {
  return [...buckets]
    .sort(([a], [b]) => a - b)
    .map(([start, a]) => ({
      start,
      count: a.count,
      sum: a.sum,
      min: a.min,
      max: a.max,
      avg: Math.min(a.max, Math.max(a.min, a.sum / a.count)),
    }));
}

function checkResolution(resolutionMs: number): void {
  if (!Number.isInteger(resolutionMs) || resolutionMs <= 0) {
    throw new RangeError(`resolution must be a positive integer of milliseconds, got ${resolutionMs}`);
  }
}

/** Aggregates points of one series into buckets of `resolutionMs`, oldest first. Non-finite values are skipped. */
export function downsample(points: readonly MetricPoint[], resolutionMs: number): Aggregate[] {
  checkResolution(resolutionMs);
  const buckets = new Map<number, Acc>();
  for (const p of points) {
    if (!Number.isFinite(p.value) || !Number.isFinite(p.time)) continue;
    const start = bucketStart(p.time, resolutionMs);
    const acc = buckets.get(start);
    if (acc === undefined) buckets.set(start, { count: 1, sum: p.value, min: p.value, max: p.value });
    else {
      acc.count += 1;
      acc.sum += p.value;
      acc.min = Math.min(acc.min, p.value);
      acc.max = Math.max(acc.max, p.value);
    }
  }
  return finish(buckets);
}

/** Re-aggregates finer aggregates into coarser buckets (e.g. 1-min -> 1-h), exactly: counts and sums add up. */
export function rollup(aggregates: readonly Aggregate[], resolutionMs: number): Aggregate[] {
  checkResolution(resolutionMs);
  const buckets = new Map<number, Acc>();
  for (const a of aggregates) {
    if (a.count <= 0) continue;
    const start = bucketStart(a.start, resolutionMs);
    const acc = buckets.get(start);
    if (acc === undefined) buckets.set(start, { count: a.count, sum: a.sum, min: a.min, max: a.max });
    else {
      acc.count += a.count;
      acc.sum += a.sum;
      acc.min = Math.min(acc.min, a.min);
      acc.max = Math.max(acc.max, a.max);
    }
  }
  return finish(buckets);
}

export type TierName = 'raw' | '1m' | '1h';

export interface RetentionTier {
  readonly name: TierName;
  readonly resolutionMs: number;
  /** How long rows of this tier are kept. */
  readonly keepMs: number;
}

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** Finest first. Each tier's resolution divides the next one's. */
export const DEFAULT_RETENTION: readonly RetentionTier[] = Object.freeze([
  { name: 'raw', resolutionMs: SECOND, keepMs: HOUR },
  { name: '1m', resolutionMs: MINUTE, keepMs: 7 * DAY },
  { name: '1h', resolutionMs: HOUR, keepMs: 90 * DAY },
]);

/** Per aggregate tier: every source row with time < watermark is already aggregated into it. */
export type RollupWatermarks = Readonly<Partial<Record<TierName, number>>>;

export interface RollupTask {
  readonly source: TierName;
  readonly target: TierName;
  /** Aggregate source rows with from <= time < to into the target (both multiples of the target resolution). */
  readonly from: number;
  readonly to: number;
  readonly reason: string;
}

export interface DeleteTask {
  readonly tier: TierName;
  /** Delete rows with time (or bucket start) < before. */
  readonly before: number;
  readonly reason: string;
}

export interface RetentionPlan {
  /** Run these first, in order; advance the target's watermark to `to` after each succeeds. */
  readonly rollups: readonly RollupTask[];
  /** Safe to run even if the rollups above fail: they only use the watermarks given. */
  readonly deletes: readonly DeleteTask[];
}

/**
 * What to roll up and what to delete at `now`. Only complete buckets are rolled up, and only once `graceMs` has
 * passed after their end (late points). A tier's rows are deleted when older than its keepMs AND already rolled up
 * into the next tier; the last tier only by age.
 */
export function planRetention(
  now: number,
  watermarks: RollupWatermarks,
  policy: readonly RetentionTier[] = DEFAULT_RETENTION,
  graceMs = 5 * SECOND,
): RetentionPlan {
  const rollups: RollupTask[] = [];
  const deletes: DeleteTask[] = [];
  policy.forEach((tier, i) => {
    const next = policy[i + 1];
    const expiredBefore = now - tier.keepMs;
    if (next === undefined) {
      deletes.push({ tier: tier.name, before: expiredBefore, reason: `${tier.name} rows older than keepMs` });
      return;
    }
    const mark = watermarks[next.name];
    const to = bucketStart(now - graceMs, next.resolutionMs);
    const from = mark ?? bucketStart(expiredBefore, next.resolutionMs);
    if (to > from) {
      rollups.push({
        source: tier.name,
        target: next.name,
        from,
        to,
        reason: `complete ${next.name} buckets not yet rolled up`,
      });
    }
    if (mark !== undefined && Math.min(expiredBefore, mark) > 0) {
      const before = Math.min(expiredBefore, mark);
      const reason =
        before === expiredBefore
          ? `${tier.name} rows older than keepMs (rolled up into ${next.name})`
          : `${tier.name} rows older than keepMs, only up to the ${next.name} watermark`;
      deletes.push({ tier: tier.name, before, reason });
    }
  });
  return { rollups, deletes };
}

/** True when a row of the tier at `time` is past its retention (regardless of rollups). */
export function isExpired(tier: RetentionTier, time: number, now: number): boolean {
  return time < now - tier.keepMs;
}

/** The finest tier still holding data back to `from` (for charts); the coarsest when none does. */
export function tierFor(
  from: number,
  now: number,
  policy: readonly RetentionTier[] = DEFAULT_RETENTION,
): RetentionTier {
  const found = policy.find((t) => from >= now - t.keepMs);
  const last = policy[policy.length - 1];
  if (found) return found;
  if (!last) throw new RangeError('empty retention policy');
  return last;
}
