// Modes of the data directory's files: the database and its WAL files 0600 from the start, and a secret.key
// that group or others can read refuses the start (nothing fixed quietly, nothing written).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { isNinesError } from '../../../src/core/errors.ts';
import { openStore } from '../../../src/controller/store/store.ts';
import { tempDir } from './helpers.ts';

const mode = (file: string): string => (statSync(file).mode & 0o777).toString(8);

test('nines.db, nines.db-wal and nines.db-shm are created 0600 (umask 022)', () => {
  const dir = join(tempDir(), 'data');
  const old = process.umask(0o022);
  try {
    const store = openStore(dir);
    store.tokens.create('x', 'viewer'); // a write: the WAL is in use
    for (const f of ['nines.db', 'nines.db-wal', 'nines.db-shm', 'secret.key']) {
      assert.equal(mode(join(dir, f)), '600', f);
    }
    store.close();
  } finally {
    process.umask(old);
  }
});

test('a database left 0644 by an older nines is tightened to 0600 on open', () => {
  const dir = join(tempDir(), 'data');
  openStore(dir).close();
  chmodSync(join(dir, 'nines.db'), 0o644);
  const store = openStore(dir);
  try {
    assert.equal(mode(join(dir, 'nines.db')), '600');
    assert.equal(mode(join(dir, 'nines.db-wal')), '600');
  } finally {
    store.close();
  }
});

test('a world-readable secret.key refuses the start, says chmod 600 PATH, and is left as it was', () => {
  const dir = join(tempDir(), 'data');
  openStore(dir).close();
  const key = join(dir, 'secret.key');
  const bytes = readFileSync(key);
  for (const m of [0o644, 0o640, 0o604]) {
    chmodSync(key, m);
    const files = readdirSync(dir).sort();
    assert.throws(
      () => openStore(dir),
      (err: unknown) => {
        assert.ok(isNinesError(err, 'NINES_E_FILE_PERMISSIONS'), String(err));
        assert.match(err.message, new RegExp(`has mode 0${m.toString(8)}`));
        assert.ok(err.hint.includes(`chmod 600 ${key}`), err.hint);
        return true;
      },
    );
    assert.equal(mode(key), m.toString(8), 'not chmod-ed quietly');
    assert.deepEqual(readFileSync(key), bytes);
    assert.deepEqual(readdirSync(dir).sort(), files, 'nothing created');
  }
});
