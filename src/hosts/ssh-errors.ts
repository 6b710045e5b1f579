// Maps what ssh2 and node's net layer report to nines error codes. Pure and table-tested. Classification uses
// the errno (`code`) of socket errors and the `level` ssh2 puts on its own errors — never message text.
import type { ErrorCode } from '../core/errors.ts';

export interface SshErrorFacts {
  /** Our host-key verifier refused the key because it differs from the recorded one. */
  readonly hostKeyChanged?: boolean;
  readonly connectTimeoutMs?: number;
}

export interface SshErrorClass {
  readonly code: ErrorCode;
  /** A more precise hint than the registry's, when the cause is known. */
  readonly hint?: string;
}

const UNREACHABLE_ERRNO: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'Nothing listens on that address and port (connection refused): is sshd running there?',
  ETIMEDOUT: 'The host did not answer (connection timed out): is it up, and is the path to it open?',
  EHOSTUNREACH: 'No route to the host: check the address and the network path.',
  ENETUNREACH: 'The network of the host is unreachable from the controller.',
  EHOSTDOWN: 'The host is down.',
  ECONNRESET: 'The connection was reset by the host or a firewall.',
  ECONNABORTED: 'The connection was aborted.',
  EPIPE: 'The connection was closed by the host.',
  ENOTFOUND: 'The host name does not resolve: check it or use an IP address.',
  EAI_AGAIN: 'The host name could not be resolved right now (DNS failure).',
  EADDRNOTAVAIL: 'The address is not available from this machine.',
};

function errorField(err: unknown, field: 'code' | 'level'): unknown {
  return typeof err === 'object' && err !== null && field in err
    ? (err as Record<string, unknown>)[field]
    : undefined;
}

/** Classifies an error met while connecting or authenticating. */
export function classifySshError(err: unknown, facts: SshErrorFacts = {}): SshErrorClass {
  if (facts.hostKeyChanged) return { code: 'NINES_E_SSH_HOSTKEY_CHANGED' };
  const code = errorField(err, 'code');
  const level = errorField(err, 'level');
  if (typeof code === 'string' && code in UNREACHABLE_ERRNO) {
    return { code: 'NINES_E_HOST_UNREACHABLE', hint: UNREACHABLE_ERRNO[code] };
  }
  switch (level) {
    case 'client-authentication':
    case 'agent':
      return { code: 'NINES_E_SSH_AUTH' };
    case 'client-timeout': {
      const within = facts.connectTimeoutMs === undefined ? '' : ` within ${facts.connectTimeoutMs} ms`;
      return {
        code: 'NINES_E_HOST_UNREACHABLE',
        hint: `No SSH handshake${within}: the host or the path to it may be down, or sshd is overloaded.`,
      };
    }
    case 'client-dns':
      return { code: 'NINES_E_HOST_UNREACHABLE', hint: UNREACHABLE_ERRNO.ENOTFOUND };
    case 'handshake':
      return {
        code: 'NINES_E_HOST_UNREACHABLE',
        hint: 'The SSH handshake failed: no common algorithm, or the host offers no key type recorded for it in known_hosts.',
      };
    default:
      return { code: 'NINES_E_HOST_UNREACHABLE' };
  }
}
