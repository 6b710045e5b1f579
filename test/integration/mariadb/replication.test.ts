// mariadb-replication on real lab hosts: deploy 3 nodes (semi-sync), a row written on the primary read back on
// every replica, read-only replicas for a non-SUPER user, import, add and remove a 4th node, refusals and
// wrong credentials; the data copy for a new node goes through the controller (no port opened on any host) and no
// password nines generated appears in any binlog, relay log or server log.
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createTestLab, labFault, type TestLab } from '../../../src/lab/index.ts';
import { validateSpec, type ClusterSpec, type NodeSpec } from '../../../src/core/spec.ts';
import { isNinesError } from '../../../src/core/errors.ts';
import type { EngineContext, Topology } from '../../../src/engines/engine.ts';
import { mariadbReplicationEngine } from '../../../src/engines/mariadb/index.ts';
import {
  adminEndpoint,
  connectSql,
  sqlErrno,
  withSql,
  type SqlClient,
} from '../../../src/engines/mysql/index.ts';
import { ensureAppUser } from '../../../src/engines/registry.ts';
import { labEngineContext, labHostAccess, TIMEOUT_SCALE } from '../../support/lab-engine.ts';
import { poll } from '../../support/poll.ts';
import { findSecrets, scannedFiles } from '../../support/secret-scan.ts';

const ms = (n: number): number => Math.round(n * TIMEOUT_SCALE);
const LOGS = join(import.meta.dirname, '..', '..', '..', '.lab', 'logs');

function makeSpec(addresses: readonly string[], admin = 'admin-secret-1'): ClusterSpec {
  return validateSpec({
    name: 'mdbit',
    type: 'mariadb-replication',
    nodes: addresses.map((host, i) => ({ host, ...(i === 0 ? { role: 'primary' } : {}) })),
    ssh: { key: 'unused' },
    credentials: { admin, replication: "repl'secret\\1", monitor: 'monitor-secret-1' },
    options: { semiSync: true },
  }).spec;
}

function summary(t: Topology): string[] {
  return t.nodes.map((n) => `${n.host}:${n.port} ${n.role}${n.source ? ` <- ${n.source}` : ''}`);
}

describe('mariadb-replication on lab hosts', { timeout: ms(600_000) }, () => {
  let lab: TestLab;
  let spec: ClusterSpec;
  let spec4: ClusterSpec;
  let hosts: ReturnType<typeof labHostAccess>;
  let failed = false;
  let deployed: Topology;
  const node = (i: number): NodeSpec => {
    const n = spec4.nodes[i];
    assert.ok(n);
    return n;
  };
  const admin = (n: NodeSpec): Promise<SqlClient> => connectSql(adminEndpoint(spec, n));

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

  test('a deploy interrupted by a replica host crash fails clearly', { timeout: ms(120_000) }, async () => {
    const base = labEngineContext(lab.inventory, spec, hosts);
    const crashing: EngineContext = {
      ...base,
      log: (l) => base.log(l),
      async step(name, fn) {
        if (name.startsWith('start replication')) await labFault(lab.inventory.name, 'h2', 'crash');
        return base.step(name, fn);
      },
    };
    const err = await mariadbReplicationEngine.deploy(crashing).then(
      () => assert.fail('the deploy succeeded with a crashed host'),
      (e: unknown) => e,
    );
    assert.ok(isNinesError(err), String(err));
    console.log(`deploy failed as expected: ${err.code}: ${err.message}`);
    assert.ok(
      ['NINES_E_HOST_UNREACHABLE', 'NINES_E_DEPLOY_FAILED'].includes(err.code),
      `${err.code}: ${err.message}`,
    );
    assert.match(err.message, new RegExp(node(1).host.replaceAll('.', '\\.')));
    await labFault(lab.inventory.name, 'h2', 'restart');
  });

  test(
    'deploys a primary and two replicas (re-run finishes the interrupted deploy)',
    { timeout: ms(120_000) },
    async () => {
      const ctx = labEngineContext(lab.inventory, spec, hosts);
      deployed = await mariadbReplicationEngine.deploy(ctx);
      assert.deepEqual(summary(deployed), [
        `${node(0).host}:3306 primary`,
        `${node(1).host}:3306 replica <- ${node(0).host}:3306`,
        `${node(2).host}:3306 replica <- ${node(0).host}:3306`,
      ]);
      assert.equal(deployed.nodes[0]?.readOnly, false);
      assert.ok(deployed.nodes.slice(1).every((n) => n.readOnly === true && n.state === 'replicating'));
      assert.ok(ctx.steps.some((s) => s.startsWith('make the primary')));
      assert.ok(!ctx.lines.join('\n').includes('admin-secret-1'), 'no secret in the job log');
    },
  );

  test('a row written on the primary is read on every replica', { timeout: ms(60_000) }, async () => {
    await withSql(adminEndpoint(spec, node(0)), async (c) => {
      await c.execute('CREATE DATABASE IF NOT EXISTS app');
      await c.execute('CREATE TABLE IF NOT EXISTS app.t (id INT PRIMARY KEY, v VARCHAR(20))');
      await c.execute('REPLACE INTO app.t VALUES (1, ?)', ['hello']);
    });
    for (const i of [1, 2]) {
      const v = await poll(`row on ${node(i).host}`, ms(10_000), async () => {
        const rows = await withSql(adminEndpoint(spec, node(i)), (c) =>
          c.query('SELECT v FROM app.t WHERE id = 1'),
        );
        return rows[0]?.v as string | undefined;
      });
      assert.equal(v, 'hello');
    }
  });

  test(
    'replicas refuse writes of a non-SUPER user (1290), the primary accepts them',
    { timeout: ms(60_000) },
    async () => {
      await withSql(adminEndpoint(spec, node(0)), async (c) => {
        await c.execute(`CREATE USER IF NOT EXISTS 'app'@'%' IDENTIFIED BY 'app-secret-1'`);
        await c.execute(`GRANT SELECT, INSERT, UPDATE, DELETE ON app.* TO 'app'@'%'`);
      });
      const appAt = (n: NodeSpec) => ({ host: n.host, port: n.port, user: 'app', password: 'app-secret-1' });
      for (const i of [1, 2]) {
        const err = await poll(`app user on ${node(i).host}`, ms(10_000), async () => {
          const c = await connectSql(appAt(node(i)));
          try {
            await c.execute('INSERT INTO app.t VALUES (?, ?)', [10 + i, 'nope']);
            return new Error('the replica accepted a write');
          } catch (e) {
            return e;
          } finally {
            await c.close();
          }
        });
        assert.ok(isNinesError(err, 'NINES_E_DB_QUERY'), String(err));
        assert.equal(sqlErrno(err), 1290);
      }
      await withSql(appAt(node(0)), (c) => c.execute('INSERT INTO app.t VALUES (2, ?)', ['from app']));
    },
  );

  test('import (discover) returns the deployed topology', { timeout: ms(30_000) }, async () => {
    const found = await mariadbReplicationEngine.discover(labEngineContext(lab.inventory, spec, hosts));
    assert.deepEqual(summary(found), summary(deployed));
  });

  test('import with a wrong admin password fails with NINES_E_DB_AUTH', { timeout: ms(30_000) }, async () => {
    const wrong = makeSpec(
      spec.nodes.map((n) => n.host),
      'wrong-password-1',
    );
    await assert.rejects(
      mariadbReplicationEngine.discover(labEngineContext(lab.inventory, wrong, hosts)),
      (err) => isNinesError(err, 'NINES_E_DB_AUTH'),
    );
  });

  test(
    'a re-run of the deploy on the running cluster is a no-op that succeeds',
    { timeout: ms(60_000) },
    async () => {
      const ctx = labEngineContext(lab.inventory, spec, hosts);
      const again = await mariadbReplicationEngine.deploy(ctx);
      assert.deepEqual(summary(again), summary(deployed));
      assert.ok(ctx.lines.some((l) => l.startsWith('already running')));
    },
  );

  test(
    'a deploy whose role hint names a replica refuses to write on it',
    { timeout: ms(60_000) },
    async () => {
      const hinted = validateSpec({
        ...{ name: spec.name, type: spec.type, ssh: { key: 'unused' }, credentials: spec.credentials },
        nodes: spec.nodes.map((n, i) => ({ host: n.host, ...(i === 1 ? { role: 'primary' } : {}) })),
        options: { semiSync: true },
      }).spec;
      const before = await withSql(adminEndpoint(spec, node(1)), (c) =>
        c.query('SELECT @@gtid_binlog_pos AS p'),
      );
      await assert.rejects(
        mariadbReplicationEngine.deploy(labEngineContext(lab.inventory, hinted, hosts)),
        (err) => isNinesError(err, 'NINES_E_TOPOLOGY_INCONSISTENT'),
      );
      const after = await withSql(adminEndpoint(spec, node(1)), (c) =>
        c.query('SELECT @@gtid_binlog_pos AS p'),
      );
      assert.deepEqual(after, before, 'nothing written on the replica');
    },
  );

  test('removing the primary is refused without force', { timeout: ms(30_000) }, async () => {
    const ctx = labEngineContext(lab.inventory, spec, hosts);
    await assert.rejects(mariadbReplicationEngine.removeNode(ctx, node(0), { force: false }), (err) =>
      isNinesError(err, 'NINES_E_REMOVE_REFUSED'),
    );
  });

  test('adds a 4th node as a replica, then removes it', { timeout: ms(180_000) }, async () => {
    const added = await mariadbReplicationEngine.addNode(
      labEngineContext(lab.inventory, spec4, hosts),
      node(3),
    );
    assert.equal(added.nodes.length, 4);
    assert.deepEqual(summary(added).at(-1), `${node(3).host}:3306 replica <- ${node(0).host}:3306`);
    const rows = await withSql(adminEndpoint(spec, node(3)), (c) =>
      c.query('SELECT v FROM app.t ORDER BY id'),
    );
    assert.deepEqual(
      rows.map((r) => r.v),
      ['hello', 'from app'],
    );
    const after4 = await mariadbReplicationEngine.removeNode(
      labEngineContext(lab.inventory, spec4, hosts),
      node(3),
      { force: false },
    );
    assert.deepEqual(summary(after4), summary(deployed));
    await assert.rejects(admin(node(3)), (err) => isNinesError(err, 'NINES_E_DB_UNREACHABLE'));
  });

  test(
    'adds a node by copying the primary when its binlogs were purged',
    { timeout: ms(240_000) },
    async () => {
      await withSql(adminEndpoint(spec, node(0)), async (c) => {
        await c.execute('REPLACE INTO app.t VALUES (3, ?)', ['before purge']);
        await c.execute('FLUSH BINARY LOGS');
        const [status] = await c.query('SHOW MASTER STATUS');
        // Replicas still reading the old file keep it: retry until it is gone.
        await poll('the old binlogs purged', ms(10_000), async () => {
          await c.execute(`PURGE BINARY LOGS TO '${String(status?.File)}'`);
          const logs = await c.query('SHOW BINARY LOGS');
          return logs[0]?.Log_name === status?.File ? true : undefined;
        });
        await c.execute('REPLACE INTO app.t VALUES (4, ?)', ['after purge']);
      });
      // The host of the removed 4th node, wiped like a new machine.
      await hosts.executor(node(3).host).exec(['find', '/var/lib/mysql', '-mindepth', '1', '-delete']);
      const ctx = labEngineContext(lab.inventory, spec4, hosts);
      // While the node is added (and copied), every listening socket on the source and the new node is sampled:
      // the copy must not open a port (it streams through the controller's SSH connections).
      const adding = mariadbReplicationEngine.addNode(ctx, node(3));
      const listeners = new Set<string>();
      let finished = false;
      void adding.finally(() => (finished = true)).catch(() => undefined);
      for (let i = 0; i < 3000 && !finished; i++) {
        for (const n of [node(0), node(3)]) {
          const r = await hosts.executor(n.host).exec(['ss', '-Hltn'], { sudo: true });
          for (const line of r.stdout.split('\n')) {
            const local = line.trim().split(/\s+/)[3];
            if (local) listeners.add(`${n.host} ${local}`);
          }
        }
      }
      const added = await adding;
      const copied = ctx.lines.find((l) => l.includes('copied the data'));
      assert.ok(copied, ctx.lines.join('\n'));
      console.log(copied);
      const ports = [...listeners].map((l) => l.slice(l.lastIndexOf(':') + 1));
      assert.ok(ports.includes('22'), `the sampling saw sshd: ${[...listeners].join(', ')}`);
      assert.deepEqual(
        [...listeners].filter((l) => !/:(22|3306)$/.test(l)),
        [],
        'no listener but sshd and mariadbd during the copy',
      );
      assert.deepEqual(summary(added).at(-1), `${node(3).host}:3306 replica <- ${node(0).host}:3306`);
      assert.equal(added.nodes.at(-1)?.state, 'replicating');
      await withSql(adminEndpoint(spec, node(0)), (c) =>
        c.execute('REPLACE INTO app.t VALUES (5, ?)', ['after add']),
      );
      const ids = await poll('row 5 on the copy', ms(10_000), async () => {
        const rows = await withSql(adminEndpoint(spec, node(3)), (c) =>
          c.query('SELECT id FROM app.t ORDER BY id'),
        );
        return rows.length === 5 ? rows.map((r) => Number(r.id)) : undefined;
      });
      assert.deepEqual(ids, [1, 2, 3, 4, 5]);
    },
  );

  test(
    'no password nines generated is in any binlog, relay log, GCache or server log of any node',
    { timeout: ms(120_000) },
    async () => {
      const topology = await mariadbReplicationEngine.discover(labEngineContext(lab.inventory, spec4, hosts));
      const app = { user: 'shopapp', password: 'shop-app-Secret-7', database: 'shop' };
      await ensureAppUser(hosts, spec4, topology, app);
      await poll('the application user on every replica', ms(10_000), async () => {
        const counts = await Promise.all(
          spec4.nodes.map((n) =>
            withSql(adminEndpoint(spec, n), (c) =>
              c.query("SELECT COUNT(*) AS n FROM mysql.user WHERE user = 'shopapp'"),
            ),
          ),
        );
        return counts.every((r) => Number(r[0]?.n) === 1) ? true : undefined;
      });
      const generated = [...Object.values(spec.credentials), app.password];
      for (const n of spec4.nodes) {
        const files = await scannedFiles(hosts.executor(n.host));
        assert.ok(
          files.some((f) => /-bin\.\d+$/.test(f)) &&
            (n === node(0) || files.some((f) => /-relay\.\d+$/.test(f))),
          `binlogs and relay logs scanned on ${n.host}: ${files.join(', ')}`,
        );
        assert.deepEqual(await findSecrets(hosts.executor(n.host), generated), [], `on ${n.host}`);
      }
      // The scan sees clear text where it exists: a user created here with IDENTIFIED BY '<clear text>'.
      await withSql(adminEndpoint(spec, node(0)), (c) =>
        c.execute(`CREATE OR REPLACE USER 'control'@'localhost' IDENTIFIED BY 'control-Secret-8'`),
      );
      const control = await findSecrets(hosts.executor(node(0).host), ['control-Secret-8']);
      assert.ok(
        control.some((h) => h.includes('-bin.')),
        `positive control: ${control.join(', ')}`,
      );
    },
  );
});
