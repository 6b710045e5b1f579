import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isNinesError } from '../../../src/core/errors.ts';
import { Db } from '../../../src/controller/store/db.ts';
import { MIGRATIONS } from '../../../src/controller/store/migrations.ts';
import { SecretBox } from '../../../src/controller/store/secret-box.ts';
import { openTemp, specFor, tempDir, waitForState } from './helpers.ts';

const PASSWORD = 'Plaintext-Admin-Password-42';

test('secrets are encrypted at rest: the raw database file never holds the password', async () => {
  const t = openTemp();
  const dataDir = join(t.dir, 'data');
  try {
    const { job } = await t.controller.createCluster(
      specFor('secure', t.key, { credentials: { admin: PASSWORD, replication: 'Repl-Password-42' } }),
    );
    await waitForState(t.controller, job.id, 'succeeded');
    assert.equal(t.controller.store.inventory.credentials('secure').admin, PASSWORD, 'decrypts back');
    t.controller.store.db.raw.exec('PRAGMA wal_checkpoint(TRUNCATE)');
  } finally {
    await t.close();
  }
  for (const file of ['nines.db', 'nines.db-wal']) {
    let raw: Buffer;
    try {
      raw = readFileSync(join(dataDir, file));
    } catch {
      continue;
    }
    assert.equal(raw.includes(PASSWORD), false, `${file} holds the plaintext password`);
    assert.equal(raw.includes('Repl-Password-42'), false, `${file} holds the plaintext password`);
  }
});

test('key file, admin token file and data directory have private modes', async () => {
  const t = openTemp();
  const dataDir = join(t.dir, 'data');
  try {
    assert.equal(statSync(join(dataDir, 'secret.key')).mode & 0o777, 0o600);
    assert.equal(statSync(join(dataDir, 'secret.key')).size, 32);
    assert.equal(statSync(join(dataDir, 'admin.token')).mode & 0o777, 0o600);
    assert.equal(statSync(dataDir).mode & 0o777, 0o700);
    const token = readFileSync(join(dataDir, 'admin.token'), 'utf8').trim();
    assert.equal(t.controller.store.tokens.verify(token)?.role, 'admin');
    const rows = t.controller.store.db.all<{ hash: string }>('SELECT hash FROM api_tokens');
    assert.ok(
      rows.every((r) => r.hash !== token && /^[0-9a-f]{64}$/.test(r.hash)),
      'tokens stored as sha256 only',
    );
  } finally {
    await t.close();
  }
});

test('a restart keeps the key and the admin token (no second token is generated)', async () => {
  const first = openTemp();
  const token = readFileSync(join(first.dir, 'data', 'admin.token'), 'utf8');
  await first.controller.close(0);
  const second = openTemp({ dir: first.dir });
  try {
    assert.equal(readFileSync(join(first.dir, 'data', 'admin.token'), 'utf8'), token);
    assert.equal(second.controller.store.tokens.list().length, 1);
  } finally {
    await second.close();
  }
});

test('a second controller on the same data directory is refused', async () => {
  const t = openTemp();
  try {
    assert.throws(
      () => openTemp({ dir: t.dir }),
      (e) => isNinesError(e, 'NINES_E_CONTROLLER_RUNNING'),
    );
  } finally {
    await t.close();
  }
});

test('migrations are recorded and re-opening does not re-apply them', () => {
  const dir = tempDir();
  const db = new Db(join(dir, 'x.db'));
  assert.deepEqual(db.migrate(), { from: 0, to: MIGRATIONS.length });
  assert.deepEqual(db.migrate(), { from: MIGRATIONS.length, to: MIGRATIONS.length });
  assert.equal(db.get<{ journal_mode: string }>('PRAGMA journal_mode')?.journal_mode, 'wal');
  db.run('INSERT INTO schema_version (version, applied_at) VALUES (999, ?)', 'now');
  assert.throws(
    () => db.migrate(),
    (e) => isNinesError(e, 'NINES_E_STORE') && /newer/.test(e.message),
  );
  db.close();
});

test('SecretBox: round trip, bound to its location, tamper-evident', () => {
  const box = new SecretBox(Buffer.alloc(32, 7));
  const sealed = box.seal('s3cret', 'secret:a/admin');
  assert.ok(sealed.startsWith('v1:') && !sealed.includes('s3cret'));
  assert.equal(box.open(sealed, 'secret:a/admin'), 's3cret');
  assert.throws(
    () => box.open(sealed, 'secret:b/admin'),
    (e) => isNinesError(e, 'NINES_E_SECRET_KEY'),
  );
  assert.throws(
    () => new SecretBox(Buffer.alloc(32, 8)).open(sealed, 'secret:a/admin'),
    (e) => isNinesError(e, 'NINES_E_SECRET_KEY'),
  );
});

test('a corrupt key file is reported with its path', () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'secret.key'), 'short', { mode: 0o600 });
  assert.throws(
    () => SecretBox.fromKeyFile(join(dir, 'secret.key')),
    (e) => isNinesError(e, 'NINES_E_SECRET_KEY') && e.message.includes(join(dir, 'secret.key')),
  );
});

test('events: filters by cluster, type prefix and since id', () => {
  const t = openTemp({ start: false });
  try {
    const bus = t.controller.events;
    const seen: number[] = [];
    const off = bus.subscribe((e) => seen.push(e.id));
    const a = bus.emit({ cluster: 'a', type: 'job.queued', message: 'one' });
    bus.emit({ cluster: 'b', type: 'job.queued', message: 'two' });
    const c = bus.emit({ cluster: 'a', type: 'cluster.created', message: 'three' });
    off();
    bus.emit({ cluster: 'a', type: 'job.failed', severity: 'error', message: 'four' });
    assert.deepEqual(seen, [a.id, a.id + 1, c.id]);
    assert.deepEqual(
      bus.list({ cluster: 'a' }).map((e) => e.message),
      ['one', 'three', 'four'],
    );
    assert.deepEqual(
      bus.list({ type: 'job.' }).map((e) => e.message),
      ['one', 'two', 'four'],
    );
    assert.deepEqual(
      bus.list({ since: c.id }).map((e) => e.message),
      ['four'],
    );
  } finally {
    void t.close();
  }
});
