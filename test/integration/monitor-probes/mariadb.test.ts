// MariaDB replication probes and query insight on real lab hosts: a primary and two replicas deployed by the
// engine, then roles and replication fields, a stopped SQL thread under writes, a stopped and restarted server,
// a frozen host, the digest summary after a workload, a long SLEEP seen and killed, and host stats over SSH.
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createTestLab, labFault, type TestLab } from '../../../src/lab/index.ts';
import { validateSpec, type ClusterSpec, type NodeSpec } from '../../../src/core/spec.ts';
import type { MariadbReplication, NodeObservation } from '../../../src/core/monitor/observation.ts';
import type { NodeProbe, QueryInsight } from '../../../src/engines/engine.ts';
import { mariadbReplicationEngine } from '../../../src/engines/mariadb/index.ts';
import { adminEndpoint, connectSql, withSql } from '../../../src/engines/mysql/index.ts';
import { startServer, stopServer } from '../../../src/engines/mysql/host.ts';
import { newHostStatsState, readHostStats } from '../../../src/hosts/host-stats.ts';
import { isNinesError } from '../../../src/core/errors.ts';
import { labEngineContext, labHostAccess } from '../../support/lab-engine.ts';
import { ms, observeUntil, poll, timedObserve } from './helpers.ts';

const LOGS = join(import.meta.dirname, '..', '..', '..', '.lab', 'logs');
const TIMEOUT_MS = 2000;

function makeSpec(addresses: readonly string[]): ClusterSpec {
  return validateSpec({
    name: 'mdbprobe',
    type: 'mariadb-replication',
    nodes: addresses.map((host, i) => ({ host, ...(i === 0 ? { role: 'primary' } : {}) })),
    ssh: { key: 'unused' },
    credentials: { admin: 'admin-secret-1', replication: 'repl-secret-1', monitor: 'monitor-secret-1' },
  }).spec;
}

function repl(o: NodeObservation): MariadbReplication {
  assert.equal(o.replication?.kind, 'mariadb', JSON.stringify(o));
  return o.replication;
}

describe('mariadb probes on lab hosts', { timeout: ms(600_000) }, () => {
  let lab: TestLab;
  let spec: ClusterSpec;
  let hosts: ReturnType<typeof labHostAccess>;
  let failed = false;
  const probes: NodeProbe[] = [];
  const insights: QueryInsight[] = [];
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
    await mariadbReplicationEngine.deploy(labEngineContext(lab.inventory, spec, hosts));
    for (const n of spec.nodes) {
      probes.push(
        mariadbReplicationEngine.openProbe(spec, n, { credentials: spec.credentials, timeoutMs: TIMEOUT_MS }),
      );
    }
    await withSql(adminEndpoint(spec, node(0)), async (c) => {
      await c.execute('CREATE DATABASE IF NOT EXISTS app');
      await c.execute('CREATE TABLE IF NOT EXISTS app.t (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(20))');
    });
  });

  afterEach((t) => {
    if ('passed' in t && t.passed === false) failed = true;
  });

  after(async () => {
    await Promise.all([...probes, ...insights].map((p) => p.close()));
    await hosts?.close();
    await lab?.dispose(failed ? { keepLogsIn: LOGS } : {});
    if (failed) console.error(`host logs kept in ${LOGS}/${lab?.inventory.name}`);
  });

  test('each node reports its role, read_only, replication and GTID positions', async () => {
    const [p, r1, r2] = await Promise.all(probes.map((pr) => pr.observe()));
    assert.ok(p && r1 && r2);
    assert.equal(p.reachable, true, JSON.stringify(p));
    assert.equal(p.role, 'primary');
    assert.equal(p.readOnly, false);
    assert.equal(p.replication, undefined);
    assert.match(p.mariadb?.gtidBinlogPos ?? '', /^0-\d+-\d+$/);
    assert.ok((p.connections ?? 0) >= 1 && (p.maxConnections ?? 0) > 0);
    for (const r of [r1, r2]) {
      assert.equal(r.role, 'replica', JSON.stringify(r));
      assert.equal(r.readOnly, true);
      const rep = repl(r);
      assert.equal(rep.source, `${node(0).host}:3306`);
      assert.equal(rep.ioRunning, true);
      assert.equal(rep.sqlRunning, true);
      assert.equal(rep.lastError, null);
      assert.equal(rep.usingGtid, 'Slave_Pos');
      assert.ok(r.mariadb && r.mariadb.innodb.historyLength >= 0);
    }
    const second = await probeOf(0).observe();
    assert.equal(typeof second.queriesPerSecond, 'number', 'a rate from the second observation on');
    assert.equal(typeof second.mariadb?.innodb.rowLockWaitsPerSecond, 'number');
  });

  test('a stopped SQL thread under writes shows sqlRunning false and the received position ahead', async () => {
    await withSql(adminEndpoint(spec, node(1)), (c) => c.execute('STOP SLAVE SQL_THREAD'));
    await withSql(adminEndpoint(spec, node(0)), async (c) => {
      for (let i = 0; i < 20; i++) await c.execute('INSERT INTO app.t (v) VALUES (?)', [`w${i}`]);
    });
    const o = await observeUntil(probeOf(1), 'SQL thread stopped, IO position ahead', ms(10_000), (x) => {
      const r = x.replication as MariadbReplication | undefined;
      return r?.sqlRunning === false && r.gtidIoPos !== x.mariadb?.gtidSlavePos;
    });
    const r = repl(o);
    assert.equal(r.ioRunning, true);
    assert.equal(r.lagSeconds, null, 'Seconds_Behind_Master is NULL with a stopped SQL thread');
    await withSql(adminEndpoint(spec, node(1)), (c) => c.execute('START SLAVE SQL_THREAD'));
    await observeUntil(probeOf(1), 'replica caught up', ms(15_000), (x) => {
      const rr = x.replication as MariadbReplication | undefined;
      return rr?.sqlRunning === true && rr.lagSeconds === 0 && x.mariadb?.gtidSlavePos === rr.gtidIoPos;
    });
  });

  test('statements of a workload appear in the digest summary', async () => {
    const insight = mariadbReplicationEngine.openQueryInsight(spec, node(0));
    insights.push(insight);
    await withSql(adminEndpoint(spec, node(0)), async (c) => {
      for (let i = 0; i < 100; i++) {
        await c.execute('INSERT INTO app.t (v) VALUES (?)', [`load${i}`]);
        await c.query('SELECT v FROM app.t WHERE id = ?', [i + 1]);
      }
    });
    const top = await insight.topStatements({ limit: 50, orderBy: 'calls' });
    const insert = top.find((s) => /INSERT INTO `app` \. `t`/i.test(s.text));
    const select = top.find((s) => /SELECT `v` FROM `app` \. `t`/i.test(s.text));
    assert.ok(insert && insert.calls >= 100, JSON.stringify(top.slice(0, 5)));
    assert.ok(select && select.calls >= 100);
    assert.ok(insert.totalTimeMs > 0 && insert.meanTimeMs > 0);
    const byTime = await insight.topStatements({ limit: 3, orderBy: 'totalTime' });
    assert.ok(byTime.length === 3 && (byTime[0]?.totalTimeMs ?? 0) >= (byTime[1]?.totalTimeMs ?? 0));
    await assert.rejects(insight.topStatements({ limit: 0, orderBy: 'rows' }), (e) =>
      isNinesError(e, 'NINES_E_INVALID_ARGUMENT'),
    );
  });

  test('a long SLEEP is a running query and the longest query; killQuery ends it', async () => {
    const insight = mariadbReplicationEngine.openQueryInsight(spec, node(1));
    insights.push(insight);
    const sleeper = await connectSql(adminEndpoint(spec, node(1)), { queryTimeoutMs: 60_000 });
    try {
      const started = Date.now();
      const sleeping = sleeper.query('SELECT SLEEP(30) AS s').then(
        (rows) => ({ ok: true, rows, at: Date.now() }),
        (err: unknown) => ({ ok: false, err, at: Date.now() }),
      );
      const q = await poll('SLEEP in the processlist', ms(10_000), async () => {
        const running = await insight.runningQueries();
        return running.find((r) => r.text.includes('SLEEP(30)') && r.seconds >= 1);
      });
      assert.equal(q.user, 'nines_admin');
      const o = await observeUntil(probeOf(1), 'longest query >= 1 s', ms(5000), (x) => {
        return (x.longestQuerySeconds ?? 0) >= 1;
      });
      assert.ok((o.longestQuerySeconds ?? 0) < 30);
      const killedAt = Date.now();
      await insight.killQuery(q.id);
      const end = await sleeping;
      assert.ok(
        end.at - killedAt < ms(3000),
        `the sleeping client got its answer ${end.at - killedAt} ms after the kill`,
      );
      assert.ok(end.at - started < 30_000);
      await assert.rejects(insight.killQuery(987_654), (e) => isNinesError(e, 'NINES_E_NOT_FOUND'));
      await observeUntil(probeOf(1), 'longest query back to 0', ms(5000), (x) => x.longestQuerySeconds === 0);
    } finally {
      await sleeper.close();
    }
  });

  test('a stopped server makes the probe unreachable within the timeout, a start brings it back', async () => {
    const ex = hosts.executor(node(2).host);
    await stopServer(ex);
    const { o, tookMs } = await timedObserve(probeOf(2));
    assert.equal(o.reachable, false, JSON.stringify(o));
    assert.equal(o.role, 'unknown');
    assert.equal(o.error?.code, 'NINES_E_DB_UNREACHABLE');
    assert.ok(tookMs <= TIMEOUT_MS + 500, `observe took ${tookMs} ms`);
    await startServer(ex);
    const back = await observeUntil(probeOf(2), 'reachable again', ms(30_000), (x) => x.reachable);
    assert.equal(back.role, 'replica');
  });

  test('a frozen host makes the probe unreachable within the timeout; thawed, it answers again', async () => {
    await probeOf(2).observe(); // an open connection, as in the monitor loop
    await labFault(lab.inventory.name, 'h3', 'freeze');
    try {
      const { o, tookMs } = await timedObserve(probeOf(2));
      assert.equal(o.reachable, false, JSON.stringify(o));
      assert.ok(tookMs <= TIMEOUT_MS + 500, `observe took ${tookMs} ms`);
      assert.match(o.error?.message ?? '', /no answer within 2000 ms/);
      // The next observe reconnects: the TCP handshake succeeds (kernel), the server never answers.
      const again = await timedObserve(probeOf(2));
      assert.equal(again.o.reachable, false);
      assert.ok(again.tookMs <= TIMEOUT_MS + 500, `observe took ${again.tookMs} ms`);
    } finally {
      await labFault(lab.inventory.name, 'h3', 'thaw');
    }
    await observeUntil(probeOf(2), 'reachable after thaw', ms(20_000), (x) => x.reachable);
  });

  test('host stats of a lab host are sane', async () => {
    const state = newHostStatsState();
    const ex = hosts.executor(node(0).host);
    const first = await readHostStats(ex, { dataDir: '/var/lib/mysql', state });
    assert.equal(first.cpuPct, undefined, 'no CPU figure from one reading');
    await new Promise((r) => setTimeout(r, 300)); // two readings of the CPU counters need time between them
    const s = await readHostStats(ex, { dataDir: '/var/lib/mysql', state });
    console.log(`host stats ${node(0).host}: ${JSON.stringify(s)}`);
    assert.ok(s.cpuPct !== undefined && s.cpuPct >= 0 && s.cpuPct <= 100);
    assert.ok(s.memPct !== undefined && s.memPct > 0 && s.memPct < 100);
    assert.ok(s.diskPct !== undefined && s.diskPct > 0 && s.diskPct <= 100);
    assert.ok((s.diskTotalBytes ?? 0) > (s.diskUsedBytes ?? 0));
    assert.ok(s.load1 !== undefined && s.load1 >= 0);
    assert.ok((s.cpuCount ?? 0) >= 1);
    assert.ok(s.netRxBytesPerSecond !== undefined && s.netRxBytesPerSecond > 0, 'ssh traffic was received');
  });

  test('cost of one observe()', async () => {
    const p = probeOf(0);
    await p.observe();
    const n = 100;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    for (let i = 0; i < n; i++) await p.observe();
    const wall = (performance.now() - t0) / n;
    const cpu = process.cpuUsage(cpu0);
    console.log(
      `mariadb observe(): ${wall.toFixed(2)} ms wall, ${((cpu.user + cpu.system) / n / 1000).toFixed(2)} ms controller CPU`,
    );
    assert.ok(wall < 100);
  });
});
