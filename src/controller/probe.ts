// Host checks done by the controller itself before engines take over: the SSH key file is readable, and a node's
// SSH port answers. The connectivity probe is a placeholder the deploy work replaces (ControllerOptions.probeHost)
// with a real SSH login through hosts/.
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { connect } from 'node:net';
import { homedir } from 'node:os';
import { NinesError } from '../core/errors.ts';

export interface ProbeTarget {
  readonly host: string;
  /** SSH port. */
  readonly port: number;
  readonly user: string;
  readonly keyFile: string;
  readonly knownHostsFile?: string;
}

/** Resolves when the host can be reached; throws a NinesError (e.g. NINES_E_HOST_UNREACHABLE) otherwise. */
export type ProbeHost = (target: ProbeTarget, signal: AbortSignal) => Promise<{ readonly detail: string }>;

export function resolveKeyFile(path: string): string {
  return path === '~' || path.startsWith('~/') ? `${homedir()}${path.slice(1)}` : path;
}

/** Checks that the SSH private key file exists and is readable; the error names the path. */
export async function checkKeyFile(path: string): Promise<void> {
  const resolved = resolveKeyFile(path);
  try {
    await access(resolved, constants.R_OK);
    const st = await stat(resolved);
    if (!st.isFile()) throw new Error('not a regular file');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new NinesError('NINES_E_SSH_KEY_FILE', `ssh.keyFile ${path}: ${reason}`, {
      cause: err,
      context: { path, resolved },
    });
  }
}

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
