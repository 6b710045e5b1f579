// Waiting for a condition in integration tests: never a fixed sleep, always a deadline.

/**
 * Calls fn every intervalMs until it returns something other than undefined; at the deadline fails naming what it
 * waited for and the last error fn threw (errors count as "not yet"). timeoutMs is taken as given: callers scale it.
 */
export async function poll<T>(
  what: string,
  timeoutMs: number,
  fn: () => Promise<T | undefined>,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${String(last)}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
