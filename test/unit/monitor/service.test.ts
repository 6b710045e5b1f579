// The monitor service end to end with fake probes: snapshot -> events -> inventory -> alarms -> notifications ->
// metrics, maintenance suppression, the alarm store's ack and history, the kill job, and Prometheus text.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startWebhookServer, type WebhookServer } from '../../support/webhook-server.ts';
import {
  afterTicks,
  openMonitorHarness,
  parsePrometheus,
  waitFor,
  type MonitorHarness,
} from './service-helpers.ts';

let h: MonitorHarness;
let hook: WebhookServer;

before(async () => {
  hook = await startWebhookServer();
  h = openMonitorHarness();
  await h.controller.monitor.notify.put({
    kind: 'webhook',
    name: 'hook',
    url: hook.url('/hook?token=s3cr3t-token'),
  });
  h.addCluster('prod');
});

after(async () => {
  await h.close();
  await hook.close();
});

const events = (type: string) => h.controller.events.list({ cluster: 'prod', type, limit: 1000 });

test('first snapshots: node and cluster state events, observed state in the inventory, metrics recorded', async () => {
  await waitFor('cluster healthy', () => events('cluster.state').some((e) => e.data.to === 'healthy'));
  const nodeEvents = events('node.state');
  assert.equal(nodeEvents.length, 2);
  assert.match(
    nodeEvents[0]?.message ?? '',
    /^node 127\.0\.0\.1:330[67] unknown -> up: reachable as (primary|replica)$/,
  );
  await waitFor('inventory updated', () =>
    h.controller.store.inventory.listNodes('prod').every((n) => n.state === 'up'),
  );
  const nodes = h.controller.store.inventory.listNodes('prod');
  assert.deepEqual(
    nodes.map((n) => n.role),
    ['primary', 'replica'],
  );
  const cluster = h.controller.store.inventory.getCluster('prod');
  assert.equal((cluster?.observed.health as { state: string }).state, 'healthy');
  await waitFor('metrics', () => h.controller.monitor.metrics.counts().raw > 10);
  const q = h.controller.monitor.metrics.query({
    cluster: 'prod',
    metrics: ['qps'],
    from: Date.now() - 60_000,
    to: Date.now() + 1,
  });
  assert.equal(q.tier, 'raw');
  assert.equal(q.series.length, 2);
  assert.ok(q.series.every((s) => s.points.length > 0 && s.points.every((p) => p.value > 0)));
});

test('a replica goes down: pending, then down, a node-down alarm, events and one webhook; back up: cleared once', async () => {
  h.answer = (host, port) =>
    port === 3307
      ? {
          reachable: false,
          role: 'unknown',
          error: { code: 'NINES_E_DB_UNREACHABLE', message: 'connect ECONNREFUSED' },
        }
      : { reachable: true, role: 'primary', readOnly: false };
  const down = await waitFor('node down', () => events('node.state').find((e) => e.data.to === 'down'));
  assert.match(
    down.message,
    /pending -> down: 2 failed probes in a row \(down after 2\): NINES_E_DB_UNREACHABLE/,
  );
  const raised = await waitFor('alarm raised', () =>
    events('alarm.raised').find((e) => e.data.rule === 'node-down'),
  );
  assert.equal(raised.severity, 'critical');
  const active = h.controller.monitor.alarms.active('prod');
  assert.deepEqual(active.map((a) => a.rule).sort(), ['cluster-state', 'node-down']);
  await hook.waitForRequests(2, 5000);
  const bodies = hook.requests.map((r) => JSON.parse(r.body) as { event: string; alarm: { rule: string } });
  assert.deepEqual(bodies.map((b) => `${b.event} ${b.alarm.rule}`).sort(), [
    'alarm.raised cluster-state',
    'alarm.raised node-down',
  ]);
  const deliveries = h.controller.monitor.notify.deliveries();
  await waitFor('delivered', () =>
    h.controller.monitor.notify.deliveries().every((d) => d.state === 'delivered'),
  );
  assert.ok(deliveries.every((d) => !d.summary.includes('s3cr3t-token')));

  h.answer = (host, port) =>
    port === 3307
      ? {
          reachable: true,
          role: 'replica',
          readOnly: true,
          replication: {
            kind: 'mariadb',
            source: '127.0.0.1:3306',
            ioRunning: true,
            sqlRunning: true,
            lagSeconds: 0,
            lastError: null,
          },
        }
      : { reachable: true, role: 'primary', readOnly: false };
  await waitFor('alarm cleared', () => events('alarm.cleared').some((e) => e.data.rule === 'node-down'));
  await hook.waitForRequests(4, 5000);
  await afterTicks(h, 'prod', 3); // a second "cleared" would have been sent by now
  const kinds = hook.requests.map((r) => JSON.parse(r.body) as { event: string; alarm: { rule: string } });
  assert.equal(
    kinds.filter((k) => k.event === 'alarm.cleared' && k.alarm.rule === 'node-down').length,
    1,
    'cleared notified once',
  );
  assert.equal(hook.requests.length, 4);
  const history = h.controller.monitor.alarms.list({ cluster: 'prod', all: true });
  assert.ok(
    history.some(
      (a) => a.rule === 'node-down' && a.state === 'cleared' && a.clearReason === 'node 127.0.0.1:3307 up',
    ),
  );
});

test('ack keeps an alarm active with who/when/comment; maintenance suppresses new alarms', async () => {
  h.answer = (host, port) =>
    port === 3307
      ? {
          reachable: true,
          role: 'replica',
          readOnly: true,
          longestQuerySeconds: 400,
          replication: {
            kind: 'mariadb',
            source: '127.0.0.1:3306',
            ioRunning: true,
            sqlRunning: false,
            lagSeconds: null,
            lastError: 'stopped by test',
          },
        }
      : { reachable: true, role: 'primary', readOnly: false };
  const broken = await waitFor('replication-broken', () =>
    h.controller.monitor.alarms.active('prod').find((a) => a.rule === 'replication-broken'),
  );
  assert.ok(h.controller.monitor.alarms.active('prod').some((a) => a.rule === 'long-query'));
  const acked = h.controller.monitor.alarms.acknowledge(broken.id, 'alice', Date.now(), 'looking');
  assert.equal(acked.acknowledged?.by, 'alice');
  assert.equal(acked.acknowledged?.comment, 'looking');
  assert.equal(acked.state, 'active');

  h.controller.monitor.startMaintenance(
    'prod',
    { node: '127.0.0.1:3306', until: Date.now() + 60_000, reason: 'upgrade' },
    'bob',
  );
  h.answer = (host, port) =>
    port === 3306
      ? { reachable: false, role: 'unknown', error: { code: 'NINES_E_DB_UNREACHABLE', message: 'refused' } }
      : {
          reachable: true,
          role: 'replica',
          readOnly: true,
          replication: {
            kind: 'mariadb',
            source: '127.0.0.1:3306',
            ioRunning: true,
            sqlRunning: true,
            lagSeconds: 0,
            lastError: null,
          },
        };
  await waitFor('primary down', () => h.controller.monitor.status('prod').nodes[0]?.state === 'down');
  await afterTicks(h, 'prod', 2); // the ticks that would have raised node-down
  const status = h.controller.monitor.status('prod');
  assert.ok(
    !status.alarms.some((a) => a.rule === 'node-down' && a.node === '127.0.0.1:3306'),
    'suppressed by maintenance',
  );
  assert.ok(
    status.suppressed.some((s) => s.key === 'node-down/prod/127.0.0.1:3306' && /maintenance/.test(s.reason)),
  );
  assert.ok(events('maintenance.started').length === 1);
  assert.equal(h.controller.monitor.endMaintenance('prod', '127.0.0.1:3306', 'bob'), true);
  await waitFor('alarm after maintenance', () =>
    h.controller.monitor.alarms.active('prod').some((a) => a.rule === 'node-down'),
  );
  h.answer = (await import('./service-helpers.ts')).healthyAnswer;
});

test('Prometheus text parses and carries per-node and per-cluster series', async () => {
  await waitFor('healthy again', () => h.controller.monitor.status('prod').state === 'healthy');
  const samples = parsePrometheus(await h.controller.monitor.renderPrometheus());
  const one = (name: string, labels: Record<string, string>) =>
    samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  assert.equal(one('nines_node_up', { cluster: 'prod', node: '127.0.0.1:3306' })?.value, 1);
  assert.equal(
    one('nines_node_role', { cluster: 'prod', node: '127.0.0.1:3306', role: 'primary' })?.value,
    1,
  );
  assert.equal(one('nines_node_state', { cluster: 'prod', node: '127.0.0.1:3307', state: 'up' })?.value, 1);
  assert.equal(one('nines_cluster_state', { cluster: 'prod', state: 'healthy' })?.value, 1);
  assert.equal(one('nines_node_replication_lag_seconds', { node: '127.0.0.1:3307' })?.value, 0);
  assert.ok(one('nines_node_queries_per_second', { node: '127.0.0.1:3306' }));
  assert.ok(one('nines_node_connections', { node: '127.0.0.1:3306' }));
  assert.ok(one('nines_alarms_active', { cluster: 'prod', severity: 'critical' }));
  assert.equal(one('nines_cluster_nodes_up', { cluster: 'prod' })?.value, 2);
});

test('query.kill is an audited job with an event naming who, node and query id', async () => {
  const job = h.controller.jobs.submit({
    type: 'query.kill',
    cluster: 'prod',
    params: { node: '127.0.0.1:3307', id: 42 },
    requestedBy: 'carol',
  });
  await waitFor('job done', () => h.controller.store.jobs.get(job.id)?.state === 'succeeded');
  assert.deepEqual(h.killed, [{ node: '127.0.0.1:3307', id: 42 }]);
  const e = events('query.killed')[0];
  assert.equal(e?.data.by, 'carol');
  assert.equal(e?.data.queryId, 42);
  assert.equal(e?.data.node, '127.0.0.1:3307');
  const log = h.controller.store.jobs
    .logs(job.id, 0)
    .map((l) => l.line)
    .join('\n');
  assert.match(log, /carol asked to cancel query 42 on 127\.0\.0\.1:3307/);
  assert.match(log, /SELECT SLEEP\(30\)/);
});

test('deleting a cluster stops its loop, clears its alarms and drops its series', async () => {
  h.controller.store.inventory.deleteCluster('prod');
  await h.controller.monitor.reconcile();
  assert.deepEqual(h.controller.monitor.monitoredClusters, []);
  assert.equal(h.controller.monitor.alarms.active('prod').length, 0);
  assert.equal(h.controller.monitor.metrics.series('prod').length, 0);
});
