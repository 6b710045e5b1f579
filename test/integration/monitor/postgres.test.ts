// Monitoring a real PostgreSQL streaming cluster on lab hosts: healthy with a streaming standby, pg_sleep(30) is
// reported long-running (alarm) and cancelled through the audited query.kill job, and a workload's statements
// appear in the top statements.
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../../src/controller/config.ts';
import { Controller } from '../../../src/controller/controller.ts';
import { runningQueries, topStatements } from '../../../src/controller/monitor/query-insight.ts';
import { validateSpec, type ClusterSpec } from '../../../src/core/spec.ts';
import { engineFor } from '../../../src/engines/registry.ts';
import { connectSql } from '../../../src/engines/postgres/index.ts';
import { adminTarget } from '../../../src/engines/postgres/common.ts';
import { createTestLab, type TestLab } from '../../../src/lab/index.ts';
import { labEngineContext, labHostAccess, TIMEOUT_SCALE } from '../../support/lab-engine.ts';

const ms = (n: number): number => Math.round(n * TIMEOUT_SCALE);
const LOGS = join(import.meta.dirname, '..', '..', '..', '.lab', 'logs');

async function until<T>(what: string, timeoutMs: number, fn: () => T | undefined | false): Promise<T> {
  const deadline = Date.now() + ms(timeoutMs);
  for (;;) {
    const v = fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('monitoring postgres-streaming on lab hosts', { timeout: ms(600_000) }, () => {
  let lab: TestLab;
  let spec: ClusterSpec;
  let hosts: ReturnType<typeof labHostAccess>;
  let controller: Controller;
  let dir: string;
  let failed = false;

  before(async () => {
    lab = await createTestLab(2);
    const inv = lab.inventory;
    spec = validateSpec({
      name: 'pmon',
      type: 'postgres-streaming',
      nodes: inv.hosts.map((h, i) => ({ host: h.address, ...(i === 0 ? { role: 'primary' } : {}) })),
      ssh: { key: 'lab' },
      credentials: { admin: 'admin-secret-7', replication: 'repl-secret-7', monitor: 'monitor-secret-7' },
    }).spec;
    hosts = labHostAccess(inv);
    await engineFor(spec.type).deploy(labEngineContext(inv, spec, hosts));
    dir = mkdtempSync(join(tmpdir(), 'nines-pmon-'));
    controller = Controller.open({
      config: loadConfig({ env: { NINES_LOG_LEVEL: 'warn' }, overrides: { dataDir: dir } }),
    });
    controller.keys.add('lab', readFileSync(inv.privateKeyPath, 'utf8'));
    controller.start();
    controller.store.inventory.createCluster(spec, 'healthy');
    controller.monitor.settings.update(
      'pmon',
      { thresholds: { longQuerySeconds: { warning: 3 } } },
      'it',
      Date.now(),
    );
    await controller.monitor.reconcile();
  });

  afterEach((t) => {
    if ('passed' in t && t.passed === false) failed = true;
  });

  after(async () => {
    await controller?.close(0);
    await hosts?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
    await lab?.dispose(failed ? { keepLogsIn: LOGS } : {});
    if (failed) console.error(`host logs kept in ${LOGS}/${lab?.inventory.name}`);
  });

  test('healthy with a streaming standby', { timeout: ms(30_000) }, async () => {
    await until('healthy', 15_000, () => controller.monitor.status('pmon').state === 'healthy');
    const s = controller.monitor.status('pmon');
    assert.deepEqual(
      s.nodes.map((n) => n.role),
      ['primary', 'replica'],
    );
    assert.equal(
      (s.nodes[1]?.replication as { receiverStatus?: string } | null)?.receiverStatus,
      'streaming',
    );
  });

  test(
    'pg_sleep(30) is long-running (alarm) and cancelled by the kill job; statements in top',
    { timeout: ms(90_000) },
    async () => {
      const primary = spec.nodes[0];
      assert.ok(primary);
      const key = `${primary.host}:${primary.port}`;
      const client = await connectSql(adminTarget(spec, primary), { statementTimeoutMs: 60_000 });
      for (let i = 0; i < 50; i++)
        await client.query('SELECT count(*) FROM pg_class WHERE relpages >= $1', [i]);
      const sleeping = client.query('SELECT pg_sleep(30)').then(
        () => 'finished',
        (e: unknown) => e,
      );
      const alarm = await until('long-query alarm', 15_000, () =>
        controller.monitor.alarms.active('pmon').find((a) => a.rule === 'long-query' && a.node === key),
      );
      assert.match(alarm.reason, /oldest query on/);
      const open = (s: ClusterSpec, n: ClusterSpec['nodes'][number]) => controller.monitor.openInsight(s, n);
      const full = controller.monitor.fullSpec('pmon');
      const running = await runningQueries(open, full, key);
      const q = running[0]?.rows.find((r) => /pg_sleep\(30\)/.test(r.text));
      assert.ok(q, JSON.stringify(running));
      const job = controller.jobs.submit({
        type: 'query.kill',
        cluster: 'pmon',
        params: { node: key, id: q.id },
        requestedBy: 'it-test',
      });
      await until('kill job', 20_000, () => controller.store.jobs.get(job.id)?.state === 'succeeded');
      const outcome = await sleeping;
      assert.notEqual(outcome, 'finished');
      const top = await topStatements(open, full, { node: key, limit: 20, orderBy: 'calls' });
      if (top[0]?.error) console.log(`top statements: ${top[0].error.code} ${top[0].error.message}`);
      else
        assert.ok(
          top[0]?.rows.some((r) => /pg_class/.test(r.text)),
          JSON.stringify(top[0]?.rows.map((r) => r.text)),
        );
      await client.close().catch(() => undefined);
    },
  );
});
