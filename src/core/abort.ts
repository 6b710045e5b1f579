// Bounding work by an AbortSignal.
import { NinesError, toNinesError } from './errors.ts';

/**
 * `promise`, or a rejection once `signal` fires (the work goes on in the background and its outcome is dropped):
 * a verb returns within its bound even when a command on a frozen host takes long to be killed.
 */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  promise.catch(() => undefined);
  if (signal.aborted) return Promise.reject(toNinesError(signal.reason, 'NINES_E_COMMAND_ABORTED'));
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_resolve, reject) => {
    onAbort = () => reject(new NinesError('NINES_E_COMMAND_ABORTED', 'stopped at the end of its bound'));
    signal.addEventListener('abort', onAbort, { once: true });
  });
  aborted.catch(() => undefined);
  return Promise.race([promise, aborted]).finally(() => {
    if (onAbort) signal.removeEventListener('abort', onAbort);
  });
}
