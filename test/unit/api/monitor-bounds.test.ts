// Inputs the monitoring API persists are validated and bounded before anything is written: the 20-digit
// maintenance duration of issue 8 is a 400 naming the field, stores no row, and the monitor keeps working (a
// crashed node still goes down); maintenance of a cluster that does not exist is a 404; settings are bounded;
// a deleted cluster leaves no maintenance window or settings behind.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../../src/api/app.ts';
import { openMonitorHarness, waitFor, type MonitorHarness } from '../monitor/service-helpers.ts';

let h: MonitorHarness;
let app: FastifyInstance;
let token = '';

before(async () => {
  h = openMonitorHarness();
  app = buildApp(h.controller);
  await app.ready();
  token = readFileSync(join(h.dir, 'data', 'admin.token'), 'utf8').trim();
  h.addCluster('prod');
  await waitFor('healthy', () => h.controller.monitor.status('prod').state === 'healthy');
});

after(async () => {
  await app.close();
  await h.close();
});

const post = (url: string, payload: unknown) =>
  app.inject({
    method: 'POST',
    url,
    payload: payload as object,
    headers: { authorization: `Bearer ${token}` },
  });
const windows = () =>
  h.controller.store.db.all<{ cluster: string }>('SELECT cluster FROM maintenance_windows');

test('a 20-digit duration is a 400 naming body.duration; nothing stored; a crashed node still goes down', async () => {
  const res = await post('/api/v1/clusters/prod/maintenance', { duration: '99999999999999999999d' });
  assert.equal(res.statusCode, 400, res.body);
  const body = res.json<{ code: string; message: string; hint: string; problems: string[] }>();
  assert.equal(body.code, 'NINES_E_INVALID_ARGUMENT');
  assert.match(body.problems[0] ?? '', /^body\.duration: expected a duration like 30m, 2h or 7d/);
  assert.ok(body.hint);
  assert.deepEqual(windows(), []);
  h.answer = (host, port) =>
    port === 3307
      ? { reachable: false, role: 'unknown', error: { code: 'NINES_E_DB_UNREACHABLE', message: 'refused' } }
      : { reachable: true, role: 'primary', readOnly: false };
  await waitFor('node down', () =>
    h.controller.monitor.status('prod').nodes.some((n) => n.port === 3307 && n.state === 'down'),
  );
  await waitFor('node-down alarm', () =>
    h.controller.monitor.alarms.active('prod').some((a) => a.rule === 'node-down'),
  );
  assert.equal(h.controller.monitor.status('prod').monitor.degraded, false);
});

test('every maintenance field is bounded; unknown cluster 404; nothing stored', async () => {
  const url = '/api/v1/clusters/prod/maintenance';
  const cases: [unknown, RegExp][] = [
    [{ duration: '366d' }, /body\.duration/],
    [{ duration: '0s' }, /body\.duration/],
    [{ until: '9999-01-01T00:00:00Z' }, /body\.until: expected an ISO time .* at most 1 year/],
    [{ until: '2000-01-01T00:00:00Z' }, /body\.until/],
    [{ until: 'not a date' }, /body\.until/],
    [{ until: new Date(Date.now() + 3_600_000).toISOString(), duration: '1h' }, /not both/],
    [{ reason: 'x'.repeat(501) }, /body\.reason/],
    [{ node: 'x'.repeat(301) }, /body\.node/],
  ];
  for (const [payload, problem] of cases) {
    const res = await post(url, payload);
    assert.equal(res.statusCode, 400, `${JSON.stringify(payload).slice(0, 80)}: ${res.body}`);
    assert.match(res.json<{ problems: string[] }>().problems.join('\n'), problem);
  }
  const missing = await post('/api/v1/clusters/nope/maintenance', { duration: '1h' });
  assert.equal(missing.statusCode, 404);
  assert.equal(missing.json<{ code: string }>().code, 'NINES_E_CLUSTER_NOT_FOUND');
  assert.deepEqual(windows(), []);
  const ok = await post(url, { duration: '365d', reason: 'long' });
  assert.equal(ok.statusCode, 201, ok.body);
});

test('settings are bounded (percent at most 100, finite numbers); unknown cluster 404', async () => {
  const url = '/api/v1/clusters/prod/monitor-settings';
  const pct = await post(url, { thresholds: { diskPct: { warning: 101 } } });
  assert.equal(pct.statusCode, 400, pct.body);
  assert.match(pct.body, /diskPct\.warning: expected at most 100/);
  const huge = await app.inject({
    method: 'POST',
    url,
    payload: '{"thresholds":{"lagSeconds":{"warning":1e999}}}',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
  });
  assert.equal(huge.statusCode, 400, huge.body);
  const many = await post(url, { disabledRules: Array.from({ length: 51 }, () => 'node-down') });
  assert.equal(many.statusCode, 400, many.body);
  const missing = await post('/api/v1/clusters/nope/monitor-settings', { thresholds: {} });
  assert.equal(missing.statusCode, 404);
  const rows = h.controller.store.db.all('SELECT cluster FROM monitor_settings');
  assert.deepEqual(rows, []);
});

test('a deleted cluster leaves no maintenance window, settings or active alarm behind', async () => {
  assert.equal((await post('/api/v1/clusters/prod/monitor-settings', { disabledRules: [] })).statusCode, 200);
  assert.ok(windows().length > 0);
  h.controller.store.inventory.deleteCluster('prod');
  await h.controller.monitor.reconcile();
  assert.deepEqual(windows(), []);
  assert.deepEqual(h.controller.store.db.all('SELECT cluster FROM monitor_settings'), []);
  assert.equal(h.controller.monitor.alarms.active('prod').length, 0);
});
