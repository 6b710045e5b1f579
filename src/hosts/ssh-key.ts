// What the controller needs to know about an SSH private key before it stores it: that ssh2 can use it (parsed,
// private, not passphrase-protected), its type and its public half's SHA256 fingerprint (as `ssh-keygen -l`
// prints it). The key text itself only passes through here; callers keep it encrypted.
import { createHash } from 'node:crypto';
import ssh2 from 'ssh2';
import { NinesError } from '../core/errors.ts';

export interface SshKeyInfo {
  /** ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256 ... */
  readonly type: string;
  /** `SHA256:<base64 without padding>` of the public key blob. */
  readonly fingerprint: string;
  /** The public key in authorized_keys format (`type base64`). */
  readonly publicKey: string;
}

/** Largest key text accepted (an RSA 16384-bit key in OpenSSH format is ~12 KB). */
export const MAX_PRIVATE_KEY_BYTES = 32 * 1024;

function invalid(reason: string, cause?: unknown): NinesError {
  return new NinesError('NINES_E_KEY_INVALID', reason, { ...(cause ? { cause } : {}) });
}

/** Parses a private key; throws NINES_E_KEY_INVALID saying why it cannot be used (never echoing the text). */
export function inspectPrivateKey(text: string): SshKeyInfo {
  if (Buffer.byteLength(text) > MAX_PRIVATE_KEY_BYTES) {
    throw invalid(`expected at most ${MAX_PRIVATE_KEY_BYTES} bytes, got ${Buffer.byteLength(text)}`);
  }
  const parsed = ssh2.utils.parseKey(text);
  if (parsed instanceof Error) {
    const encrypted = /passphrase/i.test(parsed.message);
    throw invalid(
      encrypted
        ? 'the key is passphrase-protected (nines stores keys encrypted itself and needs them unencrypted)'
        : 'not a private key in OpenSSH or PEM format',
    );
  }
  const key = Array.isArray(parsed) ? (parsed[0] as ssh2.ParsedKey | undefined) : parsed;
  if (!key) throw invalid('no key found in the text');
  if (!key.isPrivateKey())
    throw invalid('this is a public key; give the private key (the file without .pub)');
  const blob = key.getPublicSSH();
  const digest = createHash('sha256').update(blob).digest('base64').replace(/=+$/, '');
  return {
    type: key.type,
    fingerprint: `SHA256:${digest}`,
    publicKey: `${key.type} ${blob.toString('base64')}`,
  };
}
