// The connectivity check of the deploy jobs: its target and type, and a placeholder (a TCP connect to the SSH
// port) for tests; the controller's real probe is an SSH login (cluster-hosts.ts).
import { connect } from 'node:net';
import { NinesError } from '../core/errors.ts';

export interface ProbeTarget {
  /** The cluster the host belongs to (its known_hosts file). */
  readonly cluster: string;
  readonly host: string;
  /** SSH port. */
  readonly port: number;
  readonly user: string;
  /** Name of the registered SSH key. */
  readonly key: string;
}

/** Resolves when the host can be reached; throws a NinesError (e.g. NINES_E_HOST_UNREACHABLE) otherwise. */
export type ProbeHost = (target: ProbeTarget, signal: AbortSignal) => Promise<{ readonly detail: string }>;

/** Placeholder probe: a TCP connection to the SSH port (no login). */
export const tcpProbe: ProbeHost = (target, signal) =>
  new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = connect({ host: target.host, port: target.port, timeout: 5000 });
    const fail = (reason: string, cause?: unknown): void => {
      socket.destroy();
      reject(
        new NinesError('NINES_E_HOST_UNREACHABLE', `${target.host}:${target.port}: ${reason}`, {
          cause,
          context: { host: target.host, port: target.port },
        }),
      );
    };
    const onAbort = (): void => fail('aborted');
    signal.addEventListener('abort', onAbort, { once: true });
    socket.once('connect', () => {
      signal.removeEventListener('abort', onAbort);
      socket.destroy();
      resolve({ detail: `tcp ${target.host}:${target.port} open (${Date.now() - started} ms)` });
    });
    socket.once('timeout', () => fail('connection timed out after 5 s'));
    socket.once('error', (err: NodeJS.ErrnoException) => fail(err.code ?? err.message, err));
  });
