// The failover drill for real: a MariaDB replication cluster (semi-sync) and a PostgreSQL streaming cluster
// (synchronous), 3 nodes + 2 proxies with a virtual IP each, deployed through an in-process controller on lab hosts.
//
// What this file asserts is the drill's own behaviour, which does not depend on automatic failover: it refuses a
// cluster outside the lab; its workload is acknowledged up to the fault; without a failover the run ends with
// stage `failover` and "no new primary within ..."; the fault is reverted (the host not frozen, no fault rules
// left); its pollers and writers are gone from every node's connection list; the acknowledged ids are on the
// primary; and, with a failover done by this test by hand (fence, promote the most advanced replica, repoint,
// switch HAProxy), every stage finishes, RTO is measured and nothing acknowledged is lost.
//
// When automatic failover is on main (src/controller/recovery/), the integrator turns these on:
//   - the "without a failover" cases become "with the automatic failover": expect recovered runs (failedStage
//     null, newPrimary set, rtoMs within the goals, lostAcknowledged [], maxWritable 1) and a timeline with
//     failover.detected ... failover.done and node.rejoined; crash and poweroff join freeze and partition;
//   - manualFailover() below is deleted (the state machine does it), the partition case keeps its assertions.
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { DrillReport, DrillRunReport } from '../../../src/controller/drill/index.ts';
import { DRILL_SQL } from '../../../src/controller/drill/sql.ts';
import type { ClusterSpec, NodeSpec } from '../../../src/core/spec.ts';
import type { Topology } from '../../../src/engines/engine.ts';
import { replicateFrom } from '../../../src/engines/mariadb/replication.ts';
import { adminEndpoint, withSql as withMysql, type SqlClient } from '../../../src/engines/mysql/index.ts';
import { withSql as withPg } from '../../../src/engines/postgres/index.ts';
import { adminTarget } from '../../../src/engines/postgres/common.ts';
import { createTestLab, labStatus, type LabInventory, type TestLab } from '../../../src/lab/index.ts';
import { updateEndpoint } from '../../../src/proxies/index.ts';
import { labEngineContext, labHostAccess } from '../../support/lab-engine.ts';
import {
  LOGS,
  appQuery,
  createAppUser,
  fullSpec,
  labSpec,
  ms,
  poll,
  registerLabKey,
  startTestController,
  storedTopology,
  type TestController,
} from '../deploy/helpers.ts';

const key = (n: Pick<NodeSpec, 'host' | 'port'>): string => `${n.host}:${n.port}`;
const vipOf = (inv: LabInventory): string => inv.controllerAddress.replace(/\.\d+$/, '.100');

/** Connections of the drill (its user) and of the admin user other than this one, on one node. */
async function drillConnections(spec: ClusterSpec, node: NodeSpec): Promise<number> {
  if (spec.type === 'postgres-streaming') {
    return withPg(adminTarget(spec, node), { connectTimeoutMs: ms(5000) }, async (c) => {
      const rows = await c.query<{ n: string }>(
        "SELECT count(*) AS n FROM pg_stat_activity WHERE (usename = 'nines_drill' OR application_name = 'nines-drill') AND pid <> pg_backend_pid()",
      );
      return Number(rows[0]?.n);
    });
  }
  return withMysql(
    adminEndpoint(spec, node),
    async (c) => {
      const rows = await c.query(
        "SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE (USER = 'nines_drill' OR USER = 'nines_admin') AND ID <> CONNECTION_ID()",
      );
      return Number(rows[0]?.n);
    },
    { connectTimeoutMs: ms(5000) },
  );
}

/** The drill table's ids on a node, through the drill's own SQL (the same code its verify stage runs). */
async function drillIds(spec: ClusterSpec, node: NodeSpec): Promise<number[]> {
  const conn = await DRILL_SQL[spec.type].openAdmin(spec, node, ms(5000), 'nines_drill');
  try {
    return await conn.ids(1, Number.MAX_SAFE_INTEGER);
  } finally {
    conn.close();
  }
}

function assertCleanNoFailoverRun(run: DrillRunReport, fault: string): void {
  assert.equal(run.recovered, false);
  assert.equal(run.failedStage, 'failover', run.reason);
  assert.match(
    run.reason,
    /^no new primary within \d+\.\d s of the run's start: the inventory names .* \(the faulted node\) as primary; no failover\.\* event was recorded$/,
  );
  assert.equal(run.newPrimary, null);
  assert.equal(run.faultHost, 'h1');
  assert.deepEqual(
    run.stages.map((s) => [s.stage, s.ok]),
    [
      ['baseline', true],
      ['fault', true],
      ['failover', false],
      ['revert', true],
    ],
  );
  assert.ok(
    run.writes.acknowledged >= 10,
    `writes acknowledged before the fault: ${run.writes.acknowledged}`,
  );
  // The last acknowledgement of a write sent before the fault: around the fault (it may be read just after).
  assert.ok(
    run.lastAckBeforeMs !== null && run.lastAckBeforeMs > -ms(1000) && run.lastAckBeforeMs < ms(1000),
    `the workload was acknowledged up to the fault (last ack ${run.lastAckBeforeMs} ms)`,
  );
  assert.equal(run.firstAckAfterMs, null, 'no write sent after the fault acknowledged before the revert');
  assert.equal(run.rtoMs, null, 'no RTO without a failover (writes after the revert do not count)');
  assert.equal(run.writes.lostAcknowledged, null, 'not measured without a new primary');
  assert.ok(run.writable.samples > 20, `every node polled (${run.writable.samples} samples)`);
  assert.equal(run.writable.maxWritable, 1);
  const types = run.timeline.map((e) => e.type);
  assert.ok(types.includes('drill.fault') && types.includes('drill.reverted'), types.join(', '));
  assert.ok(!types.some((t) => t.startsWith('job.')), 'the drill job events are not in the timeline');
  assert.equal(run.fault, fault);
}

async function assertRevertedAndQuiet(
  t: TestController,
  inv: LabInventory,
  spec: ClusterSpec,
): Promise<void> {
  const [status] = await labStatus(inv.name);
  const h1 = status?.hosts.find((h) => h.name === 'h1');
  assert.equal(h1?.state, 'up', 'the faulted host is up (not frozen, not down)');
  assert.deepEqual(h1?.faults, [], 'no fault rule left');
  for (const node of spec.nodes) {
    await poll(`no drill connection left on ${key(node)}`, 10_000, async () =>
      (await drillConnections(spec, node)) === 0 ? true : undefined,
    );
  }
  // The cluster takes writes through the endpoint after the drill.
  await poll('a write through the endpoint after the drill', 30_000, async () => {
    await appQuery(
      spec.type,
      vipOf(inv),
      spec.endpoint?.writePort ?? 0,
      'CREATE TABLE IF NOT EXISTS after_drill (id int PRIMARY KEY)',
    );
    return true;
  });
  assert.equal(t.controller.jobs.runningCount, 0, 'no job left running');
}

async function drillViaCli(
  t: TestController,
  cluster: string,
  args: readonly string[],
): Promise<{ code: number; report: DrillReport; stderr: string }> {
  const r = await t.cli(['drill', 'failover', cluster, ...args, '--json']);
  const parsed = JSON.parse(r.stdout) as { report: DrillReport };
  return { code: r.code, report: parsed.report, stderr: r.stderr };
}

/**
 * What the automatic failover will do, done by hand so the drill's later stages run against real servers:
 * once the drill's fault is in, fence the old primary (the controller still reaches it in a partition),
 * promote the replica that applied the most, repoint the other one, switch HAProxy, record it; once the drill
 * reverted the fault, make the old primary a replica of the new one.
 */
async function manualFailover(
  t: TestController,
  inv: LabInventory,
  spec: ClusterSpec,
  jobId: number,
): Promise<string> {
  const hosts = labHostAccess(inv);
  const log = (): string => t.jobLog(jobId);
  try {
    await poll('the drill fault', 60_000, () =>
      Promise.resolve(/run 1: fault: /.test(log()) ? true : undefined),
    );
    const [old, ...replicas] = spec.nodes as [NodeSpec, ...NodeSpec[]];
    const admin = <T>(n: NodeSpec, fn: (c: SqlClient) => Promise<T>): Promise<T> =>
      withMysql(adminEndpoint(spec, n), fn, { connectTimeoutMs: ms(5000) });
    await admin(old, (c) => c.execute('SET GLOBAL read_only = ON'));
    // The replicas received all they will: wait until what they applied stops moving, take the most advanced.
    const applied = async (n: NodeSpec): Promise<number> =>
      admin(n, async (c) => {
        const rows = await c.query<{ p: string | null }>('SELECT @@global.gtid_slave_pos AS p');
        return Math.max(
          0,
          ...String(rows[0]?.p ?? '')
            .split(',')
            .map((g) => Number(g.split('-')[2] ?? 0)),
        );
      });
    let last = '';
    await poll('the replicas settled', 30_000, async () => {
      const now = (await Promise.all(replicas.map(applied))).join(',');
      const settled = now === last;
      last = now;
      await new Promise((r) => setTimeout(r, 500));
      return settled ? true : undefined;
    });
    const positions = await Promise.all(replicas.map(applied));
    const best = replicas[positions.indexOf(Math.max(...positions))] ?? replicas[0];
    assert.ok(best);
    await admin(best, async (c) => {
      await c.execute('STOP SLAVE');
      await c.execute('RESET SLAVE ALL');
      await c.execute('SET GLOBAL read_only = OFF');
    });
    for (const r of replicas.filter((n) => n !== best))
      await replicateFrom(hosts.executor(r.host), spec, best);
    const topology: Topology = {
      type: spec.type,
      nodes: spec.nodes.map((n) => ({
        host: n.host,
        port: n.port,
        role: n === best ? 'primary' : 'replica',
      })),
    };
    await updateEndpoint(labEngineContext(inv, spec, hosts), topology);
    t.controller.store.inventory.updateNode(spec.name, best, { role: 'primary' });
    t.controller.events.emit({
      cluster: spec.name,
      type: 'failover.done',
      message: `manual failover by the test: ${key(best)}`,
    });
    await poll('the drill revert', 60_000, () =>
      Promise.resolve(/run 1: revert: /.test(log()) ? true : undefined),
    );
    await admin(old, (c) => c.execute('SET GLOBAL gtid_slave_pos = @@global.gtid_binlog_pos'));
    await replicateFrom(hosts.executor(old.host), spec, best);
    t.controller.store.inventory.updateNode(spec.name, old, { role: 'replica' });
    return key(best);
  } finally {
    await hosts.close();
  }
}

const TYPES = [
  { type: 'mariadb-replication', name: 'drm', options: { semiSync: true } },
  { type: 'postgres-streaming', name: 'drp', options: { synchronous: true } },
] as const;

for (const o of TYPES) {
  describe(`the failover drill on ${o.type}`, { timeout: ms(900_000) }, () => {
    let lab: TestLab;
    let t: TestController;
    let spec: ClusterSpec;
    let failed = false;

    before(async () => {
      lab = await createTestLab(5);
      t = await startTestController();
      await registerLabKey(t, lab.inventory);
      const raw = labSpec(lab.inventory, {
        name: o.name,
        type: o.type,
        nodes: ['h1', 'h2', 'h3'],
        proxies: ['h4', 'h5'],
        virtualIp: vipOf(lab.inventory),
        options: o.options,
      });
      spec = fullSpec(raw);
      const { job } = await t.api<{ job: { id: number } }>('POST', '/clusters', raw);
      const done = await t.waitJob(job.id, 300_000);
      assert.equal(done.state, 'succeeded', `${JSON.stringify(done.error)}\n${t.jobLog(job.id)}`);
      await createAppUser(lab.inventory, spec, storedTopology(t, spec));
    });

    afterEach((c) => {
      if ((c as { passed?: boolean }).passed === false) failed = true;
    });

    after(async () => {
      await t?.close();
      await lab?.dispose(failed ? { keepLogsIn: LOGS } : {});
    });

    test('refused outside the lab, with the code and a hint', async () => {
      const away = fullSpec({
        ...labSpec(lab.inventory, { name: `${o.name}-away`, type: o.type, nodes: ['h1'], proxies: ['h4'] }),
        nodes: [{ host: '192.0.2.10', role: 'primary' }],
      });
      t.controller.store.inventory.createCluster(away, 'healthy');
      const r = await t.cli(['drill', 'failover', away.name, '--fault', 'crash', '--json']);
      assert.equal(r.code, 1, r.stderr);
      const err = (JSON.parse(r.stderr) as { error: { code: string; message: string; hint: string } }).error;
      assert.equal(err.code, 'NINES_E_DRILL_NOT_LAB');
      assert.match(err.message, /192\.0\.2\.10 is not a host of a lab on this machine/);
      assert.match(err.hint, /nines lab status/);
      assert.equal(t.controller.store.jobs.list({ type: 'drill.failover' }).length, 0, 'no job was queued');
      const del = await t.api<{ job: { id: number } }>(
        'DELETE',
        `/clusters/${away.name}?confirm=${away.name}`,
      );
      assert.equal((await t.waitJob(del.job.id)).state, 'succeeded');
    });

    test('freeze without a failover: stage failover times out, the fault is reverted, nothing left behind', async () => {
      const { code, report, stderr } = await drillViaCli(t, o.name, [
        '--fault',
        'freeze',
        '--repeat',
        '2',
        '--rate',
        '20',
        '--timeout',
        String(Math.round(15 * Number(process.env.NINES_TIMEOUT_SCALE ?? 1))),
      ]);
      assert.equal(code, 1, `a run that did not recover exits 1\n${stderr}`);
      assert.equal(report.runs.length, 1);
      assert.equal(report.skipped, 1);
      const [run] = report.runs;
      assert.ok(run);
      console.log(
        `${o.type} freeze, no failover: ${run.writes.acknowledged}/${run.writes.sent} writes acknowledged, last ${run.lastAckBeforeMs} ms from the fault, ${run.writable.samples} polls; ${run.reason}`,
      );
      assertCleanNoFailoverRun(run, 'freeze');
      assert.equal(run.oldPrimary, key(spec.nodes[0] ?? { host: '', port: 0 }));
      await assertRevertedAndQuiet(t, lab.inventory, spec);
      const ids = await drillIds(spec, spec.nodes[0] as NodeSpec);
      assert.ok(
        ids.length >= run.writes.acknowledged,
        `every acknowledged write is on the primary (${ids.length} rows, ${run.writes.acknowledged} acknowledged)`,
      );
    });

    if (o.type === 'mariadb-replication') {
      test('partition with a failover (done by hand here): every stage, RTO, nothing lost, one writable node', async () => {
        const { job } = await t.api<{ job: { id: number } }>('POST', `/clusters/${o.name}/drill`, {
          fault: 'partition',
          rate: 20,
          timeoutMs: ms(90_000),
        });
        const promoted = await manualFailover(t, lab.inventory, spec, job.id);
        const done = await t.waitJob(job.id, 180_000);
        assert.equal(done.state, 'succeeded', t.jobLog(job.id));
        const { report } = await t.api<{ report: DrillReport }>('GET', `/clusters/${o.name}/drill/${job.id}`);
        const [run] = report.runs;
        assert.ok(run);
        console.log(
          `partition, failover by hand: RTO ${run.rtoMs} ms, new primary after ${run.newPrimaryAfterMs} ms, rejoined after ${run.rejoinedAfterMs} ms, ${run.writes.acknowledged}/${run.writes.sent} acknowledged, lost ${run.writes.lostAcknowledged?.length}, unacknowledged present ${run.writes.unacknowledgedPresent}, max writable ${run.writable.maxWritable}`,
        );
        assert.equal(run.recovered, true, `${run.reason}\n${t.jobLog(job.id)}`);
        assert.equal(run.newPrimary, promoted);
        assert.ok(run.stages.every((s) => s.ok));
        assert.ok(run.rtoMs !== null && run.rtoMs > 0 && run.rtoMs < ms(60_000), `RTO ${run.rtoMs} ms`);
        assert.deepEqual(
          run.writes.lostAcknowledged,
          [],
          'semi-sync, fenced, the most advanced replica promoted',
        );
        assert.ok(
          run.firstAckAfterMs !== null && run.firstAckAfterMs > 0,
          'writes acknowledged after the fault',
        );
        assert.ok(run.writes.failed > 0, 'writes failed during the outage');
        assert.equal(run.writable.maxWritable, 1, JSON.stringify(run.writable.proven));
        assert.equal(run.writable.oldPrimaryAfterRevert, 0);
        const types = run.timeline.map((e) => e.type);
        for (const type of ['drill.fault', 'failover.done', 'drill.reverted'])
          assert.ok(types.includes(type), `${type} in ${types.join(', ')}`);
        assert.equal(report.summary.rtoMs.count, 1);
        const [status] = await labStatus(lab.inventory.name);
        assert.deepEqual(status?.hosts.find((h) => h.name === 'h1')?.faults, [], 'healed');
        for (const node of spec.nodes) {
          await poll(`no drill connection left on ${key(node)}`, 10_000, async () =>
            (await drillConnections(spec, node)) === 0 ? true : undefined,
          );
        }
      });
    }
  });
}
