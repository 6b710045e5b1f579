// The drill job against a simulated cluster (no servers): the stages, the report, the revert and the clean-up in
// every outcome — no failover (what main does until automatic failover lands), a failover, a failover that
// loses acknowledged writes, a split brain after the revert, a cancelled drill — and the refusals.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../../src/api/app.ts';
import type { DrillDeps, DrillReport } from '../../../src/controller/drill/index.ts';
import type { AdminConnection, AppConnection, DrillSql } from '../../../src/controller/drill/sql.ts';
import { NinesError, isNinesError } from '../../../src/core/errors.ts';
import { validateSpec, type ClusterSpec } from '../../../src/core/spec.ts';
import type { Controller } from '../../../src/controller/controller.ts';
import { openTemp, waitForState, type TempController } from './helpers.ts';

interface SimNode {
  readonly key: string;
  readonly host: string;
  readonly name: string;
  up: boolean;
  writable: boolean;
  readonly ids: Set<number>;
}

type Hook = (world: World, fault: string, host: string) => void;

/** A pretend cluster: an endpoint that sends writes to `writer`, replication to every node that is up. */
class World {
  readonly nodes: SimNode[];
  writer: string;
  readonly faults: string[] = [];
  open = 0;
  hook: Hook = () => undefined;
  appUsers: string[] = [];
  /** What the controller's live failover plan says (undefined: automatic failover off). */
  readiness: { ready: boolean; reason: string } | undefined = undefined;

  constructor(hosts: readonly string[]) {
    this.nodes = hosts.map((host, i) => ({
      key: `${host}:3306`,
      host,
      name: `h${i + 1}`,
      up: true,
      writable: i === 0,
      ids: new Set(),
    }));
    this.writer = this.nodes[0]?.key ?? '';
  }

  node(key: string): SimNode {
    const n = this.nodes.find((x) => x.key === key || x.name === key);
    if (!n) throw new Error(`no node ${key}`);
    return n;
  }

  fault(host: string, fault: string): void {
    this.faults.push(`${fault} ${host}`);
    const n = this.node(host);
    n.up = ['restart', 'heal', 'thaw'].includes(fault);
    this.hook(this, fault, host);
  }

  private conn<T extends object>(extra: T): T & { usable: boolean; close(): void } {
    this.open += 1;
    let closed = false;
    return Object.assign(extra, {
      get usable() {
        return !closed;
      },
      close: () => {
        if (!closed) this.open -= 1;
        closed = true;
      },
    });
  }

  sql(): DrillSql {
    const unreachable = (what: string): NinesError => new NinesError('NINES_E_DB_UNREACHABLE', what);
    return {
      openApp: async () => {
        await tick();
        const target = this.node(this.writer);
        if (!target.up) throw unreachable(`endpoint -> ${target.key}`);
        return this.conn<Omit<AppConnection, 'usable' | 'close'>>({
          insert: async (id: number) => {
            await tick();
            if (!target.up || !target.writable) throw unreachable(`insert on ${target.key}`);
            for (const n of this.nodes) if (n.up) n.ids.add(id);
          },
        });
      },
      openAdmin: async (_spec, node) => {
        await tick();
        const n = this.node(`${node.host}:${node.port}`);
        if (!n.up) throw unreachable(n.key);
        return this.conn<Omit<AdminConnection, 'usable' | 'close'>>({
          writable: async () => {
            await tick();
            if (!n.up) throw unreachable(n.key);
            return n.writable;
          },
          ids: async (from: number, to: number) => {
            await tick();
            return [...n.ids].filter((id) => id >= from && id <= to);
          },
        });
      },
      createTable: async () => {
        await tick();
      },
    };
  }
}

let current = new World([]);

const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 1));
const HOSTS = ['10.77.9.11', '10.77.9.12', '10.77.9.13'];
const PROXIES = ['10.77.9.14', '10.77.9.15'];

/** The drill's outside world: the lab, faults and SQL of whichever World the test set as current. */
function deps(world: () => World): DrillDeps {
  const all = [...HOSTS, ...PROXIES];
  return {
    hosts: () => ({
      executor: () => {
        throw new Error('the drill test touches no host');
      },
    }),
    labs: () => [
      { name: 'lab9', up: true, hosts: all.map((address, i) => ({ name: `h${i + 1}`, address })) },
    ],
    fault: (lab, host, fault) => {
      assert.equal(lab, 'lab9');
      world().fault(host, fault);
      return Promise.resolve();
    },
    sql: () => world().sql(),
    singlePrimary: (type) => type !== 'galera',
    failoverReadiness: () => world().readiness,
    ensureAppUser: (_hosts, _spec, topology, app) => {
      assert.ok(app.password.length >= 20, 'a random password');
      world().appUsers.push(`${app.user}@${topology.nodes.find((n) => n.role === 'primary')?.host ?? '?'}`);
      return Promise.resolve();
    },
    timing: {
      pollIntervalMs: 20,
      sampleBoundMs: 100,
      writeTimeoutMs: 100,
      baselineMs: 3000,
      verifyMs: 1000,
      waitStepMs: 20,
    },
  };
}

const spec = (name: string, type = 'mariadb-replication', hosts = HOSTS): ClusterSpec =>
  validateSpec({
    name,
    type,
    nodes: hosts.map((host, i) => ({
      host,
      port: 3306,
      ...(i === 0 && type !== 'galera' ? { role: 'primary' } : {}),
    })),
    ssh: { key: 'test-key' },
    credentials: { admin: 'admin-secret-1', replication: 'repl-secret-1', monitor: 'monitor-secret-1' },
    endpoint: { proxies: PROXIES, virtualIp: '10.77.9.100' },
  }).spec;

function store(c: Controller, s: ClusterSpec): void {
  c.store.inventory.createCluster(s, 'healthy');
  for (const n of s.nodes.slice(1)) c.store.inventory.updateNode(s.name, n, { role: 'replica' });
}

/** The failover as the integrator's state machine will do it, simulated: promote h2 `afterMs` after the fault. */
function failover(
  c: Controller,
  cluster: string,
  o: { afterMs: number; lose?: number; splitMs?: number; rejoin?: boolean },
): Hook {
  return (world, fault, host) => {
    const old = world.node(host);
    if (['crash', 'freeze', 'poweroff', 'partition'].includes(fault)) {
      setTimeout(() => {
        const next = world.nodes.find((n) => n !== old && n.up);
        if (!next) return;
        // Async replication losing the tail: the new primary lacks the last acknowledged writes.
        const tail = [...old.ids].sort((a, b) => b - a).slice(0, o.lose ?? 0);
        for (const id of tail) next.ids.delete(id);
        next.writable = true;
        world.writer = next.key;
        c.store.inventory.updateNode(cluster, { host: next.host, port: 3306 }, { role: 'primary' });
        c.events.emit({ cluster, type: 'failover.done', message: `promoted ${next.key}` });
      }, o.afterMs);
    } else {
      // The revert: the old primary comes back, is fenced and rejoins. A restarted server comes up read-only
      // (fenced by its configuration); a healed or thawed one stays writable for splitMs (a split brain).
      if (fault === 'restart') old.writable = false;
      if (o.rejoin === false) return;
      setTimeout(() => {
        old.writable = false;
        for (const id of world.node(world.writer).ids) old.ids.add(id);
        c.store.inventory.updateNode(cluster, { host: old.host, port: 3306 }, { role: 'replica' });
        c.events.emit({ cluster, type: 'node.rejoined', message: `${old.key} rejoined` });
      }, o.splitMs ?? 50);
    }
  };
}

async function drill(c: Controller, cluster: string, params: Record<string, unknown>): Promise<DrillReport> {
  const job = c.drill(cluster, params);
  const done = await waitForState(c, job.id, 'succeeded', 60_000).catch(() => {
    throw new Error(
      `${JSON.stringify(c.store.jobs.get(job.id))}\n${c.store.jobs
        .logs(job.id, 0)
        .map((l) => l.line)
        .join('\n')}`,
    );
  });
  const { report } = c.drillReport(cluster, done.id);
  assert.ok(report, 'the report is stored');
  return report;
}

describe('the drill job', () => {
  let t: TempController;

  before(() => {
    t = openTemp({ drill: deps(() => current) });
  });
  after(() => t.close());

  test('without a failover: the workload runs, the fault is reverted, the run reports no new primary', async () => {
    current = new World(HOSTS);
    const world = current;
    const c = t.controller;
    store(c, spec('nofo'));
    const report = await drill(c, 'nofo', { fault: 'freeze', repeat: 3, rate: 50, timeoutMs: 1500 });
    assert.equal(report.runs.length, 1, 'a run that did not recover ends the drill');
    assert.equal(report.skipped, 2);
    const [run] = report.runs;
    assert.ok(run);
    assert.equal(run.recovered, false);
    assert.equal(run.failedStage, 'failover');
    assert.match(
      run.reason,
      /^no new primary within 1\.5 s of the run's start: the inventory names 10\.77\.9\.11:3306 \(the faulted node\) as primary; no failover\.\* event was recorded$/,
    );
    assert.equal(run.oldPrimary, '10.77.9.11:3306');
    assert.equal(run.faultHost, 'h1');
    assert.equal(run.newPrimary, null);
    assert.ok(
      run.writes.acknowledged >= 25,
      `writes acknowledged before the fault (${run.writes.acknowledged})`,
    );
    assert.ok(run.lastAckBeforeMs !== null && run.lastAckBeforeMs <= 0);
    assert.equal(run.rtoMs, null);
    assert.equal(run.writes.lostAcknowledged, null, 'not measured without a new primary');
    assert.deepEqual(
      run.stages.map((s) => [s.stage, s.ok]),
      [
        ['baseline', true],
        ['fault', true],
        ['failover', false],
        ['revert', true],
      ],
    );
    assert.deepEqual(world.faults, ['freeze h1', 'thaw h1']);
    assert.equal(world.open, 0, 'every connection of the workload and the pollers is closed');
    assert.deepEqual(world.appUsers, ['nines_drill@10.77.9.11']);
    assert.deepEqual(
      run.timeline.map((e) => e.type),
      ['drill.fault', 'drill.reverted'],
      'the timeline has the drill marks and nothing of its own job',
    );
    assert.deepEqual(report.summary.failures, [{ run: 1, stage: 'failover', reason: run.reason }]);
    assert.equal(report.summary.rtoMs.count, 0);
  });

  test('with a failover: RTO, new primary, nothing lost, old primary rejoined; the next run faults the new primary', async () => {
    current = new World(HOSTS);
    const c = t.controller;
    store(c, spec('fo'));
    current.hook = failover(c, 'fo', { afterMs: 300 });
    const report = await drill(c, 'fo', { fault: 'crash', repeat: 2, rate: 50, timeoutMs: 5000 });
    assert.equal(report.runs.length, 2, JSON.stringify(report.summary));
    const [first, second] = report.runs;
    assert.ok(first && second);
    assert.equal(first.recovered, true, first.reason);
    assert.equal(first.newPrimary, '10.77.9.12:3306');
    assert.ok(first.rtoMs !== null && first.rtoMs >= 300 && first.rtoMs < 1500, `RTO ${first.rtoMs}`);
    assert.deepEqual(first.writes.lostAcknowledged, []);
    assert.equal(first.writable.maxWritable, 1);
    assert.deepEqual(first.writable.proven, []);
    assert.equal(first.writable.oldPrimaryAfterRevert, 0);
    assert.deepEqual(
      first.stages.map((s) => s.stage),
      ['baseline', 'fault', 'failover', 'writes', 'revert', 'rejoin', 'verify'],
    );
    assert.ok(first.stages.every((s) => s.ok));
    const types = first.timeline.map((e) => e.type);
    assert.deepEqual(types, ['drill.fault', 'failover.done', 'drill.reverted', 'node.rejoined']);
    assert.equal(second.oldPrimary, '10.77.9.12:3306', 'the second run faults the new primary');
    assert.equal(second.faultHost, 'h2');
    assert.ok(second.writes.firstId > first.writes.lastId, 'ids never repeat across runs');
    assert.deepEqual(current.faults, ['crash h1', 'restart h1', 'crash h2', 'restart h2']);
    assert.equal(report.summary.rtoMs.count, 2);
    assert.equal(report.summary.lostAcknowledged, 0);
    assert.deepEqual(report.summary.failures, []);
    assert.equal(current.open, 0);
  });

  test('a failover that loses acknowledged writes, and an old primary still writable after the revert', async () => {
    current = new World(HOSTS);
    const c = t.controller;
    store(c, spec('lossy'));
    current.hook = failover(c, 'lossy', { afterMs: 200, lose: 2, splitMs: 400 });
    const report = await drill(c, 'lossy', { fault: 'partition', rate: 50, timeoutMs: 5000 });
    const [run] = report.runs;
    assert.ok(run);
    assert.equal(run.writes.lostAcknowledged?.length, 2, run.reason);
    assert.ok(run.writable.maxWritable >= 2, 'two nodes writable at once after the revert');
    assert.ok(run.writable.proven.length >= 1);
    assert.ok(run.writable.oldPrimaryAfterRevert >= 1);
    assert.equal(report.summary.lostAcknowledged, 2);
    assert.deepEqual(current.faults, ['partition h1', 'heal h1']);
  });

  test('a failover whose old primary never rejoins: stage rejoin fails, RTO and lost writes still measured', async () => {
    current = new World(HOSTS);
    const c = t.controller;
    store(c, spec('norejoin'));
    current.hook = failover(c, 'norejoin', { afterMs: 200, rejoin: false });
    const report = await drill(c, 'norejoin', { fault: 'crash', repeat: 2, rate: 50, timeoutMs: 2000 });
    assert.equal(report.runs.length, 1);
    assert.equal(report.skipped, 1);
    const [run] = report.runs;
    assert.ok(run);
    assert.equal(run.failedStage, 'rejoin');
    assert.match(
      run.reason,
      /the old primary 10\.77\.9\.11:3306 was not a replica again within 2\.0 s .*inventory role primary/,
    );
    assert.equal(run.newPrimary, '10.77.9.12:3306');
    assert.ok(run.rtoMs !== null);
    assert.deepEqual(run.writes.lostAcknowledged, [], 'verify ran although rejoin failed');
    assert.deepEqual(
      run.stages.map((x) => [x.stage, x.ok]),
      [
        ['baseline', true],
        ['fault', true],
        ['failover', true],
        ['writes', true],
        ['revert', true],
        ['rejoin', false],
        ['verify', true],
      ],
    );
    assert.equal(report.summary.rtoMs.count, 1);
    assert.deepEqual(
      report.summary.failures.map((f) => f.stage),
      ['rejoin'],
    );
    assert.equal(current.open, 0);
  });

  test('the baseline waits for the live failover plan; a plan that stays "no" fails the baseline with its reason', async () => {
    current = new World(HOSTS);
    const c = t.controller;
    store(c, spec('plan'));
    current.hook = failover(c, 'plan', { afterMs: 100 });
    current.readiness = { ready: false, reason: 'if the primary fails now: no failover (h2 lagging)' };
    const world = current;
    setTimeout(() => {
      world.readiness = { ready: true, reason: 'if the primary fails now: promote h2' };
    }, 500);
    const report = await drill(c, 'plan', { fault: 'crash', rate: 50, timeoutMs: 5000 });
    const [run] = report.runs;
    assert.ok(run);
    assert.equal(run.recovered, true, run.reason);
    const baseline = run.stages[0];
    assert.ok(baseline && baseline.ms >= 400, `the baseline waited for the plan (${baseline?.ms} ms)`);
    assert.match(baseline.detail, /if the primary fails now: promote h2$/);

    current = new World(HOSTS);
    store(c, spec('noplan'));
    current.readiness = { ready: false, reason: 'in the failover cooldown until 2026-12-04T21:00:00.000Z' };
    const refused = await drill(c, 'noplan', { fault: 'crash', rate: 50, timeoutMs: 10_000 });
    const [never] = refused.runs;
    assert.ok(never);
    assert.equal(never.failedStage, 'baseline');
    assert.match(
      never.reason,
      /^the cluster was not ready to drill within 3\.0 s: the controller would not fail over now: in the failover cooldown until /,
    );
    assert.deepEqual(current.faults, [], 'no fault injected');
  });

  test('cancelled mid-run: the fault is reverted and the workload stopped', async () => {
    current = new World(HOSTS);
    const c = t.controller;
    store(c, spec('cancel'));
    const job = c.drill('cancel', { fault: 'poweroff', rate: 50, timeoutMs: 30_000 });
    await waitForCondition(() => current.faults.length === 1);
    c.jobs.cancel(job.id);
    await waitForState(c, job.id, 'cancelled', 10_000);
    assert.deepEqual(current.faults, ['poweroff h1', 'restart h1']);
    assert.equal(current.open, 0);
    assert.equal(c.drillReport('cancel', job.id).report, null);
  });

  test('refusals: outside the lab, no single primary, no endpoint, a second drill', async () => {
    current = new World(HOSTS);
    const c = t.controller;
    store(c, spec('away', 'mariadb-replication', ['10.99.0.11', '10.99.0.12']));
    assert.throws(
      () => c.drill('away', { fault: 'crash' }),
      (e) =>
        isNinesError(e, 'NINES_E_DRILL_NOT_LAB') &&
        /10\.99\.0\.11, 10\.99\.0\.12 are not hosts of a lab/.test(e.message),
    );
    store(c, spec('gal', 'galera'));
    assert.throws(
      () => c.drill('gal', { fault: 'crash' }),
      (e) => isNinesError(e, 'NINES_E_DRILL_UNSUPPORTED'),
    );
    c.store.inventory.createCluster(validateSpec({ ...spec('noep'), endpoint: undefined }).spec, 'healthy');
    assert.throws(
      () => c.drill('noep', { fault: 'crash' }),
      (e) => isNinesError(e, 'NINES_E_DRILL_UNSUPPORTED') && /no endpoint/.test(e.message),
    );
    assert.throws(
      () => c.drill('nope', { fault: 'crash' }),
      (e) => isNinesError(e, 'NINES_E_CLUSTER_NOT_FOUND'),
    );
    store(c, spec('busy'));
    const first = c.drill('busy', { fault: 'freeze', timeoutMs: 1000, rate: 50 });
    assert.throws(
      () => c.drill('busy', { fault: 'crash' }),
      (e) => isNinesError(e, 'NINES_E_DRILL_BUSY') && e.message.includes(`job ${first.id}`),
    );
    await waitForState(c, first.id, 'succeeded', 30_000);
    assert.equal(current.faults.length, 2);
  });

  test('the API: POST /clusters/:name/drill (operator) and GET /clusters/:name/drill/:id', async () => {
    current = new World(HOSTS);
    const c = t.controller;
    store(c, spec('api'));
    const app: FastifyInstance = buildApp(c);
    try {
      await app.ready();
      const admin = readFileSync(join(t.dir, 'data', 'admin.token'), 'utf8').trim();
      const viewer = c.store.tokens.create('v', 'viewer').token;
      const post = (token: string, body: unknown, name = 'api') =>
        app.inject({
          method: 'POST',
          url: `/api/v1/clusters/${name}/drill`,
          headers: { authorization: `Bearer ${token}` },
          payload: body as Record<string, unknown>,
        });
      assert.equal((await post(viewer, { fault: 'crash' })).statusCode, 403);
      const bad = await post(admin, { fault: 'meteor' });
      assert.equal(bad.statusCode, 400);
      assert.match(bad.json<{ message: string }>().message, /body\.fault: expected one of/);
      const away = await post(admin, { fault: 'crash' }, 'away');
      assert.equal(away.statusCode, 409);
      assert.equal(away.json<{ code: string }>().code, 'NINES_E_DRILL_NOT_LAB');
      const ok = await post(admin, { fault: 'freeze', rate: 50, timeoutMs: 1000 });
      assert.equal(ok.statusCode, 202, ok.body);
      const { job } = ok.json<{ job: { id: number; type: string } }>();
      assert.equal(job.type, 'drill.failover');
      await waitForState(c, job.id, 'succeeded', 30_000);
      const get = await app.inject({
        method: 'GET',
        url: `/api/v1/clusters/api/drill/${job.id}`,
        headers: { authorization: `Bearer ${viewer}` },
      });
      assert.equal(get.statusCode, 200, get.body);
      const body = get.json<{ report: DrillReport }>();
      assert.equal(body.report.runs[0]?.failedStage, 'failover');
      const wrong = await app.inject({
        method: 'GET',
        url: `/api/v1/clusters/other/drill/${job.id}`,
        headers: { authorization: `Bearer ${viewer}` },
      });
      assert.equal(wrong.statusCode, 404);
      const doc = (await app.inject({ method: 'GET', url: '/api/v1/openapi.json' })).json<{
        paths: Record<string, Record<string, { 'x-nines-role': string }>>;
      }>();
      assert.equal(doc.paths['/api/v1/clusters/{name}/drill']?.post?.['x-nines-role'], 'operator');
    } finally {
      await app.close();
    }
  });
});

async function waitForCondition(fn: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}
