// Shared pieces of the monitor-probe integration tests: polling with a deadline, waiting for an observation
// that matches, and the timing of one observe().
import assert from 'node:assert/strict';
import type { NodeObservation } from '../../../src/core/monitor/observation.ts';
import type { NodeProbe } from '../../../src/engines/engine.ts';
import { TIMEOUT_SCALE } from '../../support/lab-engine.ts';
import { poll as pollEvery } from '../../support/poll.ts';

export const ms = (n: number): number => Math.round(n * TIMEOUT_SCALE);

/** poll() at a 200 ms pace (probes answer once a second). */
export function poll<T>(what: string, timeoutMs: number, fn: () => Promise<T | undefined>): Promise<T> {
  return pollEvery(what, timeoutMs, fn, 200);
}

/** Observes until `ok(observation)`; returns that observation. Fails with the last observation at the deadline. */
export async function observeUntil(
  probe: NodeProbe,
  what: string,
  timeoutMs: number,
  ok: (o: NodeObservation) => boolean,
): Promise<NodeObservation> {
  const deadline = Date.now() + timeoutMs;
  let last: NodeObservation | undefined;
  for (;;) {
    last = await probe.observe();
    if (ok(last)) return last;
    if (Date.now() > deadline) {
      assert.fail(`timed out waiting for ${what}; last observation: ${JSON.stringify(last)}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** One observe(), timed; observe() must never throw. */
export async function timedObserve(probe: NodeProbe): Promise<{ o: NodeObservation; tookMs: number }> {
  const started = performance.now();
  const o = await probe.observe();
  return { o, tookMs: performance.now() - started };
}
