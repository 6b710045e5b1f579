// Monitoring a real Galera cluster on lab hosts: healthy Primary component of 3, then a node partitioned from its
// peers (the controller still reaches it) is reported non-Primary with an alarm and a degraded cluster; after the
// partition heals, the alarm clears.
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../../src/controller/config.ts';
import { Controller } from '../../../src/controller/controller.ts';
import { validateSpec, type ClusterSpec } from '../../../src/core/spec.ts';
import { engineFor } from '../../../src/engines/registry.ts';
import { createTestLab, labFault, type TestLab } from '../../../src/lab/index.ts';
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

describe('monitoring galera on lab hosts', { timeout: ms(900_000) }, () => {
  let lab: TestLab;
  let spec: ClusterSpec;
  let hosts: ReturnType<typeof labHostAccess>;
  let controller: Controller;
  let dir: string;
  let failed = false;

  before(async () => {
    lab = await createTestLab(3);
    const inv = lab.inventory;
    spec = validateSpec({
      name: 'gmon',
      type: 'galera',
      nodes: inv.hosts.map((h) => ({ host: h.address })),
      ssh: { key: 'lab' },
      credentials: { admin: 'admin-secret-8', replication: 'repl-secret-8', monitor: 'monitor-secret-8' },
      options: { sstMethod: 'rsync' },
    }).spec;
    hosts = labHostAccess(inv);
    await engineFor(spec.type).deploy(labEngineContext(inv, spec, hosts));
    dir = mkdtempSync(join(tmpdir(), 'nines-gmon-'));
    controller = Controller.open({
      config: loadConfig({ env: { NINES_LOG_LEVEL: 'warn' }, overrides: { dataDir: dir } }),
    });
    controller.keys.add('lab', readFileSync(inv.privateKeyPath, 'utf8'));
    controller.start();
    controller.store.inventory.createCluster(spec, 'healthy');
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

  const status = () => controller.monitor.status('gmon');

  test('healthy: a Primary component of 3, all Synced', { timeout: ms(30_000) }, async () => {
    await until('healthy', 15_000, () => status().state === 'healthy');
    assert.equal(status().reason, 'healthy: galera Primary component of 3, all Synced');
    assert.ok(status().nodes.every((n) => n.role === 'member' && n.galera?.clusterStatus === 'Primary'));
  });

  test(
    'a partitioned node is reported non-Primary with an alarm; cleared after heal',
    { timeout: ms(120_000) },
    async () => {
      const third = `${spec.nodes[2]?.host ?? ''}:3306`;
      await labFault(lab.inventory.name, 'h3', 'partition');
      try {
        const alarm = await until('non-primary alarm', 60_000, () =>
          controller.monitor.alarms
            .active('gmon')
            .find((a) => a.rule === 'galera-non-primary' && a.node === third),
        );
        assert.match(alarm.reason, /galera non-Primary/);
        const s = status();
        assert.equal(s.state, 'degraded');
        assert.match(s.reason, /galera non-Primary/);
        assert.equal(s.nodes[2]?.state, 'up', 'the controller still reaches it');
        assert.ok(
          controller.events
            .list({ cluster: 'gmon', type: 'alarm.raised' })
            .some((e) => e.data.rule === 'galera-non-primary'),
        );
      } finally {
        await labFault(lab.inventory.name, 'h3', 'heal');
      }
      await until(
        'cleared',
        90_000,
        () => !controller.monitor.alarms.active('gmon').some((a) => a.rule === 'galera-non-primary'),
      );
      await until('healthy again', 90_000, () => status().state === 'healthy');
    },
  );
});
