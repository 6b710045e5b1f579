import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isNinesError } from '../../../src/core/errors.ts';
import { inspectPrivateKey, MAX_PRIVATE_KEY_BYTES } from '../../../src/hosts/ssh-key.ts';

test('type, fingerprint and public key are what ssh-keygen says of the same key', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nines-sshkey-'));
  try {
    for (const type of ['ed25519', 'rsa', 'ecdsa']) {
      const file = join(dir, `id_${type}`);
      execFileSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-C', 'test', '-f', file]);
      const info = inspectPrivateKey(readFileSync(file, 'utf8'));
      const listed = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${file}.pub`], {
        encoding: 'utf8',
      });
      assert.equal(info.fingerprint, listed.split(' ')[1], type);
      const pub = readFileSync(`${file}.pub`, 'utf8').split(' ');
      assert.equal(info.publicKey, `${pub[0]} ${pub[1]}`, type);
      assert.equal(info.type, pub[0]);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('oversized text is refused before parsing', () => {
  assert.throws(
    () => inspectPrivateKey('x'.repeat(MAX_PRIVATE_KEY_BYTES + 1)),
    (err: unknown) => isNinesError(err, 'NINES_E_KEY_INVALID') && /at most/.test(err.message),
  );
});
