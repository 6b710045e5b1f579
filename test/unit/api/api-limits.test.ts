// API input hardening with inject(): wrong-token lockout (injected clock), token names, YAML alias bombs, body
// size and media type. Raw-socket cases (slow bodies, 431, timeouts) are in test/integration/controller/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { buildApp } from '../../../src/api/app.ts';
import { openTemp, type TempController } from '../controller/helpers.ts';
import { billionLaughs } from '../../support/yaml-bombs.ts';

let t: TempController;
let app: FastifyInstance;
let admin = '';
let clock = 1_000_000;

before(async () => {
  t = openTemp({ env: { NINES_API_AUTH_FAILURE_LIMIT: '5', NINES_API_AUTH_FAILURE_WINDOW_MS: '60000' } });
  app = buildApp(t.controller, { now: () => clock });
  await app.ready();
  admin = readFileSync(join(t.dir, 'data', 'admin.token'), 'utf8').trim();
});

after(async () => {
  await app.close();
  await t.close();
});

async function refused(req: InjectOptions, status: number, code: string): Promise<{ message: string }> {
  const before = t.controller.store.db.counts();
  const res = await app.inject(req);
  assert.equal(res.statusCode, status, res.body);
  const body = res.json<{ code: string; message: string; hint: string }>();
  assert.equal(body.code, code);
  assert.ok(body.message.length > 0 && body.hint.length > 0);
  assert.deepEqual(t.controller.store.db.counts(), before, 'nothing written to the store');
  return body;
}

test('wrong tokens: after the limit, 429 with Retry-After even for a valid token; other addresses unaffected', async () => {
  const from = (remoteAddress: string, token: string): InjectOptions => ({
    method: 'GET',
    url: '/api/v1/clusters',
    remoteAddress,
    headers: { authorization: `Bearer ${token}` },
  });
  for (let i = 0; i < 5; i++) {
    const res = await app.inject(from('192.0.2.9', `nines_guess${i}`));
    assert.equal(res.statusCode, 401);
    assert.equal(res.headers.connection, 'close', 'a refused request does not keep its connection');
  }
  const locked = await app.inject(from('192.0.2.9', admin));
  assert.equal(locked.statusCode, 429);
  assert.equal(locked.json<{ code: string }>().code, 'NINES_E_AUTH_RATE_LIMITED');
  assert.equal(locked.headers['retry-after'], '12', '60 s / 5 per token');
  assert.equal((await app.inject(from('192.0.2.10', admin))).statusCode, 200, 'another address is served');
  const events = t.controller.store.events.list({ type: 'auth.' });
  assert.deepEqual(
    events.map((e) => [e.type, e.data.address]),
    [['auth.locked-out', '192.0.2.9']],
  );
  // Public routes stay open to a locked-out address (health checks of load balancers).
  const health = await app.inject({ method: 'GET', url: '/api/v1/health', remoteAddress: '192.0.2.9' });
  assert.equal(health.statusCode, 200);
  clock += 11_000;
  assert.equal(
    (await app.inject(from('192.0.2.9', admin))).statusCode,
    429,
    'still locked before Retry-After',
  );
  clock += 1_000;
  assert.equal(
    (await app.inject(from('192.0.2.9', admin))).statusCode,
    200,
    'allowed again after Retry-After',
  );
});

test('token names: control, format and bidirectional characters are refused with the field named', async () => {
  for (const [name, cp] of [
    ['ops\u0000', '0000'],
    ['ops\u202Egnp.exe', '202E'],
    ['a\u2066b', '2066'],
    ['line\nbreak', '000A'],
    ['c1\u0085', '0085'],
    ['zero\u200Bwidth', '200B'],
  ] as const) {
    const r = await refused(
      {
        method: 'POST',
        url: '/api/v1/tokens',
        headers: { authorization: `Bearer ${admin}` },
        payload: { name, role: 'viewer' },
      },
      400,
      'NINES_E_INVALID_ARGUMENT',
    );
    assert.match(r.message, new RegExp(`body\\.name: expected printable characters, got U\\+${cp}`));
  }
  const space = await refused(
    {
      method: 'POST',
      url: '/api/v1/tokens',
      headers: { authorization: `Bearer ${admin}` },
      payload: { name: ' ops', role: 'viewer' },
    },
    400,
    'NINES_E_INVALID_ARGUMENT',
  );
  assert.match(space.message, /body\.name: expected no leading or trailing space/);
  const ok = await app.inject({
    method: 'POST',
    url: '/api/v1/tokens',
    headers: { authorization: `Bearer ${admin}` },
    payload: { name: 'équipe ops — nuit', role: 'viewer' },
  });
  assert.equal(ok.statusCode, 201, ok.body);
});

test('a YAML billion laughs or a dangling alias is 400 NINES_E_SPEC_PARSE with a position', async () => {
  for (const [url, payload, where] of [
    ['/api/v1/clusters', billionLaughs(), /request body:2:\d+: aliases expand/],
    ['/api/v1/clusters', 'name: x\nnodes: *n\n', /request body:2:8: alias \*n has no anchor/],
    ['/api/v1/spec/validate', billionLaughs(), /aliases expand to too many nodes/],
  ] as const) {
    const r = await refused(
      {
        method: 'POST',
        url,
        headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/yaml' },
        payload,
      },
      400,
      'NINES_E_SPEC_PARSE',
    );
    assert.match(r.message, where);
  }
});

test('body too large, unsupported media type and a bad URL answer {code, message, hint}', async () => {
  const auth = { authorization: `Bearer ${admin}` };
  await refused(
    {
      method: 'POST',
      url: '/api/v1/clusters',
      headers: { ...auth, 'content-type': 'application/json' },
      payload: JSON.stringify({ name: 'x'.repeat(2_000_000) }),
    },
    413,
    'NINES_E_REQUEST_TOO_LARGE',
  );
  await refused(
    {
      method: 'POST',
      url: '/api/v1/clusters',
      headers: { ...auth, 'content-type': 'application/xml' },
      payload: '<x/>',
    },
    415,
    'NINES_E_UNSUPPORTED_MEDIA_TYPE',
  );
  await refused({ method: 'GET', url: '/api/v1/clusters/%zz', headers: auth }, 400, 'NINES_E_BAD_REQUEST');
  await refused(
    { method: 'GET', url: `/api/v1/clusters/${'n'.repeat(300)}`, headers: auth },
    414,
    'NINES_E_URI_TOO_LONG',
  );
});
