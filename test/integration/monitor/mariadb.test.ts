// Monitoring of a real mariadb-replication cluster on lab hosts, through a real in-process controller and its
// HTTP API: healthy topology, Prometheus text, top and long-running queries with the audited kill job, a crashed
// replica (down event within 3 s, alarm, SSE event, webhook and email; cleared and notified once when it is
// back), a stopped SQL thread (replication-broken alarm), real lag from a delayed replica (replication-lag
// alarm, and not replication-broken), and a frozen host that does not delay the others.
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../../src/api/app.ts';
import { parseFrame } from '../../../src/cli/client.ts';
import { loadConfig } from '../../../src/controller/config.ts';
import { Controller } from '../../../src/controller/controller.ts';
import { runningQueries, topStatements } from '../../../src/controller/monitor/query-insight.ts';
import type { ClusterStatusView } from '../../../src/controller/monitor/status-view.ts';
import type { EventRecord } from '../../../src/controller/store/event-repo.ts';
import { validateSpec, type ClusterSpec } from '../../../src/core/spec.ts';
import { engineFor } from '../../../src/engines/registry.ts';
import { adminEndpoint, connectSql, startServer, withSql } from '../../../src/engines/mysql/index.ts';
import { createTestLab, labFault, type TestLab } from '../../../src/lab/index.ts';
import { labEngineContext, labHostAccess, TIMEOUT_SCALE } from '../../support/lab-engine.ts';
import { startSmtpServer, type SmtpServer } from '../../support/smtp-server.ts';
import { startWebhookServer, type WebhookServer } from '../../support/webhook-server.ts';
import { parsePrometheus } from '../../unit/monitor/service-helpers.ts';

const ms = (n: number): number => Math.round(n * TIMEOUT_SCALE);
const LOGS = join(import.meta.dirname, '..', '..', '..', '.lab', 'logs');
const sleep = (n: number): Promise<void> => new Promise((r) => setTimeout(r, n));

async function until<T>(
  what: string,
  timeoutMs: number,
  fn: () => T | undefined | Promise<T | undefined>,
): Promise<T> {
  const deadline = Date.now() + ms(timeoutMs);
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`);
    await sleep(50);
  }
}

describe('monitoring mariadb-replication on lab hosts', { timeout: ms(600_000) }, () => {
  let lab: TestLab;
  let spec: ClusterSpec;
  let hosts: ReturnType<typeof labHostAccess>;
  let controller: Controller;
  let app: FastifyInstance;
  let url: string;
  let token: string;
  let dir: string;
  let hook: WebhookServer;
  let smtp: SmtpServer;
  let failed = false;
  const sse: EventRecord[] = [];
  const sseAbort = new AbortController();
  const addr = (i: number): string => `${spec.nodes[i]?.host ?? ''}:3306`;
  const status = (): ClusterStatusView => controller.monitor.status('mon');
  const nodeState = (i: number): string | undefined => status().nodes.find((n) => n.node === addr(i))?.state;

  before(async () => {
    lab = await createTestLab(3);
    const inv = lab.inventory;
    spec = validateSpec({
      name: 'mon',
      type: 'mariadb-replication',
      nodes: inv.hosts.map((h, i) => ({ host: h.address, ...(i === 0 ? { role: 'primary' } : {}) })),
      ssh: { key: 'lab' },
      credentials: { admin: 'admin-secret-9', replication: 'repl-secret-9', monitor: 'monitor-secret-9' },
    }).spec;
    hosts = labHostAccess(inv);
    await engineFor(spec.type).deploy(labEngineContext(inv, spec, hosts));
    hook = await startWebhookServer();
    smtp = await startSmtpServer();
    dir = mkdtempSync(join(tmpdir(), 'nines-monit-'));
    const config = loadConfig({
      env: { NINES_LOG_LEVEL: 'warn' },
      overrides: { dataDir: dir, listen: '127.0.0.1:0' },
    });
    controller = Controller.open({ config });
    controller.keys.add('lab', readFileSync(inv.privateKeyPath, 'utf8'));
    controller.start();
    app = buildApp(controller);
    await app.listen({ host: '127.0.0.1', port: 0 });
    const address = app.server.address();
    url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    token = controller.store.tokens.create('it', 'admin').token;
    await controller.monitor.notify.put({ kind: 'webhook', name: 'hook', url: hook.url('/hook/s3cret') });
    await controller.monitor.notify.put({
      kind: 'email',
      name: 'mail',
      smtp: { host: '127.0.0.1', port: smtp.port, starttls: 'disabled' },
      from: 'nines@example.com',
      to: ['dba@example.com'],
    });
    controller.monitor.settings.update(
      'mon',
      { thresholds: { longQuerySeconds: { warning: 3 } } },
      'it',
      Date.now(),
    );
    void (async () => {
      const res = await fetch(`${url}/api/v1/events/stream?cluster=mon`, {
        headers: { authorization: `Bearer ${token}` },
        signal: sseAbort.signal,
      });
      let buf = '';
      for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
        buf += Buffer.from(chunk).toString('utf8');
        let end: number;
        while ((end = buf.indexOf('\n\n')) >= 0) {
          const f = parseFrame(buf.slice(0, end));
          buf = buf.slice(end + 2);
          if (f && f.event === 'message') sse.push(f.data as EventRecord);
        }
      }
    })().catch(() => undefined);
    controller.store.inventory.createCluster(spec, 'healthy');
    await controller.monitor.reconcile();
  });

  afterEach((t) => {
    if ('passed' in t && t.passed === false) failed = true;
  });

  after(async () => {
    sseAbort.abort();
    await app?.close();
    await controller?.close(0);
    await hook?.close();
    await smtp?.close();
    await hosts?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
    await lab?.dispose(failed ? { keepLogsIn: LOGS } : {});
    if (failed) console.error(`host logs kept in ${LOGS}/${lab?.inventory.name}`);
  });

  test(
    'healthy topology with roles, figures and a reason; Prometheus text carries the series',
    { timeout: ms(30_000) },
    async () => {
      await until('healthy', 10_000, () => status().state === 'healthy');
      const s = status();
      assert.match(s.reason, new RegExp(`^healthy: primary ${spec.nodes[0]?.host ?? ''}, 2 replicas$`));
      assert.deepEqual(
        s.nodes.map((n) => `${n.role} ${n.state}`),
        ['primary up', 'replica up', 'replica up'],
      );
      assert.ok(s.nodes.every((n) => typeof n.connections === 'number' && n.connections > 0));
      assert.equal(s.nodes[1]?.lagSeconds, 0);
      const res = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(res.status, 200);
      const samples = parsePrometheus(await res.text());
      const has = (name: string, labels: Record<string, string>): boolean =>
        samples.some((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v));
      assert.ok(has('nines_node_up', { cluster: 'mon', node: addr(0) }));
      assert.ok(has('nines_node_role', { cluster: 'mon', node: addr(0), role: 'primary' }));
      assert.ok(has('nines_node_replication_lag_seconds', { node: addr(1) }));
      assert.ok(has('nines_node_connections', { node: addr(2) }));
      assert.ok(has('nines_cluster_state', { cluster: 'mon', state: 'healthy' }));
      assert.ok(has('nines_alarms_active', { cluster: 'mon' }));
    },
  );

  test(
    'a workload shows in top statements; SLEEP(30) is long-running (alarm) and killed by the job',
    { timeout: ms(90_000) },
    async () => {
      await withSql(adminEndpoint(spec, spec.nodes[0] as never), async (c) => {
        await c.execute('CREATE DATABASE IF NOT EXISTS app');
        await c.execute('CREATE TABLE IF NOT EXISTS app.w (id INT PRIMARY KEY, v INT)');
        for (let i = 0; i < 200; i++) await c.execute('REPLACE INTO app.w VALUES (?, ?)', [i % 20, i]);
      });
      const open = (s: ClusterSpec, n: ClusterSpec['nodes'][number]) => controller.monitor.openInsight(s, n);
      const full = controller.monitor.fullSpec('mon');
      const top = await topStatements(open, full, { node: addr(0), limit: 20, orderBy: 'calls' });
      assert.ok(
        top[0]?.rows.some((r) => /REPLACE INTO\s*`?app`?\s*\.\s*`?w`?/i.test(r.text)),
        JSON.stringify(top[0]?.rows.map((r) => r.text)),
      );
      const sleeper = await connectSql(adminEndpoint(spec, spec.nodes[1] as never));
      const sleeping = sleeper.query('SELECT SLEEP(30) AS s').catch((e: unknown) => e);
      const alarm = await until('long-query alarm', 15_000, () =>
        controller.monitor.alarms.active('mon').find((a) => a.rule === 'long-query' && a.node === addr(1)),
      );
      assert.match(alarm.reason, /oldest query on .* running [\d.]+ s \(warning above 3 s\)/);
      const running = await runningQueries(open, full, addr(1));
      const q = running[0]?.rows.find((r) => /SLEEP\(30\)/.test(r.text));
      assert.ok(q, JSON.stringify(running));
      const job = controller.jobs.submit({
        type: 'query.kill',
        cluster: 'mon',
        params: { node: addr(1), id: q.id },
        requestedBy: 'it-test',
      });
      const done = await until('kill job', 20_000, () => {
        const j = controller.store.jobs.get(job.id);
        return j && ['succeeded', 'failed'].includes(j.state) ? j : undefined;
      });
      assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
      const result = await sleeping;
      const value = Array.isArray(result) ? (result[0] as { s: unknown } | undefined)?.s : result;
      assert.ok(String(value) === '1' || value instanceof Error, `SLEEP ended early: ${String(value)}`);
      await sleeper.close().catch(() => undefined);
      const killed = controller.events.list({ cluster: 'mon', type: 'query.killed' });
      assert.equal(killed[0]?.data.by, 'it-test');
      await until(
        'long-query cleared',
        10_000,
        () => !controller.monitor.alarms.active('mon').some((a) => a.rule === 'long-query'),
      );
    },
  );

  test(
    'a crashed replica: down <= 3 s, alarm, SSE event, webhook and email; back: cleared and notified once',
    { timeout: ms(120_000) },
    async () => {
      const hooksBefore = hook.requests.length;
      const mailsBefore = smtp.messages.length;
      const t0 = Date.now();
      await labFault(lab.inventory.name, 'h3', 'crash');
      await until('h3 down', 3000, () => nodeState(2) === 'down');
      const detected = Date.now() - t0;
      console.log(`replica crash -> node down in ${detected} ms`);
      assert.ok(detected <= ms(3000), `down after ${detected} ms`);
      const alarm = await until('node-down alarm', 3000, () =>
        controller.monitor.alarms.active('mon').find((a) => a.rule === 'node-down' && a.node === addr(2)),
      );
      assert.ok(Date.now() - t0 <= ms(3500), 'alarm within 3 s');
      await until('SSE down event', 3000, () =>
        sse.find((e) => e.type === 'node.state' && e.data.to === 'down'),
      );
      await until('SSE alarm event', 3000, () =>
        sse.find((e) => e.type === 'alarm.raised' && e.data.alarmId === alarm.id),
      );
      const req = await until('webhook', 10_000, () =>
        hook.requests
          .slice(hooksBefore)
          .find((r) => r.body.includes('"alarm.raised"') && r.body.includes('node-down')),
      );
      assert.ok(!JSON.stringify(controller.monitor.notify.deliveries()).includes('s3cret'));
      assert.match(req.body, new RegExp(addr(2).replaceAll('.', '\\.')));
      await until('email', 10_000, () =>
        smtp.messages
          .slice(mailsBefore)
          .find((m) => /node-down/.test(m.subject ?? '') || /node-down/.test(m.data)),
      );

      await labFault(lab.inventory.name, 'h3', 'restart');
      await startServer(hosts.executor(lab.inventory.hosts[2]?.address ?? ''));
      await until('h3 up', 60_000, () => nodeState(2) === 'up');
      await until(
        'alarm cleared',
        60_000,
        () => !controller.monitor.alarms.active('mon').some((a) => a.rule === 'node-down'),
      );
      await until('cleared webhook', 10_000, () =>
        hook.requests
          .slice(hooksBefore)
          .find((r) => r.body.includes('"alarm.cleared"') && r.body.includes('node-down')),
      );
      // A second "cleared" would come from the next ticks: wait for them (and the deliveries), not a time.
      const monitor = controller.monitor.clusterState('mon')?.monitor;
      const target = (monitor?.tickCount ?? 0) + 3;
      await until('3 more ticks', 10_000, () => (monitor?.tickCount ?? 0) >= target);
      const clears = hook.requests
        .slice(hooksBefore)
        .filter((r) => r.body.includes('"alarm.cleared"') && r.body.includes(`node-down/mon/${addr(2)}`));
      assert.equal(clears.length, 1, 'cleared notified once');
    },
  );

  test(
    'a stopped SQL thread while writing: replication-broken alarm, cleared after restart',
    { timeout: ms(60_000) },
    async () => {
      const admin = (i: number) => adminEndpoint(spec, spec.nodes[i] as never);
      await withSql(admin(1), (c) => c.execute('STOP SLAVE SQL_THREAD'));
      await withSql(admin(0), async (c) => {
        for (let i = 0; i < 50; i++) await c.execute('REPLACE INTO app.w VALUES (?, ?)', [i % 20, i]);
      });
      const a = await until('replication-broken alarm', 10_000, () =>
        controller.monitor.alarms
          .active('mon')
          .find((x) => x.rule === 'replication-broken' && x.node === addr(1)),
      );
      assert.match(a.reason, /SQL thread stopped/);
      assert.equal(status().state, 'degraded');
      await withSql(admin(1), (c) => c.execute('START SLAVE SQL_THREAD'));
      await until(
        'cleared',
        15_000,
        () => !controller.monitor.alarms.active('mon').some((x) => x.rule === 'replication-broken'),
      );
    },
  );

  test(
    'real lag (a replica applying with MASTER_DELAY while both threads run): replication-lag, not broken',
    { timeout: ms(90_000) },
    async () => {
      const admin = (i: number) => adminEndpoint(spec, spec.nodes[i] as never);
      const started = Date.now();
      const raised = (rule: string): EventRecord[] =>
        controller.events
          .list({ cluster: 'mon', type: 'alarm.raised' })
          .filter((e) => Date.parse(e.time) >= started && e.data.rule === rule && e.data.node === addr(1));
      // The replica has no replication alarm left from the tests before (so the one below is raised by this lag).
      await until(
        `no replication alarm on ${addr(1)} (active: ${controller.monitor.alarms
          .active('mon')
          .map((x) => `${x.rule} ${x.node ?? ''}`)
          .join(', ')})`,
        30_000,
        () =>
          !controller.monitor.alarms
            .active('mon')
            .some((x) => x.node === addr(1) && x.rule.startsWith('replication-')),
      );
      // Through the API, as an operator sets it: warn at 3 s of lag.
      const res = await fetch(`${url}/api/v1/clusters/mon/monitor-settings`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          thresholds: { lagSeconds: { warning: 3, clearMargin: 1 }, longQuerySeconds: { warning: 3 } },
        }),
      });
      assert.equal(res.status, 200, await res.text());
      await withSql(admin(1), async (c) => {
        await c.execute('STOP SLAVE');
        await c.execute('CHANGE MASTER TO MASTER_DELAY = 20');
        await c.execute('START SLAVE');
      });
      try {
        // A write every 500 ms: each event waits 20 s on the replica, so Seconds_Behind_Master grows past 3 s.
        let writing = true;
        const writer = withSql(admin(0), async (c) => {
          for (let i = 0; writing && i < 120; i++) {
            await c.execute('REPLACE INTO app.w VALUES (?, ?)', [i % 20, i]);
            await sleep(500);
          }
        });
        try {
          const lag = await until('replication-lag alarm', 30_000, () =>
            controller.monitor.alarms
              .active('mon')
              .find((x) => x.rule === 'replication-lag' && x.node === addr(1)),
          );
          assert.match(lag.reason, /lagging [\d.]+ s \(warning above 3 s\)/);
          const node = status().nodes.find((n) => n.node === addr(1));
          assert.ok((node?.lagSeconds ?? 0) >= 3, `lag ${String(node?.lagSeconds)} s`);
          assert.deepEqual(raised('replication-broken'), [], 'both threads run: not broken');
          assert.ok(!controller.monitor.alarms.active('mon').some((x) => x.rule === 'replication-broken'));
        } finally {
          writing = false;
          await writer;
        }
      } finally {
        await withSql(admin(1), async (c) => {
          await c.execute('STOP SLAVE');
          await c.execute('CHANGE MASTER TO MASTER_DELAY = 0');
          await c.execute('START SLAVE');
        });
      }
      await until(
        'lag cleared',
        30_000,
        () => !controller.monitor.alarms.active('mon').some((x) => x.rule === 'replication-lag'),
      );
      assert.deepEqual(raised('replication-broken'), [], 'never broken during the test');
    },
  );

  test('a frozen host does not delay the probes of the others', { timeout: ms(60_000) }, async () => {
    await until('all up', 30_000, () => status().nodes.every((n) => n.state === 'up'));
    await labFault(lab.inventory.name, 'h2', 'freeze');
    try {
      const seen: number[][] = [];
      for (let i = 0; i < 6; i++) {
        const s = status();
        seen.push([0, 2].map((k) => Date.parse(s.nodes[k]?.observedAt ?? '')));
        await sleep(1000);
      }
      for (const k of [0, 1]) {
        const times = seen.map((row) => row[k] as number);
        const advanced = times.slice(1).filter((t, i) => t > (times[i] as number)).length;
        assert.ok(
          advanced >= 4,
          `observations of node ${k} advanced ${advanced} of 5 times: ${times.join(',')}`,
        );
      }
      await until('frozen node down', 10_000, () => nodeState(1) === 'down');
      assert.match(status().nodes[1]?.reason ?? '', /NINES_E_MONITOR_PROBE_TIMEOUT|timeout/i);
    } finally {
      await labFault(lab.inventory.name, 'h2', 'thaw');
    }
    await until('h2 back up', 30_000, () => nodeState(1) === 'up');
  });
});
