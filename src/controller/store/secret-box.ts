// Secrets at rest: AES-256-GCM with a 32-byte key kept in `<data-dir>/secret.key` (mode 0600, created on first
// start; a key file readable by group or others is refused, not fixed). Each value gets a fresh 12-byte nonce; the additional data binds a ciphertext to where it is stored
// (e.g. "secret:cluster:prod/admin"), so a value copied to another row does not decrypt.
// Sealed format: "v1:" + base64(nonce | tag | ciphertext).
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { openSync, readFileSync, writeSync, closeSync } from 'node:fs';
import { NinesError } from '../../core/errors.ts';
import { assertPrivateFile } from '../private-file.ts';

const KEY_BYTES = 32;

export class SecretBox {
  private readonly key: Buffer;

  constructor(key: Buffer) {
    if (key.length !== KEY_BYTES)
      throw new NinesError('NINES_E_SECRET_KEY', `the key must be ${KEY_BYTES} bytes`);
    this.key = key;
  }

  /** Reads the key file, creating it (0600, exclusive create) when it does not exist. */
  static fromKeyFile(path: string): SecretBox {
    try {
      const fd = openSync(path, 'wx', 0o600);
      try {
        writeSync(fd, randomBytes(KEY_BYTES));
      } finally {
        closeSync(fd);
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new NinesError('NINES_E_SECRET_KEY', `cannot create ${path}`, {
          cause: err,
          context: { path },
        });
      }
    }
    let key: Buffer;
    try {
      key = readFileSync(path);
    } catch (err) {
      throw new NinesError('NINES_E_SECRET_KEY', `cannot read ${path}`, { cause: err, context: { path } });
    }
    assertPrivateFile(path);
    if (key.length !== KEY_BYTES) {
      throw new NinesError('NINES_E_SECRET_KEY', `${path} holds ${key.length} bytes, expected ${KEY_BYTES}`, {
        context: { path },
      });
    }
    return new SecretBox(key);
  }

  seal(plaintext: string, aad: string): string {
    const nonce = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, nonce);
    cipher.setAAD(Buffer.from(aad));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return `v1:${Buffer.concat([nonce, cipher.getAuthTag(), body]).toString('base64')}`;
  }

  open(sealed: string, aad: string): string {
    try {
      if (!sealed.startsWith('v1:')) throw new Error('unknown format');
      const raw = Buffer.from(sealed.slice(3), 'base64');
      const decipher = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, 12));
      decipher.setAAD(Buffer.from(aad));
      decipher.setAuthTag(raw.subarray(12, 28));
      return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
    } catch (err) {
      throw new NinesError('NINES_E_SECRET_KEY', `cannot decrypt ${aad}`, { cause: err, context: { aad } });
    }
  }
}
