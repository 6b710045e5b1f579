// PostgreSQL probes and query insight on real lab hosts: a primary and two standbys deployed by the engine, then
// roles, standby fields (streaming, LSNs, lag), the primary's slots and the WAL they retain (growing while a
// standby is stopped), pg_stat_statements after a workload, a pg_sleep seen and cancelled, a stopped server.
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createTestLab, type TestLab } from '../../../src/lab/index.ts';
import { validateSpec, type ClusterSpec, type NodeSpec } from '../../../src/core/spec.ts';
import type { NodeObservation, PostgresReplication } from '../../../src/core/monitor/observation.ts';
import type { NodeProbe, QueryInsight } from '../../../src/engines/engine.ts';
import { postgresEngine } from '../../../src/engines/postgres/index.ts';
import { connectSql, withSql, type SqlTarget } from '../../../src/engines/postgres/sql.ts';
import { PG_USERS, slotName } from '../../../src/engines/postgres/config.ts';
import { service } from '../../../src/engines/postgres/server.ts';
import { isNinesError } from '../../../src/core/errors.ts';
import { labEngineContext, labHostAccess } from '../../support/lab-engine.ts';
import { ms, observeUntil, poll, timedObserve } from './helpers.ts';

const LOGS = join(import.meta.dirname, '..', '..', '..', '.lab', 'logs');
const TIMEOUT_MS = 2000;

function makeSpec(addresses: readonly string[]): ClusterSpec {
  return validateSpec({
    name: 'pgprobe',
    type: 'postgres-streaming',
    nodes: addresses.map((host, i) => ({ host, ...(i === 0 ? { role: 'primary' } : {}) })),
    ssh: { key: 'unused' },
    credentials: { admin: 'admin-secret-1', replication: 'repl-secret-1', monitor: 'monitor-secret-1' },
  }).spec;
}

/** An LSN ('16/B374D848') as a number of bytes. */
function lsn(text: string | null | undefined): number {
  const [hi, lo] = (text ?? '0/0').split('/');
  return parseInt(hi ?? '0', 16) * 2 ** 32 + parseInt(lo ?? '0', 16);
}

function standby(o: NodeObservation): PostgresReplication {
  assert.equal(o.replication?.kind, 'postgres', JSON.stringify(o));
  return o.replication;
}

describe('postgres probes on lab hosts', { timeout: ms(600_000) }, () => {
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
  const admin = (i: number): SqlTarget => ({
    host: node(i).host,
    port: node(i).port,
    user: PG_USERS.admin,
    password: spec.credentials.admin,
  });
  const write = (rows: number): Promise<void> =>
    withSql(admin(0), {}, async (c) => {
      await c.query('CREATE TABLE IF NOT EXISTS app_t (id serial PRIMARY KEY, v text)');
      await c.query('INSERT INTO app_t (v) SELECT repeat(md5(g::text), 20) FROM generate_series(1, $1) g', [
        rows,
      ]);
    });

  before(async () => {
    lab = await createTestLab(3);
    spec = makeSpec(lab.inventory.hosts.map((h) => h.address));
    hosts = labHostAccess(lab.inventory);
    await postgresEngine.deploy(labEngineContext(lab.inventory, spec, hosts));
    for (const n of spec.nodes) {
      probes.push(
        postgresEngine.openProbe(spec, n, { credentials: spec.credentials, timeoutMs: TIMEOUT_MS }),
      );
    }
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

  test('the primary and the streaming standbys report roles, LSNs, lag and slots', async () => {
    await write(100);
    const p = await probeOf(0).observe();
    assert.equal(p.reachable, true, JSON.stringify(p));
    assert.equal(p.role, 'primary');
    assert.equal(p.readOnly, false);
    assert.equal(p.replication, undefined);
    assert.equal(p.postgres?.timeline, 1);
    assert.match(p.postgres.currentLsn ?? '', /^[0-9A-F]+\/[0-9A-F]+$/);
    const slots = p.postgres.slots;
    assert.deepEqual(slots.map((s) => s.name).sort(), [slotName(node(1)), slotName(node(2))].sort());
    assert.ok(slots.every((s) => s.active && s.type === 'physical' && s.retainedBytes !== null));
    for (const i of [1, 2]) {
      const o = await observeUntil(probeOf(i), `standby ${i + 1} caught up`, ms(10_000), (x) => {
        return standby(x).lagBytes === 0 && lsn(standby(x).replayedLsn) >= lsn(p.postgres?.currentLsn);
      });
      assert.equal(o.role, 'replica');
      assert.equal(o.readOnly, true);
      const r = standby(o);
      assert.equal(r.source, `${node(0).host}:5432`);
      assert.equal(r.receiverStatus, 'streaming');
      assert.equal(r.lagSeconds, 0);
      assert.equal(r.slotName, slotName(node(i)));
      assert.equal(o.postgres?.timeline, 1);
      assert.equal(o.postgres.currentLsn, null);
    }
    const second = await probeOf(0).observe();
    assert.equal(typeof second.transactionsPerSecond, 'number');
  });

  test('a stopped standby leaves its slot inactive and the WAL it retains grows; started, it catches up', async () => {
    const ex = hosts.executor(node(2).host);
    const slot = slotName(node(2));
    await service(ex, spec, 'stop', false);
    try {
      const { o, tookMs } = await timedObserve(probeOf(2));
      assert.equal(o.reachable, false);
      assert.equal(o.error?.code, 'NINES_E_DB_UNREACHABLE');
      assert.ok(tookMs <= TIMEOUT_MS + 500, `observe took ${tookMs} ms`);
      await write(2000);
      const p = await observeUntil(probeOf(0), 'slot inactive with WAL retained', ms(10_000), (x) => {
        const s = x.postgres?.slots.find((y) => y.name === slot);
        return s?.active === false && (s.retainedBytes ?? 0) > 100_000;
      });
      const s = p.postgres?.slots.find((y) => y.name === slot);
      console.log(`slot ${slot} while its standby is down: ${JSON.stringify(s)}`);
    } finally {
      await service(ex, spec, 'start', false);
    }
    await observeUntil(probeOf(2), 'standby streaming again', ms(30_000), (x) => {
      return (
        x.reachable && x.replication?.kind === 'postgres' && x.replication.receiverStatus === 'streaming'
      );
    });
    await observeUntil(probeOf(0), 'slot active again', ms(30_000), (x) => {
      return x.postgres?.slots.find((y) => y.name === slot)?.active === true;
    });
  });

  test('statements of a workload appear in pg_stat_statements', async () => {
    const insight = postgresEngine.openQueryInsight(spec, node(0));
    insights.push(insight);
    await withSql(admin(0), {}, async (c) => {
      for (let i = 0; i < 100; i++) {
        await c.query('INSERT INTO app_t (v) VALUES ($1)', [`load${i}`]);
        await c.query('SELECT v FROM app_t WHERE id = $1', [i + 1]);
      }
    });
    const top = await insight.topStatements({ limit: 50, orderBy: 'calls' });
    const insert = top.find((s) => s.text.startsWith('INSERT INTO app_t (v) VALUES ($1)'));
    const select = top.find((s) => s.text.startsWith('SELECT v FROM app_t WHERE id = $1'));
    assert.ok(insert && insert.calls >= 100, JSON.stringify(top.slice(0, 5)));
    assert.ok(select && select.calls >= 100 && select.rows >= 100);
    assert.equal(insert.schema, 'postgres');
    const byRows = await insight.topStatements({ limit: 2, orderBy: 'rows' });
    assert.ok((byRows[0]?.rows ?? 0) >= (byRows[1]?.rows ?? 0));
  });

  test('a pg_sleep is a running query and the longest query; killQuery cancels it', async () => {
    const insight = postgresEngine.openQueryInsight(spec, node(1));
    insights.push(insight);
    const sleeper = await connectSql(admin(1), { statementTimeoutMs: 60_000 });
    try {
      const sleeping = sleeper.query('SELECT pg_sleep(30)').then(
        () => ({ ok: true, at: Date.now() }),
        (err: unknown) => ({ ok: false, err, at: Date.now() }),
      );
      const q = await poll('pg_sleep in pg_stat_activity', ms(10_000), async () => {
        const running = await insight.runningQueries();
        return running.find((r) => r.text.includes('pg_sleep(30)') && r.seconds >= 1);
      });
      assert.equal(q.user, PG_USERS.admin);
      assert.equal(q.state, 'active');
      const o = await observeUntil(probeOf(1), 'longest query >= 1 s', ms(5000), (x) => {
        return (x.longestQuerySeconds ?? 0) >= 1;
      });
      assert.ok((o.longestQuerySeconds ?? 0) < 30);
      const killedAt = Date.now();
      await insight.killQuery(q.id);
      const end = await sleeping;
      assert.equal(end.ok, false, 'a cancelled statement fails (57014)');
      assert.ok(end.at - killedAt < ms(3000));
      await assert.rejects(insight.killQuery(999_999), (e) => isNinesError(e, 'NINES_E_NOT_FOUND'));
    } finally {
      await sleeper.close();
    }
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
      `postgres observe(): ${wall.toFixed(2)} ms wall, ${((cpu.user + cpu.system) / n / 1000).toFixed(2)} ms controller CPU`,
    );
    assert.ok(wall < 100);
  });
});
