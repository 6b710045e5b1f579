// galera with mariabackup SST (spec option; rsync is the default): the SST user and its 0640 credentials file, joins by
// mariabackup, one Primary component of 3; no password nines generated in GCache or any server/SST log.
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createTestLab, type TestLab } from '../../../src/lab/index.ts';
import { validateSpec, type ClusterSpec } from '../../../src/core/spec.ts';
import { galeraEngine } from '../../../src/engines/galera/index.ts';
import { adminEndpoint, readGaleraState, withSql } from '../../../src/engines/mysql/index.ts';
import { ensureAppUser } from '../../../src/engines/registry.ts';
import { labEngineContext, labHostAccess, TIMEOUT_SCALE } from '../../support/lab-engine.ts';
import { poll } from '../../support/poll.ts';
import { findSecrets, scannedFiles } from '../../support/secret-scan.ts';

const ms = (n: number): number => Math.round(n * TIMEOUT_SCALE);
const LOGS = join(import.meta.dirname, '..', '..', '..', '.lab', 'logs');

describe('galera with mariabackup SST on lab hosts', { timeout: ms(300_000) }, () => {
  let lab: TestLab;
  let spec: ClusterSpec;
  let hosts: ReturnType<typeof labHostAccess>;
  let failed = false;

  before(async () => {
    lab = await createTestLab(3);
    spec = validateSpec({
      name: 'galmb',
      type: 'galera',
      nodes: lab.inventory.hosts.map((h) => ({ host: h.address })),
      ssh: { key: 'unused' },
      credentials: { admin: 'admin-secret-1', replication: 'sst-secret-1', monitor: 'monitor-secret-1' },
      options: { sstMethod: 'mariabackup', gcacheSize: '32M' },
    }).spec;
    hosts = labHostAccess(lab.inventory);
  });

  afterEach((t) => {
    if ('passed' in t && t.passed === false) failed = true;
  });

  after(async () => {
    await hosts?.close();
    await lab?.dispose(failed ? { keepLogsIn: LOGS } : {});
  });

  test('deploys 3 nodes joined by mariabackup SST', { timeout: ms(180_000) }, async () => {
    assert.equal(spec.options.sstMethod, 'mariabackup');
    const ctx = labEngineContext(lab.inventory, spec, hosts);
    const topology = await galeraEngine.deploy(ctx);
    assert.deepEqual(
      topology.nodes.map((n) => `${n.role} ${n.state}`),
      ['member Synced', 'member Synced', 'member Synced'],
    );
    assert.ok(!ctx.lines.join('\n').includes('sst-secret-1'), 'no secret in the job log');
    for (const n of spec.nodes) {
      const s = await withSql(adminEndpoint(spec, n), (c) => readGaleraState(c));
      assert.equal(s.clusterSize, 3);
    }
  });

  test('the joiners received their state by mariabackup; the SST credentials file is 0640 mysql:mysql', async () => {
    const ex = hosts.executor(spec.nodes[2]?.host ?? '');
    const stat = await ex.exec(['stat', '-c', '%a %U:%G', '/etc/mysql/mariadb.conf.d/91-nines-sst.cnf']);
    assert.equal(stat.stdout.trim(), '640 mysql:mysql');
    const log = await ex.exec(['grep', '-c', 'wsrep_sst_mariabackup', '/var/log/mysql/error.log'], {
      check: false,
    });
    assert.ok(Number(log.stdout.trim()) > 0, 'the joiner ran wsrep_sst_mariabackup');
  });

  test('no password nines generated is in GCache or any server or SST log of any node', async () => {
    const topology = await galeraEngine.discover(labEngineContext(lab.inventory, spec, hosts));
    const app = { user: 'galapp', password: 'gal-app-Secret-7', database: 'gal' };
    await ensureAppUser(hosts, spec, topology, app);
    await poll('the application user on every node', ms(10_000), async () => {
      const counts = await Promise.all(
        spec.nodes.map((n) =>
          withSql(adminEndpoint(spec, n), (c) =>
            c.query("SELECT COUNT(*) AS n FROM mysql.user WHERE user = 'galapp'"),
          ),
        ),
      );
      return counts.every((r) => Number(r[0]?.n) === 1) ? true : undefined;
    });
    const generated = [...Object.values(spec.credentials), app.password];
    for (const n of spec.nodes) {
      const ex = hosts.executor(n.host);
      const files = await scannedFiles(ex);
      assert.ok(
        files.some((f) => f.endsWith('/galera.cache')),
        `GCache scanned: ${files.join(', ')}`,
      );
      assert.deepEqual(await findSecrets(ex, generated), [], `on ${n.host}`);
    }
    // The scan sees clear text where it exists: a user created here with IDENTIFIED BY '<clear text>'.
    const first = spec.nodes[0];
    assert.ok(first);
    await withSql(adminEndpoint(spec, first), (c) =>
      c.execute(`CREATE OR REPLACE USER 'control'@'localhost' IDENTIFIED BY 'control-Secret-8'`),
    );
    const control = await findSecrets(hosts.executor(first.host), ['control-Secret-8']);
    assert.ok(
      control.some((h) => h.includes('galera.cache')),
      `positive control: ${control.join(', ')}`,
    );
  });
});
