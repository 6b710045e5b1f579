// galera on real lab hosts (rsync SST): a deploy interrupted by a joiner crash and finished by a re-run, a row
// written on one node read on all, size 3 Synced Primary, import, add and remove a 4th node, and a re-run of
// the deploy after every host crashed (bootstraps the most advanced node, never a second cluster).
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createTestLab, labFault, type TestLab } from '../../../src/lab/index.ts';
import { validateSpec, type ClusterSpec, type NodeSpec } from '../../../src/core/spec.ts';
import { isNinesError } from '../../../src/core/errors.ts';
import type { EngineContext, Topology } from '../../../src/engines/engine.ts';
import { galeraEngine } from '../../../src/engines/galera/index.ts';
import { adminEndpoint, readGaleraState, withSql } from '../../../src/engines/mysql/index.ts';
import { labEngineContext, labHostAccess, TIMEOUT_SCALE } from '../../support/lab-engine.ts';

const ms = (n: number): number => Math.round(n * TIMEOUT_SCALE);
const LOGS = join(import.meta.dirname, '..', '..', '..', '.lab', 'logs');

function makeSpec(addresses: readonly string[], admin = 'admin-secret-1'): ClusterSpec {
  return validateSpec({
    name: 'galit',
    type: 'galera',
    nodes: addresses.map((host) => ({ host })),
    ssh: { key: 'unused' },
    credentials: { admin, replication: 'repl-secret-1', monitor: 'monitor-secret-1' },
    options: { sstMethod: 'rsync', gcacheSize: '32M' },
  }).spec;
}

function summary(t: Topology): string[] {
  return t.nodes.map((n) => `${n.host}:${n.port} ${n.role} ${n.state ?? ''}`);
}

describe('galera on lab hosts', { timeout: ms(900_000) }, () => {
  let lab: TestLab;
  let spec: ClusterSpec;
  let spec4: ClusterSpec;
  let hosts: ReturnType<typeof labHostAccess>;
  let failed = false;
  const node = (i: number): NodeSpec => {
    const n = spec4.nodes[i];
    assert.ok(n);
    return n;
  };
  const healthy = (nodes: readonly NodeSpec[]): string[] => nodes.map((n) => `${n.host}:3306 member Synced`);

  before(async () => {
    lab = await createTestLab(4);
    const addresses = lab.inventory.hosts.map((h) => h.address);
    spec = makeSpec(addresses.slice(0, 3));
    spec4 = makeSpec(addresses);
    hosts = labHostAccess(lab.inventory);
  });

  afterEach((t) => {
    if ('passed' in t && t.passed === false) failed = true;
  });

  after(async () => {
    await hosts?.close();
    await lab?.dispose(failed ? { keepLogsIn: LOGS } : {});
    if (failed) console.error(`host logs kept in ${LOGS}/${lab?.inventory.name}`);
  });

  test('a deploy interrupted by a joiner host crash fails clearly', { timeout: ms(180_000) }, async () => {
    const base = labEngineContext(lab.inventory, spec, hosts);
    const crashing: EngineContext = {
      ...base,
      log: (l) => base.log(l),
      async step(name, fn) {
        if (name === `join ${node(2).host}:3306`) await labFault(lab.inventory.name, 'h3', 'crash');
        return base.step(name, fn);
      },
    };
    const err = await galeraEngine.deploy(crashing).then(
      () => assert.fail('the deploy succeeded with a crashed host'),
      (e: unknown) => e,
    );
    assert.ok(isNinesError(err), String(err));
    console.log(`deploy failed as expected: ${err.code}: ${err.message}`);
    assert.equal(err.code, 'NINES_E_HOST_UNREACHABLE');
    assert.ok(base.steps.includes(`bootstrap the cluster on ${node(0).host}:3306`));
    await labFault(lab.inventory.name, 'h3', 'restart');
  });

  test(
    'a re-run joins the running cluster (no second bootstrap) and finishes',
    { timeout: ms(180_000) },
    async () => {
      const ctx = labEngineContext(lab.inventory, spec, hosts);
      const topology = await galeraEngine.deploy(ctx);
      assert.deepEqual(summary(topology), healthy(spec.nodes));
      assert.ok(!ctx.steps.some((s) => s.startsWith('bootstrap')), ctx.lines.join('\n'));
      assert.ok(
        ctx.lines.some((l) => l.startsWith('join:')),
        ctx.lines.join('\n'),
      );
      assert.ok(!ctx.lines.join('\n').includes('admin-secret-1'), 'no secret in the job log');
    },
  );

  test('every node is Synced in one Primary component of 3', { timeout: ms(30_000) }, async () => {
    const states = await Promise.all(
      spec.nodes.map((n) => withSql(adminEndpoint(spec, n), (c) => readGaleraState(c))),
    );
    for (const s of states) {
      assert.equal(s.clusterStatus, 'Primary');
      assert.equal(s.localState, 'Synced');
      assert.equal(s.clusterSize, 3);
    }
    assert.equal(new Set(states.map((s) => s.clusterStateUuid)).size, 1);
  });

  test('a row written on one node is read on every node', { timeout: ms(30_000) }, async () => {
    await withSql(adminEndpoint(spec, node(1)), async (c) => {
      await c.execute('CREATE DATABASE IF NOT EXISTS app');
      await c.execute('CREATE TABLE IF NOT EXISTS app.t (id INT PRIMARY KEY, v VARCHAR(20))');
      await c.execute('REPLACE INTO app.t VALUES (1, ?)', ['hello']);
    });
    for (const n of spec.nodes) {
      // wsrep_sync_wait makes the read wait for every write the cluster committed before it.
      const rows = await withSql(adminEndpoint(spec, n), async (c) => {
        await c.execute('SET SESSION wsrep_sync_wait = 1');
        return c.query('SELECT v FROM app.t WHERE id = 1');
      });
      assert.equal(rows[0]?.v, 'hello', `${n.host}`);
    }
  });

  test(
    'import (discover) returns the members; a wrong password is NINES_E_DB_AUTH',
    { timeout: ms(30_000) },
    async () => {
      const found = await galeraEngine.discover(labEngineContext(lab.inventory, spec, hosts));
      assert.deepEqual(summary(found), healthy(spec.nodes));
      const wrong = makeSpec(
        spec.nodes.map((n) => n.host),
        'wrong-password-1',
      );
      await assert.rejects(galeraEngine.discover(labEngineContext(lab.inventory, wrong, hosts)), (err) =>
        isNinesError(err, 'NINES_E_DB_AUTH'),
      );
    },
  );

  test(
    'import of a spec that lacks a member is NINES_E_TOPOLOGY_INCONSISTENT',
    { timeout: ms(30_000) },
    async () => {
      const partial = makeSpec(spec.nodes.slice(0, 2).map((n) => n.host));
      await assert.rejects(galeraEngine.discover(labEngineContext(lab.inventory, partial, hosts)), (err) =>
        isNinesError(err, 'NINES_E_TOPOLOGY_INCONSISTENT'),
      );
    },
  );

  test('adds a 4th node (SST), then removes it', { timeout: ms(240_000) }, async () => {
    const added = await galeraEngine.addNode(labEngineContext(lab.inventory, spec4, hosts), node(3));
    assert.deepEqual(summary(added), healthy(spec4.nodes));
    const rows = await withSql(adminEndpoint(spec, node(3)), (c) =>
      c.query('SELECT v FROM app.t WHERE id = 1'),
    );
    assert.equal(rows[0]?.v, 'hello');
    const conf = await hosts.executor(node(0).host).getFile('/etc/mysql/mariadb.conf.d/90-nines.cnf');
    assert.match(conf.toString(), new RegExp(`gcomm://.*${node(3).host.replaceAll('.', '\\.')}`));
    const after4 = await galeraEngine.removeNode(labEngineContext(lab.inventory, spec4, hosts), node(3), {
      force: false,
    });
    assert.deepEqual(summary(after4), healthy(spec.nodes));
    const state = await withSql(adminEndpoint(spec, node(0)), (c) => readGaleraState(c));
    assert.equal(state.clusterSize, 3);
    const conf2 = await hosts.executor(node(0).host).getFile('/etc/mysql/mariadb.conf.d/90-nines.cnf');
    assert.ok(!conf2.toString().includes(node(3).host), 'removed node gone from wsrep_cluster_address');
  });

  test(
    'after every host crashed, a re-run bootstraps the most advanced node and rejoins the others',
    { timeout: ms(240_000) },
    async () => {
      for (const h of ['h1', 'h2', 'h3']) await labFault(lab.inventory.name, h, 'crash');
      for (const h of ['h1', 'h2', 'h3']) await labFault(lab.inventory.name, h, 'restart');
      const ctx = labEngineContext(lab.inventory, spec, hosts);
      const topology = await galeraEngine.deploy(ctx);
      assert.deepEqual(summary(topology), healthy(spec.nodes));
      assert.ok(
        ctx.lines.some((l) => l.includes('most advanced position')),
        ctx.lines.join('\n'),
      );
      const rows = await withSql(adminEndpoint(spec, node(2)), (c) =>
        c.query('SELECT v FROM app.t WHERE id = 1'),
      );
      assert.equal(rows[0]?.v, 'hello');
    },
  );
});
