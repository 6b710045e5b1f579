// Polling with a deadline: the one way the engines wait for a condition (never a fixed sleep).
import { NinesError, type ErrorCode } from '../../core/errors.ts';

export interface WaitOptions {
  readonly timeoutMs: number;
  /** Default 250 ms. */
  readonly intervalMs?: number;
  readonly signal?: AbortSignal;
  /** Error code on timeout. Default NINES_E_DEPLOY_FAILED. */
  readonly code?: ErrorCode;
  /** Hint on timeout. */
  readonly hint?: string;
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new NinesError('NINES_E_COMMAND_ABORTED', 'wait cancelled'));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new NinesError('NINES_E_COMMAND_ABORTED', 'wait cancelled'));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export type Poll<T> =
  { readonly done: true; readonly value: T } | { readonly done: false; readonly why: string };

/**
 * Calls `check` until it reports done, or throws (code, default NINES_E_DEPLOY_FAILED) after the deadline with
 * `what` and the last reason it was not done. Errors thrown by `check` propagate at once.
 */
export async function waitUntil<T>(
  what: string,
  check: () => Promise<Poll<T>>,
  options: WaitOptions,
): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    const r = await check();
    if (r.done) return r.value;
    if (Date.now() >= deadline) {
      throw new NinesError(
        options.code ?? 'NINES_E_DEPLOY_FAILED',
        `${what}: not done after ${Math.round(options.timeoutMs / 1000)} s (${r.why})`,
        {
          context: { waitedMs: options.timeoutMs, lastState: r.why },
          ...(options.hint ? { hint: options.hint } : {}),
        },
      );
    }
    await sleep(options.intervalMs ?? 250, options.signal);
  }
}

export const done = <T>(value: T): Poll<T> => ({ done: true, value });
export const notYet = (why: string): Poll<never> => ({ done: false, why });
