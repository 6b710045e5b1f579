// Galera probes and query insight on real lab hosts: three nodes deployed by the engine report Primary, size 3,
// Synced; a partitioned node still answers its probe and reports non-Primary while the others report size 2;
// healed, every node is back to Primary 3. Query insight works on the non-Primary node too.
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createTestLab, labFault, type TestLab } from '../../../src/lab/index.ts';
import { validateSpec, type ClusterSpec, type NodeSpec } from '../../../src/core/spec.ts';
import type { NodeProbe } from '../../../src/engines/engine.ts';
import { galeraEngine } from '../../../src/engines/galera/index.ts';
import { adminEndpoint, connectSql, withSql } from '../../../src/engines/mysql/index.ts';
import { labEngineContext, labHostAccess } from '../../support/lab-engine.ts';
import { ms, observeUntil, poll } from './helpers.ts';

const LOGS = join(import.meta.dirname, '..', '..', '..', '.lab', 'logs');

function makeSpec(addresses: readonly string[]): ClusterSpec {
  return validateSpec({
    name: 'galprobe',
    type: 'galera',
    nodes: addresses.map((host) => ({ host })),
    ssh: { key: 'unused' },
    credentials: { admin: 'admin-secret-1', replication: 'repl-secret-1', monitor: 'monitor-secret-1' },
    options: { sstMethod: 'rsync', gcacheSize: '32M' },
  }).spec;
}

describe('galera probes on lab hosts', { timeout: ms(600_000) }, () => {
  let lab: TestLab;
  let spec: ClusterSpec;
  let hosts: ReturnType<typeof labHostAccess>;
  let failed = false;
  const probes: NodeProbe[] = [];
  const node = (i: number): NodeSpec => {
    const n = spec.nodes[i];
    assert.ok(n);
    return n;
  };
  const probeOf = (i: number): NodeProbe => {
    const p = probes[i];
    assert.ok(p);
    return p;
  };

  before(async () => {
    lab = await createTestLab(3);
    spec = makeSpec(lab.inventory.hosts.map((h) => h.address));
    hosts = labHostAccess(lab.inventory);
    await galeraEngine.deploy(labEngineContext(lab.inventory, spec, hosts));
    for (const n of spec.nodes) {
      probes.push(galeraEngine.openProbe(spec, n, { credentials: spec.credentials }));
    }
  });

  afterEach((t) => {
    if ('passed' in t && t.passed === false) failed = true;
  });

  after(async () => {
    await Promise.all(probes.map((p) => p.close()));
    await hosts?.close();
    await lab?.dispose(failed ? { keepLogsIn: LOGS } : {});
    if (failed) console.error(`host logs kept in ${LOGS}/${lab?.inventory.name}`);
  });

  test('every node is a Synced member of a Primary component of 3', async () => {
    const all = await Promise.all(probes.map((p) => p.observe()));
    for (const o of all) {
      assert.equal(o.reachable, true, JSON.stringify(o));
      assert.equal(o.role, 'member');
      assert.equal(o.readOnly, false);
      assert.equal(o.replication, undefined);
      assert.equal(o.galera?.clusterStatus, 'Primary');
      assert.equal(o.galera.clusterSize, 3);
      assert.equal(o.galera.localState, 'Synced');
      assert.equal(o.galera.ready, true);
      assert.equal(o.galera.connected, true);
      assert.ok(o.galera.lastCommitted > 0);
      assert.ok(o.galera.flowControlPaused >= 0 && o.galera.flowControlPaused <= 1);
      assert.ok(o.mariadb && o.mariadb.uptimeSeconds > 0 && o.mariadb.serverId > 0);
    }
    assert.equal(new Set(all.map((o) => o.galera?.stateUuid)).size, 1, 'one history');
  });

  test('a partitioned node reports non-Primary, the others size 2; healed, Primary 3 again', async () => {
    await labFault(lab.inventory.name, 'h3', 'partition');
    let healed = false;
    try {
      const started = Date.now();
      const isolated = await observeUntil(probeOf(2), 'h3 non-Primary', ms(15_000), (o) => {
        return o.reachable && o.galera?.clusterStatus !== 'Primary';
      });
      console.log(`h3 reported ${isolated.galera?.clusterStatus} after ${Date.now() - started} ms`);
      assert.equal(isolated.galera?.ready, false);
      for (const i of [0, 1]) {
        const o = await observeUntil(probeOf(i), `node ${i + 1} size 2`, ms(15_000), (x) => {
          return x.galera?.clusterSize === 2;
        });
        assert.equal(o.galera?.clusterStatus, 'Primary');
      }
      // Query insight answers on the non-Primary node (status reads with wsrep_dirty_reads).
      const insight = galeraEngine.openQueryInsight(spec, node(2));
      try {
        const running = await insight.runningQueries();
        assert.ok(Array.isArray(running));
      } finally {
        await insight.close();
      }
      await labFault(lab.inventory.name, 'h3', 'heal');
      healed = true;
      for (const p of probes) {
        await observeUntil(p, 'Primary 3 Synced', ms(30_000), (o) => {
          return (
            o.galera?.clusterStatus === 'Primary' &&
            o.galera.clusterSize === 3 &&
            o.galera.localState === 'Synced'
          );
        });
      }
    } finally {
      if (!healed) await labFault(lab.inventory.name, 'h3', 'heal');
    }
  });

  test('a long SLEEP on a Galera node is seen and killed; its digest is listed', async () => {
    const insight = galeraEngine.openQueryInsight(spec, node(0));
    const sleeper = await connectSql(adminEndpoint(spec, node(0)), { queryTimeoutMs: 60_000 });
    try {
      const sleeping = sleeper.query('SELECT SLEEP(30)').then(
        () => Date.now(),
        () => Date.now(),
      );
      const q = await poll('SLEEP running', ms(10_000), async () => {
        const running = await insight.runningQueries();
        return running.find((r) => r.text.includes('SLEEP(30)') && r.seconds >= 1);
      });
      const o = await observeUntil(probeOf(0), 'longest query >= 1 s', ms(5000), (x) => {
        return (x.longestQuerySeconds ?? 0) >= 1;
      });
      assert.ok((o.longestQuerySeconds ?? 0) < 30);
      const killedAt = Date.now();
      await insight.killQuery(q.id, { terminate: true });
      assert.ok((await sleeping) - killedAt < ms(3000));
      await withSql(adminEndpoint(spec, node(0)), async (c) => {
        await c.execute('CREATE DATABASE IF NOT EXISTS app');
        await c.execute('CREATE TABLE IF NOT EXISTS app.g (id INT AUTO_INCREMENT PRIMARY KEY, v INT)');
        for (let i = 0; i < 50; i++) await c.execute('INSERT INTO app.g (v) VALUES (?)', [i]);
      });
      // The digest table is updated as statements end; under load it can trail the last INSERT a little, and the
      // probes' own statements compete for the top places: look among 100, until a deadline.
      const digest = await poll('INSERT digest with 50 calls', ms(5000), async () => {
        const top = await insight.topStatements({ limit: 100, orderBy: 'calls' });
        return top.find((s) => /INSERT INTO `app` \. `g`/.test(s.text) && s.calls >= 50);
      });
      assert.ok(digest.calls >= 50);
    } finally {
      await sleeper.close();
      await insight.close();
    }
  });
});
