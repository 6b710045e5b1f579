// Rates from monotonic counters read twice (queries/s from Questions, transactions/s from xact_commit, bytes/s
// from /proc/net/dev, CPU busy from /proc/stat). Pure: the caller keeps the previous reading.

/** One reading of a counter: its value and when it was read (epoch ms). */
export interface CounterReading {
  readonly value: number;
  readonly time: number;
}

/**
 * Per-second rate between two readings, after subtracting `own` (events the reader caused itself, e.g. the
 * probe's own statements); never negative. Undefined when there is no previous reading, no time passed, or the
 * counter went backwards (server restart, FLUSH STATUS, pg_stat_reset, counter wrap): the next reading rebases.
 */
export function counterRate(
  prev: CounterReading | undefined,
  next: CounterReading,
  own = 0,
): number | undefined {
  if (!prev) return undefined;
  const seconds = (next.time - prev.time) / 1000;
  const delta = next.value - prev.value;
  if (!(seconds > 0) || !Number.isFinite(delta) || delta < 0) return undefined;
  return Math.max(0, delta - own) / seconds;
}

/**
 * Part of the change of `total` that `part` made, as a percent 0..100 (CPU busy share, buffer pool hit ratio).
 * Undefined without a previous reading, when total did not move, or when a counter went backwards.
 */
export function sharePct(
  prev: { readonly part: number; readonly total: number } | undefined,
  next: { readonly part: number; readonly total: number },
): number | undefined {
  if (!prev) return undefined;
  const dTotal = next.total - prev.total;
  const dPart = next.part - prev.part;
  if (!(dTotal > 0) || dPart < 0) return undefined;
  return Math.min(100, Math.max(0, (dPart / dTotal) * 100));
}

/** Rounds to `digits` decimals (observations carry readable numbers, not 0.30000000000000004). */
export function round(value: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
