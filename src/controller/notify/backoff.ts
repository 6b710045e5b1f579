// Retry delays for notification deliveries: exponential with a cap and jitter (so many failed deliveries to one
// endpoint do not retry in lockstep), and a bound on attempts. Pure; the random source is a parameter.

export interface BackoffPolicy {
  /** Delay after the first failed attempt. */
  readonly baseMs: number;
  /** Growth per further failure. */
  readonly factor: number;
  readonly maxMs: number;
  /** Spread as a fraction of the delay: 0.2 = anywhere in [0.8, 1.2] x delay. */
  readonly jitter: number;
  /** Attempts in all (the first one included) before a delivery is given up as failed. */
  readonly maxAttempts: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = Object.freeze({
  baseMs: 2000,
  factor: 2,
  maxMs: 5 * 60_000,
  jitter: 0.2,
  maxAttempts: 8,
});

/** Milliseconds to wait after failed attempt number `attempt` (1 = the first attempt failed). */
export function backoffDelay(
  attempt: number,
  policy: BackoffPolicy,
  random: () => number = Math.random,
): number {
  const exp = policy.baseMs * policy.factor ** Math.max(0, attempt - 1);
  const capped = Math.min(policy.maxMs, exp);
  const spread = 1 - policy.jitter + 2 * policy.jitter * Math.min(1, Math.max(0, random()));
  return Math.round(Math.min(policy.maxMs, Math.max(0, capped * spread)));
}
