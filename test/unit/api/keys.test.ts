// The SSH key registry through the API (issue 8, item 2): keys are added as content (never a path), stored
// sealed, never returned; specs name a key; no spec field names a file on the controller.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance, InjectOptions } from 'fastify';
import ssh2 from 'ssh2';
import { buildApp } from '../../../src/api/app.ts';
import { clusterDir, knownHostsPath } from '../../../src/controller/cluster-hosts.ts';
import {
  openTemp,
  specFor,
  testPrivateKey,
  waitForState,
  type TempController,
} from '../controller/helpers.ts';
import { usableEd25519Key } from '../../support/test-key.ts';

let t: TempController;
let app: FastifyInstance;
let dataDir: string;
const tokens = { admin: '', operator: '', viewer: '' };
const auth = (role: keyof typeof tokens): Record<string, string> => ({
  authorization: `Bearer ${tokens[role]}`,
});

before(async () => {
  t = openTemp();
  app = buildApp(t.controller);
  await app.ready();
  dataDir = join(t.dir, 'data');
  tokens.admin = readFileSync(join(dataDir, 'admin.token'), 'utf8').trim();
  tokens.operator = t.controller.store.tokens.create('ops', 'operator').token;
  tokens.viewer = t.controller.store.tokens.create('watcher', 'viewer').token;
});

after(async () => {
  await app.close();
  await t.close();
});

interface ErrorBody {
  code: string;
  message: string;
  hint: string;
}

/** A request that must be refused with status + code, writing nothing to the store. */
async function refused(req: InjectOptions, status: number, code: string): Promise<ErrorBody> {
  const before = t.controller.store.db.counts();
  const res = await app.inject(req);
  assert.equal(res.statusCode, status, res.body);
  const body = res.json<ErrorBody>();
  assert.equal(body.code, code, res.body);
  assert.ok(body.message.length > 0 && body.hint.length > 0);
  assert.deepEqual(t.controller.store.db.counts(), before, 'nothing written to the store');
  return body;
}

const newKey = (): string => usableEd25519Key();
/** A line of the key's base64 body: if it appears in a response, the key leaked. */
const secretLine = (key: string): string => key.split('\n')[2] ?? '';

function addKey(
  name: string,
  privateKey: string,
  extra: Record<string, unknown> = {},
  role = 'admin' as const,
) {
  return app.inject({
    method: 'POST',
    url: '/api/v1/keys',
    headers: auth(role),
    payload: { name, privateKey, ...extra },
  });
}

test('add, list, show, remove: the private key is stored sealed and never returned', async () => {
  const key = newKey();
  const res = await addKey('deploy-1', key);
  assert.equal(res.statusCode, 201, res.body);
  const body = res.json<{ action: string; key: { name: string; type: string; fingerprint: string } }>();
  assert.equal(body.action, 'added');
  assert.equal(body.key.type, 'ssh-ed25519');
  assert.match(body.key.fingerprint, /^SHA256:[A-Za-z0-9+/]{43}$/);

  const list = await app.inject({ method: 'GET', url: '/api/v1/keys', headers: auth('viewer') });
  assert.equal(list.statusCode, 200);
  const keys = list.json<{ keys: { name: string; usedBy: string[] }[] }>().keys;
  assert.deepEqual(
    keys.map((k) => k.name),
    ['deploy-1', 'test-key'],
  );
  const show = await app.inject({ method: 'GET', url: '/api/v1/keys/deploy-1', headers: auth('viewer') });
  assert.equal(show.statusCode, 200);
  for (const r of [res, list, show]) {
    assert.ok(!r.body.includes(secretLine(key)), 'no private key material in a response');
    assert.ok(!r.body.includes('PRIVATE KEY'), 'no private key in a response');
  }
  // At rest: sealed in the secrets table, nowhere in the database file in clear.
  const db = readFileSync(join(dataDir, 'nines.db'));
  assert.ok(!db.includes(secretLine(key)), 'the database file does not hold the key in clear');
  assert.equal(t.controller.store.keys.privateKey('deploy-1'), key, 'the controller can open it');

  const del = await app.inject({ method: 'DELETE', url: '/api/v1/keys/deploy-1', headers: auth('admin') });
  assert.equal(del.statusCode, 200, del.body);
  assert.equal(t.controller.store.keys.has('deploy-1'), false);
  assert.equal(
    t.controller.store.secrets.get('ssh-key:deploy-1', 'private'),
    undefined,
    'secret removed too',
  );
  await refused(
    { method: 'DELETE', url: '/api/v1/keys/deploy-1', headers: auth('admin') },
    404,
    'NINES_E_KEY_NOT_FOUND',
  );
});

test('adding and removing keys is for admins; viewers and operators only read', async () => {
  await refused(
    {
      method: 'POST',
      url: '/api/v1/keys',
      headers: auth('operator'),
      payload: { name: 'x', privateKey: newKey() },
    },
    403,
    'NINES_E_AUTH_FORBIDDEN',
  );
  await refused(
    { method: 'DELETE', url: '/api/v1/keys/test-key', headers: auth('operator') },
    403,
    'NINES_E_AUTH_FORBIDDEN',
  );
  await refused({ method: 'GET', url: '/api/v1/keys' }, 401, 'NINES_E_AUTH_REQUIRED');
});

test('bad key content: 400 NINES_E_KEY_INVALID saying why, nothing stored', async () => {
  const pair = ssh2.utils.generateKeyPairSync('ed25519');
  const encrypted = ssh2.utils.generateKeyPairSync('ed25519', {
    passphrase: 'secret',
    cipher: 'aes256-ctr',
    rounds: 16,
  }).private;
  const cases: [string, string, RegExp][] = [
    ['garbage', 'not a key at all\n', /not a private key in OpenSSH or PEM format/],
    ['public', pair.public, /this is a public key/],
    ['encrypted', encrypted, /passphrase-protected/],
  ];
  for (const [name, privateKey, why] of cases) {
    const body = await refused(
      { method: 'POST', url: '/api/v1/keys', headers: auth('admin'), payload: { name, privateKey } },
      400,
      'NINES_E_KEY_INVALID',
    );
    assert.match(body.message, why, name);
    assert.ok(!body.message.includes(privateKey.trim().slice(0, 40)), 'the key text is not echoed');
  }
  const path = await refused(
    {
      method: 'POST',
      url: '/api/v1/keys',
      headers: auth('admin'),
      payload: { name: 'p', file: '/etc/shadow' },
    },
    400,
    'NINES_E_INVALID_ARGUMENT',
  );
  assert.match(path.message, /file/);
  const badName = await refused(
    {
      method: 'POST',
      url: '/api/v1/keys',
      headers: auth('admin'),
      payload: { name: '../x', privateKey: newKey() },
    },
    400,
    'NINES_E_INVALID_ARGUMENT',
  );
  assert.match(badName.message, /name: expected a key name/);
});

test('the same key again is unchanged; other content under a taken name needs replace', async () => {
  const first = newKey();
  assert.equal((await addKey('rotate', first)).statusCode, 201);
  const again = await addKey('rotate', first);
  assert.equal(again.json<{ action: string }>().action, 'unchanged');
  const second = newKey();
  const taken = await refused(
    {
      method: 'POST',
      url: '/api/v1/keys',
      headers: auth('admin'),
      payload: { name: 'rotate', privateKey: second },
    },
    409,
    'NINES_E_KEY_EXISTS',
  );
  assert.match(taken.hint, /--replace/);
  const replaced = await addKey('rotate', second, { replace: true });
  assert.equal(replaced.json<{ action: string }>().action, 'replaced');
  assert.equal(t.controller.store.keys.privateKey('rotate'), second);
  const events = t.controller.store.events.list({ type: 'key.' }).map((e) => e.type);
  assert.ok(events.includes('key.added') && events.includes('key.replaced'), events.join(','));
});

test('a key in use cannot be removed: 409 naming the clusters', async () => {
  assert.equal((await addKey('in-use', newKey())).statusCode, 201);
  const { job } = await t.controller.createCluster(specFor('uses-key', 'in-use'));
  await waitForState(t.controller, job.id, 'succeeded');
  const body = await refused(
    { method: 'DELETE', url: '/api/v1/keys/in-use', headers: auth('admin') },
    409,
    'NINES_E_KEY_IN_USE',
  );
  assert.match(body.message, /in-use is used by uses-key/);
  const list = await app.inject({ method: 'GET', url: '/api/v1/keys/in-use', headers: auth('viewer') });
  assert.deepEqual(list.json<{ key: { usedBy: string[] } }>().key.usedBy, ['uses-key']);
});

test('a spec naming files on the controller is refused with the fix; secret.key is never touched', async () => {
  const secretKey = join(dataDir, 'secret.key');
  const before = readFileSync(secretKey);
  const mtime = statSync(secretKey).mtimeMs;
  for (const ssh of [
    { key: 'test-key', knownHostsFile: secretKey },
    { keyFile: '/etc/shadow' },
    { keyFile: '/nonexistent/id_rsa' },
  ]) {
    const body = await refused(
      {
        method: 'POST',
        url: '/api/v1/clusters',
        headers: auth('operator'),
        payload: { ...specFor('paths', 'test-key'), ssh },
      },
      400,
      'NINES_E_SSH_KEY_PATH',
    );
    assert.match(body.hint, /nines key add NAME --file PATH/);
    assert.match(body.hint, /ssh: \{key: NAME\}/);
    assert.ok(!/ENOENT|EACCES|exist/i.test(body.message), `says nothing about the file: ${body.message}`);
  }
  // The existing file and the missing one get the same answer (no oracle for what exists on the controller).
  await refused(
    {
      method: 'POST',
      url: '/api/v1/clusters/import',
      headers: auth('operator'),
      payload: { ...specFor('paths', 'x'), ssh: { keyFile: '/etc/shadow' } },
    },
    400,
    'NINES_E_SSH_KEY_PATH',
  );
  assert.deepEqual(readFileSync(secretKey), before, 'secret.key unchanged');
  assert.equal(statSync(secretKey).mtimeMs, mtime);
  assert.equal(t.controller.store.inventory.hasCluster('paths'), false);
});

test('known_hosts paths stay inside <data-dir>/clusters: derived from a valid cluster name only', () => {
  const base = join(dataDir, 'clusters');
  assert.equal(knownHostsPath(dataDir, 'prod-1'), join(base, 'prod-1', 'known_hosts'));
  for (const bad of ['..', '../x', 'a/b', '/etc', '', '.', 'x/../../y', 'A', '-a', 'a\0b', 'a'.repeat(64)]) {
    assert.throws(() => clusterDir(dataDir, bad), /not a cluster name/, JSON.stringify(bad));
  }
});

test('deleting a cluster removes its pinned host keys', async () => {
  const { job } = await t.controller.createCluster(specFor('pinned', 'test-key'));
  await waitForState(t.controller, job.id, 'succeeded');
  const file = knownHostsPath(dataDir, 'pinned');
  mkdirSync(clusterDir(dataDir, 'pinned'), { recursive: true, mode: 0o700 });
  writeFileSync(file, '10.0.0.1 ssh-ed25519 AAAA\n', { mode: 0o600 });
  const del = t.controller.deleteCluster('pinned', 'pinned');
  await waitForState(t.controller, del.id, 'succeeded');
  assert.equal(existsSync(clusterDir(dataDir, 'pinned')), false);
  assert.ok(existsSync(join(dataDir, 'secret.key')), 'nothing else removed');
});

test('the test key helper is a real, usable key', () => {
  assert.equal(t.controller.store.keys.privateKey('test-key'), testPrivateKey());
});
