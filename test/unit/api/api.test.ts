import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { buildApp, registeredRoutes } from '../../../src/api/app.ts';
import { openTemp, specFor, waitForState, type TempController } from '../controller/helpers.ts';

let t: TempController;
let app: FastifyInstance;
const tokens = { admin: '', operator: '', viewer: '' };
const auth = (role: keyof typeof tokens): Record<string, string> => ({
  authorization: `Bearer ${tokens[role]}`,
});

before(async () => {
  t = openTemp();
  app = buildApp(t.controller);
  await app.ready();
  tokens.admin = readFileSync(join(t.dir, 'data', 'admin.token'), 'utf8').trim();
  tokens.operator = t.controller.store.tokens.create('ops', 'operator').token;
  tokens.viewer = t.controller.store.tokens.create('watcher', 'viewer').token;
});

after(async () => {
  await app.close();
  await t.close();
});

/** Runs a request that must be refused, asserting the store is unchanged. */
async function refused(
  req: InjectOptions,
  status: number,
  code: string,
): Promise<{ code: string; message: string; hint: string; problems?: string[] }> {
  const before = t.controller.store.db.counts();
  const res = await app.inject(req);
  assert.equal(res.statusCode, status, res.body);
  const body = res.json<{ code: string; message: string; hint: string; problems?: string[] }>();
  assert.equal(body.code, code);
  assert.ok(body.message.length > 0 && body.hint.length > 0);
  assert.deepEqual(t.controller.store.db.counts(), before, 'nothing written to the store');
  return body;
}

test('health needs no token and says little', async () => {
  const res = await app.inject({ method: 'GET', url: '/api/v1/health' });
  assert.equal(res.statusCode, 200);
  assert.deepEqual(Object.keys(res.json()).sort(), ['status', 'uptimeSeconds', 'version']);
});

test('authentication is on by default: no token 401, wrong token 401', async () => {
  await refused({ method: 'GET', url: '/api/v1/clusters' }, 401, 'NINES_E_AUTH_REQUIRED');
  await refused(
    { method: 'GET', url: '/api/v1/clusters', headers: { authorization: 'Bearer nope' } },
    401,
    'NINES_E_AUTH_INVALID',
  );
  await refused(
    {
      method: 'POST',
      url: '/api/v1/clusters',
      headers: { authorization: 'Bearer nines_wrong' },
      payload: specFor('x', t.key),
    },
    401,
    'NINES_E_AUTH_INVALID',
  );
  await refused(
    { method: 'GET', url: '/api/v1/clusters', headers: { authorization: 'Basic abc' } },
    401,
    'NINES_E_AUTH_REQUIRED',
  );
});

test('roles: viewer reads but cannot create; operator cannot delete or manage tokens', async () => {
  assert.equal(
    (await app.inject({ method: 'GET', url: '/api/v1/clusters', headers: auth('viewer') })).statusCode,
    200,
  );
  const body = await refused(
    { method: 'POST', url: '/api/v1/clusters', headers: auth('viewer'), payload: specFor('x', t.key) },
    403,
    'NINES_E_AUTH_FORBIDDEN',
  );
  assert.match(body.message, /needs role operator/);
  await refused(
    { method: 'POST', url: '/api/v1/jobs/1/cancel', headers: auth('viewer') },
    403,
    'NINES_E_AUTH_FORBIDDEN',
  );
  await refused(
    { method: 'GET', url: '/api/v1/tokens', headers: auth('operator') },
    403,
    'NINES_E_AUTH_FORBIDDEN',
  );
  await refused(
    { method: 'DELETE', url: '/api/v1/clusters/x?confirm=x', headers: auth('operator') },
    403,
    'NINES_E_AUTH_FORBIDDEN',
  );
});

test('bad specs: exact path, code, and nothing written', async () => {
  const bad = specFor('x', t.key, {
    nodes: [{ host: 'a' }, { host: 'b' }, { host: 'c', port: 70000 }],
  });
  const body = await refused(
    { method: 'POST', url: '/api/v1/clusters', headers: auth('operator'), payload: bad },
    400,
    'NINES_E_SPEC_INVALID',
  );
  assert.deepEqual(body.problems, ['nodes[2].port: expected 1-65535, got 70000']);

  const unknown = await refused(
    {
      method: 'POST',
      url: '/api/v1/clusters',
      headers: auth('operator'),
      payload: { ...specFor('x', t.key), replicas: 3 },
    },
    400,
    'NINES_E_SPEC_INVALID',
  );
  assert.match(unknown.message, /replicas: expected one of .* got unknown key 'replicas'/);

  const dup = await refused(
    {
      method: 'POST',
      url: '/api/v1/clusters',
      headers: auth('operator'),
      payload: specFor('x', t.key, { nodes: [{ host: 'h', port: 3306 }, { host: 'h' }] }),
    },
    400,
    'NINES_E_SPEC_INVALID',
  );
  assert.deepEqual(dup.problems, [
    'nodes[1]: expected a unique host:port, got h:3306 (already used by nodes[0])',
  ]);

  const yaml = await refused(
    {
      method: 'POST',
      url: '/api/v1/clusters',
      headers: { ...auth('operator'), 'content-type': 'application/yaml' },
      payload: 'name: x\nnodes: [\n  {host: a}\nssh: {key: k}\n',
    },
    400,
    'NINES_E_SPEC_PARSE',
  );
  assert.match(yaml.message, /request body:\d+:\d+: /);

  const key = await refused(
    {
      method: 'POST',
      url: '/api/v1/clusters',
      headers: auth('operator'),
      payload: specFor('x', 'not-registered'),
    },
    400,
    'NINES_E_SSH_KEY_UNKNOWN',
  );
  assert.match(key.message, /ssh\.key: no key named 'not-registered' is registered/);
  assert.match(key.hint, /nines key add NAME --file PATH/);

  await refused(
    {
      method: 'POST',
      url: '/api/v1/clusters',
      headers: { ...auth('operator'), 'content-type': 'application/json' },
      payload: '{"name": ',
    },
    400,
    'NINES_E_BAD_REQUEST',
  );
});

test('query and params are validated with the field named', async () => {
  const q = await refused(
    { method: 'GET', url: '/api/v1/jobs?limit=lots', headers: auth('viewer') },
    400,
    'NINES_E_INVALID_ARGUMENT',
  );
  assert.match(q.message, /query\.limit: expected a number/);
  const p = await refused(
    { method: 'GET', url: '/api/v1/jobs/abc', headers: auth('viewer') },
    400,
    'NINES_E_INVALID_ARGUMENT',
  );
  assert.match(p.message, /params\.id: expected a number/);
  const u = await refused(
    { method: 'GET', url: '/api/v1/jobs?colour=red', headers: auth('viewer') },
    400,
    'NINES_E_INVALID_ARGUMENT',
  );
  assert.match(
    u.message,
    /query\.colour: expected one of cluster, state, type, limit, before, got unknown key 'colour'/,
  );
  await refused(
    { method: 'GET', url: '/api/v1/jobs/424242', headers: auth('viewer') },
    404,
    'NINES_E_JOB_NOT_FOUND',
  );
  await refused(
    { method: 'GET', url: '/api/v1/clusters/nope', headers: auth('viewer') },
    404,
    'NINES_E_CLUSTER_NOT_FOUND',
  );
  await refused(
    { method: 'GET', url: '/api/v1/nothing-here', headers: auth('viewer') },
    404,
    'NINES_E_NOT_FOUND',
  );
});

test('create -> 202 with a job; the cluster is returned with credentials as ***; delete needs confirm', async () => {
  const res = await app.inject({
    method: 'POST',
    url: '/api/v1/clusters',
    headers: { ...auth('operator'), 'x-request-id': 'req-123' },
    payload: specFor('api-one', t.key, { credentials: { admin: 'Top-Secret-Admin-1' } }),
  });
  assert.equal(res.statusCode, 202, res.body);
  assert.equal(res.headers['x-request-id'], 'req-123');
  const { job } = res.json<{ job: { id: number; state: string } }>();
  assert.equal(job.state, 'queued');
  await waitForState(t.controller, job.id, 'succeeded');
  const show = await app.inject({ method: 'GET', url: '/api/v1/clusters/api-one', headers: auth('viewer') });
  assert.equal(show.statusCode, 200);
  assert.ok(!show.body.includes('Top-Secret-Admin-1'));
  assert.equal(
    show.json<{ cluster: { spec: { credentials: { admin: string } } } }>().cluster.spec.credentials.admin,
    '***',
  );
  const jobRes = await app.inject({ method: 'GET', url: `/api/v1/jobs/${job.id}`, headers: auth('viewer') });
  assert.ok(!jobRes.body.includes('Top-Secret-Admin-1'));
  assert.deepEqual(
    jobRes.json<{ steps: { name: string }[] }>().steps.map((s) => s.name),
    [
      'validate',
      'store in the inventory',
      'connectivity',
      'controller address',
      'fake deploy',
      'record topology',
    ],
  );
  const events = await app.inject({
    method: 'GET',
    url: '/api/v1/events?limit=1000',
    headers: auth('viewer'),
  });
  assert.ok(!events.body.includes('Top-Secret-Admin-1'));
  const nodes = await app.inject({
    method: 'GET',
    url: '/api/v1/nodes?cluster=api-one',
    headers: auth('viewer'),
  });
  assert.equal(nodes.json<{ nodes: unknown[] }>().nodes.length, 2);

  await refused(
    {
      method: 'POST',
      url: '/api/v1/clusters',
      headers: auth('operator'),
      payload: specFor('api-one', t.key),
    },
    409,
    'NINES_E_CLUSTER_EXISTS',
  );
  await refused(
    { method: 'DELETE', url: '/api/v1/clusters/api-one', headers: auth('admin') },
    400,
    'NINES_E_CONFIRMATION_REQUIRED',
  );
  const del = await app.inject({
    method: 'DELETE',
    url: '/api/v1/clusters/api-one?confirm=api-one',
    headers: auth('admin'),
  });
  assert.equal(del.statusCode, 202);
  await waitForState(t.controller, del.json<{ job: { id: number } }>().job.id, 'succeeded');
});

test('spec validation endpoint returns the normalized spec without secrets', async () => {
  const res = await app.inject({
    method: 'POST',
    url: '/api/v1/spec/validate',
    headers: { ...auth('viewer'), 'content-type': 'application/yaml' },
    payload: `name: v\ntype: galera\nnodes: [{host: a}, {host: b}]\nssh: {key: test-key}\ncredentials: {admin: Very-Secret-1}\n`,
  });
  assert.equal(res.statusCode, 200, res.body);
  const body = res.json<{ spec: { nodes: { port: number }[] }; warnings: string[]; generated: string[] }>();
  assert.equal(body.spec.nodes[0]?.port, 3306);
  assert.equal(body.warnings.length, 1);
  assert.deepEqual(body.generated, ['replication', 'monitor']);
  assert.ok(!res.body.includes('Very-Secret-1'));
  const unregistered = await app.inject({
    method: 'POST',
    url: '/api/v1/spec/validate',
    headers: auth('viewer'),
    payload: { name: 'v', type: 'mariadb-replication', nodes: [{ host: 'a' }], ssh: { key: 'nope' } },
  });
  assert.equal(unregistered.statusCode, 200, unregistered.body);
  assert.deepEqual(unregistered.json<{ warnings: string[] }>().warnings, [
    "ssh.key: no key named 'nope' is registered (nines key add nope --file PATH)",
  ]);
});

test('tokens: admin creates, the new token works with its role, revoke makes it fail', async () => {
  const created = await app.inject({
    method: 'POST',
    url: '/api/v1/tokens',
    headers: auth('admin'),
    payload: { name: 'ci', role: 'viewer' },
  });
  assert.equal(created.statusCode, 201);
  const { id, token } = created.json<{ id: number; token: string }>();
  assert.equal(
    (await app.inject({ method: 'GET', url: '/api/v1/jobs', headers: { authorization: `Bearer ${token}` } }))
      .statusCode,
    200,
  );
  const list = await app.inject({ method: 'GET', url: '/api/v1/tokens', headers: auth('admin') });
  assert.ok(!list.body.includes(token), 'tokens are never listed');
  assert.equal(
    (await app.inject({ method: 'DELETE', url: `/api/v1/tokens/${id}`, headers: auth('admin') })).statusCode,
    200,
  );
  await refused(
    { method: 'GET', url: '/api/v1/jobs', headers: { authorization: `Bearer ${token}` } },
    401,
    'NINES_E_AUTH_INVALID',
  );
  await refused(
    { method: 'POST', url: '/api/v1/tokens', headers: auth('admin'), payload: { name: 'x', role: 'root' } },
    400,
    'NINES_E_INVALID_ARGUMENT',
  );
});

test('jobs: submit a submittable type, list with filters, cancel', async () => {
  const res = await app.inject({
    method: 'POST',
    url: '/api/v1/jobs',
    headers: auth('operator'),
    payload: { type: 'test.sleep', cluster: 'j', params: { ms: 5000 } },
  });
  assert.equal(res.statusCode, 202, res.body);
  const { job } = res.json<{ job: { id: number } }>();
  await waitForState(t.controller, job.id, 'running');
  const cancel = await app.inject({
    method: 'POST',
    url: `/api/v1/jobs/${job.id}/cancel`,
    headers: auth('operator'),
  });
  assert.equal(cancel.statusCode, 202);
  await waitForState(t.controller, job.id, 'cancelled');
  const list = await app.inject({
    method: 'GET',
    url: '/api/v1/jobs?cluster=j&state=cancelled',
    headers: auth('viewer'),
  });
  assert.deepEqual(
    list.json<{ jobs: { id: number }[] }>().jobs.map((j) => j.id),
    [job.id],
  );
  await refused(
    { method: 'POST', url: '/api/v1/jobs', headers: auth('operator'), payload: { type: 'cluster.create' } },
    400,
    'NINES_E_JOB_TYPE_UNKNOWN',
  );
  const logs = await app.inject({
    method: 'GET',
    url: `/api/v1/jobs/${job.id}/logs`,
    headers: auth('viewer'),
  });
  assert.ok(
    logs.json<{ lines: { line: string }[] }>().lines.some((l) => l.line.startsWith('cancel requested')),
  );
});

test('the OpenAPI document lists exactly the routes Fastify registered', async () => {
  const res = await app.inject({ method: 'GET', url: '/api/v1/openapi.json' });
  assert.equal(res.statusCode, 200);
  const doc = res.json<{
    openapi: string;
    paths: Record<string, Record<string, { 'x-nines-role': string }>>;
  }>();
  assert.equal(doc.openapi, '3.1.0');
  const documented = Object.entries(doc.paths)
    .flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`))
    .sort();
  const actual = registeredRoutes(app)
    .map((r) => `${r.method} ${r.url.replace(/:(\w+)/g, '{$1}')}`)
    .sort();
  assert.ok(actual.length >= 18);
  assert.deepEqual(documented, actual);
  assert.equal(doc.paths['/api/v1/tokens']?.post?.['x-nines-role'], 'admin');
});
