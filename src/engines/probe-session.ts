// The part every engine's NodeProbe shares: one persistent connection opened lazily and reopened after a
// failure, each observe() bounded by a deadline (connect included), and never a throw — a failure becomes
// `{reachable: false, role: 'unknown', error: {code, message}}`. The engines supply connect and read.
import { NinesError, isNinesError, toNinesError } from '../core/errors.ts';
import type { NodeObservation, ObservationError } from '../core/monitor/observation.ts';
import type { NodeProbe } from './engine.ts';

export const DEFAULT_PROBE_TIMEOUT_MS = 2000;

/** What a probe needs of a connection (both SQL wrappers fit). */
export interface ProbeConnection {
  close(): Promise<void>;
}

/** The observation without the fields the session sets (time, probeMs). */
export type ProbeReading = Omit<NodeObservation, 'time' | 'probeMs'>;

export interface ProbeSessionOptions<C extends ProbeConnection> {
  /** host:port, for messages. */
  readonly address: string;
  readonly timeoutMs: number;
  /** Opens the connection within `timeoutMs`. */
  connect(timeoutMs: number): Promise<C>;
  /** False once the connection closed or broke. */
  usable(conn: C): boolean;
  /** One observation over `conn`, within `timeoutMs`. */
  read(conn: C, timeoutMs: number): Promise<ProbeReading>;
}

/** An ObservationError from anything thrown (a stable code, a message without secrets). */
export function observationError(err: unknown): ObservationError {
  const e = isNinesError(err) ? err : toNinesError(err);
  return { code: e.code, message: e.message };
}

/** A failed observation. */
export function unreachable(err: unknown, time: number, probeMs?: number): NodeObservation {
  return {
    time,
    reachable: false,
    role: 'unknown',
    error: observationError(err),
    ...(probeMs === undefined ? {} : { probeMs }),
  };
}

class Deadline extends Error {}

export function createProbeSession<C extends ProbeConnection>(options: ProbeSessionOptions<C>): NodeProbe {
  let conn: C | undefined;
  // Bumped whenever the connection is dropped: a connect that finishes after its observe() gave up is closed.
  let generation = 0;
  let closed = false;
  // Connects and closes still under way: observe() does not wait for them, close() does.
  const inflight = new Set<Promise<void>>();
  const track = (work: Promise<unknown>): void => {
    const settled = work.then(
      () => undefined,
      () => undefined,
    );
    inflight.add(settled);
    void settled.then(() => inflight.delete(settled));
  };

  const drop = (): void => {
    generation++;
    const old = conn;
    conn = undefined;
    // Not awaited: closing a connection to a hung host can take a while, observe() must not wait for it.
    if (old) track(old.close());
  };

  // The connection's own bounds run a little past the session's deadline: the session reports the timeout
  // (one message), the connection's bound only cleans up.
  const left = (deadline: number): number => Math.max(1, Math.ceil(deadline - performance.now())) + 250;

  const once = async (deadline: number): Promise<ProbeReading> => {
    if (!conn || !options.usable(conn)) {
      if (conn) drop();
      const mine = generation;
      // A connect that finishes after its observe() gave up (or after close()) is closed, and close() waits
      // for that: no connection outlives the probe.
      const opening = options.connect(left(deadline)).then(async (opened) => {
        if (mine === generation && !closed) {
          conn = opened;
          return opened;
        }
        await opened.close().catch(() => undefined);
        throw new Deadline();
      });
      track(opening);
      return options.read(await opening, left(deadline));
    }
    return options.read(conn, left(deadline));
  };

  return {
    async observe(signal?: AbortSignal): Promise<NodeObservation> {
      const started = performance.now();
      const elapsed = (): number => Math.round(performance.now() - started);
      if (closed) {
        return unreachable(new NinesError('NINES_E_COMMAND_ABORTED', 'the probe is closed'), Date.now());
      }
      let timer: NodeJS.Timeout | undefined;
      let onAbort: (() => void) | undefined;
      const stop = new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => reject(new Deadline()), options.timeoutMs);
        onAbort = () => reject(new NinesError('NINES_E_COMMAND_ABORTED', `probe of ${options.address}`));
        if (signal?.aborted) onAbort();
        else signal?.addEventListener('abort', onAbort, { once: true });
      });
      try {
        const reading = await Promise.race([once(started + options.timeoutMs), stop]);
        return { ...reading, time: Date.now(), probeMs: elapsed() };
      } catch (err) {
        drop();
        const cause =
          err instanceof Deadline
            ? new NinesError(
                'NINES_E_DB_UNREACHABLE',
                `${options.address}: no answer within ${options.timeoutMs} ms`,
                { context: { address: options.address, timeoutMs: options.timeoutMs } },
              )
            : err;
        return unreachable(cause, Date.now(), elapsed());
      } finally {
        clearTimeout(timer);
        if (onAbort) signal?.removeEventListener('abort', onAbort);
      }
    },
    async close(): Promise<void> {
      closed = true;
      drop();
      while (inflight.size > 0) await Promise.all(inflight);
    },
  };
}
