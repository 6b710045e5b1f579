// Monitoring routes through app.inject: auth and roles, status, metrics, alarms ack, settings, maintenance,
// queries, notification channels (secrets never returned), and GET /metrics with its scrape-token rules.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../../src/api/app.ts';
import {
  openMonitorHarness,
  parsePrometheus,
  waitFor,
  type MonitorHarness,
} from '../monitor/service-helpers.ts';

let h: MonitorHarness;
let app: FastifyInstance;
const tokens = { admin: '', operator: '', viewer: '' };
const auth = (role: keyof typeof tokens) => ({ authorization: `Bearer ${tokens[role]}` });
const SCRAPE = 'scrape-token-0123456789abcdef';

before(async () => {
  h = openMonitorHarness({ NINES_METRICS_TOKEN: SCRAPE });
  app = buildApp(h.controller);
  await app.ready();
  tokens.admin = readFileSync(join(h.dir, 'data', 'admin.token'), 'utf8').trim();
  tokens.operator = h.controller.store.tokens.create('ops', 'operator').token;
  tokens.viewer = h.controller.store.tokens.create('watcher', 'viewer').token;
  h.addCluster('prod');
  await waitFor('healthy', () => h.controller.monitor.status('prod').state === 'healthy');
});

after(async () => {
  await app.close();
  await h.close();
});

test('status: needs a token; viewer reads the live topology with reasons', async () => {
  assert.equal((await app.inject({ method: 'GET', url: '/api/v1/clusters/prod/status' })).statusCode, 401);
  const res = await app.inject({
    method: 'GET',
    url: '/api/v1/clusters/prod/status',
    headers: auth('viewer'),
  });
  assert.equal(res.statusCode, 200);
  const body = res.json<{
    state: string;
    reason: string;
    nodes: { role: string; state: string; qps: number }[];
  }>();
  assert.equal(body.state, 'healthy');
  assert.match(body.reason, /^healthy: primary 127\.0\.0\.1:3306, 1 replica$/);
  assert.deepEqual(
    body.nodes.map((n) => `${n.role} ${n.state}`),
    ['primary up', 'replica up'],
  );
  const all = await app.inject({ method: 'GET', url: '/api/v1/status', headers: auth('viewer') });
  assert.equal(all.json<{ clusters: { cluster: string; nodesUp: number }[] }>().clusters[0]?.nodesUp, 2);
  const missing = await app.inject({
    method: 'GET',
    url: '/api/v1/clusters/nope/status',
    headers: auth('viewer'),
  });
  assert.equal(missing.json<{ code: string }>().code, 'NINES_E_CLUSTER_NOT_FOUND');
});

test('metrics: series by name and node, tier chosen by range and step', async () => {
  await waitFor('points', () => h.controller.monitor.metrics.counts().raw > 20);
  const res = await app.inject({
    method: 'GET',
    url: '/api/v1/clusters/prod/metrics?series=qps,up&node=127.0.0.1:3306&from=-5m',
    headers: auth('viewer'),
  });
  assert.equal(res.statusCode, 200, res.body);
  const body = res.json<{ tier: string; series: { metric: string; node: string; points: unknown[] }[] }>();
  assert.equal(body.tier, 'raw');
  assert.deepEqual(body.series.map((s) => s.metric).sort(), ['qps', 'up']);
  assert.ok(body.series.every((s) => s.node === '127.0.0.1:3306' && s.points.length > 0));
  const coarse = await app.inject({
    method: 'GET',
    url: '/api/v1/clusters/prod/metrics?from=-2d&step=1h',
    headers: auth('viewer'),
  });
  assert.equal(coarse.json<{ tier: string }>().tier, '1h');
  const bad = await app.inject({
    method: 'GET',
    url: '/api/v1/clusters/prod/metrics?from=yesterday',
    headers: auth('viewer'),
  });
  assert.equal(bad.statusCode, 400);
});

test('GET /metrics: refused without a token, allowed with the scrape token or an API token', async () => {
  assert.equal(
    (await app.inject({ method: 'GET', url: '/metrics' })).json<{ code: string }>().code,
    'NINES_E_METRICS_AUTH',
  );
  assert.equal(
    (await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: 'Bearer wrong' } }))
      .statusCode,
    401,
  );
  const res = await app.inject({
    method: 'GET',
    url: '/metrics',
    headers: { authorization: `Bearer ${SCRAPE}` },
  });
  assert.equal(res.statusCode, 200);
  assert.match(String(res.headers['content-type']), /^text\/plain/);
  const samples = parsePrometheus(res.body);
  assert.ok(samples.some((s) => s.name === 'nines_node_up' && s.labels.cluster === 'prod'));
  assert.equal(
    (await app.inject({ method: 'GET', url: '/metrics', headers: auth('viewer') })).statusCode,
    200,
  );
});

test('alarms: list, ack by an operator (viewer refused), settings validated', async () => {
  h.answer = (host, port) =>
    port === 3307
      ? { reachable: false, role: 'unknown', error: { code: 'NINES_E_DB_UNREACHABLE', message: 'refused' } }
      : { reachable: true, role: 'primary', readOnly: false };
  const alarm = await waitFor('alarm', () =>
    h.controller.monitor.alarms.active('prod').find((a) => a.rule === 'node-down'),
  );
  const list = await app.inject({
    method: 'GET',
    url: '/api/v1/alarms?cluster=prod',
    headers: auth('viewer'),
  });
  assert.ok(list.json<{ alarms: { id: number }[] }>().alarms.some((a) => a.id === alarm.id));
  const url = `/api/v1/alarms/${alarm.id}/ack`;
  assert.equal(
    (await app.inject({ method: 'POST', url, headers: auth('viewer'), payload: {} })).statusCode,
    403,
  );
  const ack = await app.inject({
    method: 'POST',
    url,
    headers: auth('operator'),
    payload: { comment: 'on it' },
  });
  assert.equal(ack.statusCode, 200, ack.body);
  assert.deepEqual(
    ack.json<{ alarm: { acknowledged: { by: string; comment: string } } }>().alarm.acknowledged,
    {
      by: 'ops (token 2)',
      at: ack.json<{ alarm: { acknowledged: { at: number } } }>().alarm.acknowledged.at,
      comment: 'on it',
    },
  );
  assert.equal(
    (
      await app.inject({
        method: 'POST',
        url: '/api/v1/alarms/99999/ack',
        headers: auth('operator'),
        payload: {},
      })
    ).statusCode,
    404,
  );
  const bad = await app.inject({
    method: 'POST',
    url: '/api/v1/clusters/prod/monitor-settings',
    headers: auth('operator'),
    payload: { thresholds: { lagSeconds: { warning: -1 } } },
  });
  assert.equal(bad.json<{ code: string }>().code, 'NINES_E_MONITOR_CONFIG_INVALID');
  const good = await app.inject({
    method: 'POST',
    url: '/api/v1/clusters/prod/monitor-settings',
    headers: auth('operator'),
    payload: { thresholds: { lagSeconds: { warning: 10 } }, disabledRules: ['cpu-high'] },
  });
  assert.equal(good.statusCode, 200, good.body);
  const read = await app.inject({
    method: 'GET',
    url: '/api/v1/clusters/prod/monitor-settings',
    headers: auth('viewer'),
  });
  assert.equal(
    read.json<{ resolved: { lagSeconds: { warning: number } } }>().resolved.lagSeconds.warning,
    10,
  );
  h.answer = (await import('../monitor/service-helpers.ts')).healthyAnswer;
});

test('maintenance: operator starts and ends a window; unknown node 404', async () => {
  const start = await app.inject({
    method: 'POST',
    url: '/api/v1/clusters/prod/maintenance',
    headers: auth('operator'),
    payload: { node: '127.0.0.1:3307', duration: '2h', reason: 'kernel' },
  });
  assert.equal(start.statusCode, 201, start.body);
  const until = start.json<{ maintenance: { until: number } }>().maintenance.until;
  assert.ok(Math.abs(until - (Date.now() + 7_200_000)) < 5000);
  const unknown = await app.inject({
    method: 'POST',
    url: '/api/v1/clusters/prod/maintenance',
    headers: auth('operator'),
    payload: { node: 'nohost' },
  });
  assert.equal(unknown.json<{ code: string }>().code, 'NINES_E_NODE_NOT_FOUND');
  const end = await app.inject({
    method: 'DELETE',
    url: '/api/v1/clusters/prod/maintenance?node=127.0.0.1:3307',
    headers: auth('operator'),
  });
  assert.deepEqual(end.json(), { ended: true });
});

test('queries: top and running per node; kill queues the audited job', async () => {
  const top = await app.inject({
    method: 'GET',
    url: '/api/v1/clusters/prod/queries/top?limit=5',
    headers: auth('viewer'),
  });
  assert.equal(top.json<{ nodes: { rows: unknown[] }[] }>().nodes.length, 2);
  const running = await app.inject({
    method: 'GET',
    url: '/api/v1/clusters/prod/queries/running?node=127.0.0.1:3306',
    headers: auth('viewer'),
  });
  assert.equal(running.json<{ nodes: { rows: { id: number }[] }[] }>().nodes[0]?.rows[0]?.id, 42);
  assert.equal(
    (
      await app.inject({
        method: 'POST',
        url: '/api/v1/clusters/prod/queries/kill',
        headers: auth('viewer'),
        payload: { node: '127.0.0.1:3306', id: 42 },
      })
    ).statusCode,
    403,
  );
  const kill = await app.inject({
    method: 'POST',
    url: '/api/v1/clusters/prod/queries/kill',
    headers: auth('operator'),
    payload: { node: '127.0.0.1:3306', id: 42 },
  });
  assert.equal(kill.statusCode, 202, kill.body);
  const job = kill.json<{ job: { id: number; type: string; requestedBy: string } }>().job;
  assert.equal(job.type, 'query.kill');
  assert.equal(job.requestedBy, 'ops (token 2)');
});

test('notification channels: admin only; secrets never returned', async () => {
  const channel = {
    kind: 'webhook',
    name: 'pager',
    url: 'https://ops.example.com/hooks/abcdef123456?token=topsecret',
    headers: { authorization: 'Bearer hdr-secret' },
  };
  assert.equal(
    (
      await app.inject({
        method: 'POST',
        url: '/api/v1/notify/channels',
        headers: auth('operator'),
        payload: channel,
      })
    ).statusCode,
    403,
  );
  const put = await app.inject({
    method: 'POST',
    url: '/api/v1/notify/channels',
    headers: auth('admin'),
    payload: channel,
  });
  assert.equal(put.statusCode, 201, put.body);
  const list = await app.inject({ method: 'GET', url: '/api/v1/notify/channels', headers: auth('viewer') });
  assert.doesNotMatch(list.body + put.body, /topsecret|abcdef123456|hdr-secret/);
  assert.match(list.body, /https:\/\/ops\.example\.com\/\*\*\*/);
  const events = await app.inject({
    method: 'GET',
    url: '/api/v1/events?type=notify.&limit=10',
    headers: auth('viewer'),
  });
  assert.doesNotMatch(events.body, /topsecret|hdr-secret/);
  const raw = JSON.stringify(h.controller.store.db.raw.prepare('SELECT * FROM secrets').all());
  assert.doesNotMatch(raw, /topsecret/, 'stored encrypted');
  const invalid = await app.inject({
    method: 'POST',
    url: '/api/v1/notify/channels',
    headers: auth('admin'),
    payload: { kind: 'webhook', name: 'x', url: 'ftp://secret-url' },
  });
  assert.equal(invalid.json<{ code: string }>().code, 'NINES_E_NOTIFY_CHANNEL_INVALID');
  assert.doesNotMatch(invalid.body, /secret-url/);
  assert.equal(
    (await app.inject({ method: 'DELETE', url: '/api/v1/notify/channels/pager', headers: auth('admin') }))
      .statusCode,
    200,
  );
  assert.equal(
    (await app.inject({ method: 'DELETE', url: '/api/v1/notify/channels/pager', headers: auth('admin') }))
      .statusCode,
    404,
  );
  const deliveries = await app.inject({
    method: 'GET',
    url: '/api/v1/notify/deliveries',
    headers: auth('viewer'),
  });
  assert.equal(deliveries.statusCode, 200);
});
