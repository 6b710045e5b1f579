// The failover state machine (src/controller/recovery/failover-executor.ts) over a real SQLite store with a
// scripted engine: the order of the verbs, what is stored after each phase, refusal before anything changes,
// abort before promotion and forward-only after it, and a resume from every phase that repeats no completed step.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateSpec, type ClusterSpec, type NodeSpec } from '../../../src/core/spec.ts';
import type { NodeObservation } from '../../../src/core/monitor/observation.ts';
import type { FailoverPhase } from '../../../src/core/recovery/phases.ts';
import type {
  AckState,
  Engine,
  ReplicationPosition,
  ReplicationRecovery,
  Topology,
} from '../../../src/engines/engine.ts';
import { EventBus } from '../../../src/controller/events.ts';
import { createLogger } from '../../../src/controller/logger.ts';
import { FailoverExecutor, type ExecutorDeps } from '../../../src/controller/recovery/failover-executor.ts';
import { RecoveryRepo, type FailoverRecord } from '../../../src/controller/recovery/recovery-repo.ts';
import { openStore, type Store } from '../../../src/controller/store/store.ts';

const dirs: string[] = [];
const stores: Store[] = [];
after(() => {
  for (const s of stores) s.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const H1 = '10.0.0.1:3306';
const H2 = '10.0.0.2:3306';
const H3 = '10.0.0.3:3306';

function spec(): ClusterSpec {
  return validateSpec({
    name: 'fo',
    type: 'mariadb-replication',
    nodes: [{ host: '10.0.0.1', role: 'primary' }, { host: '10.0.0.2' }, { host: '10.0.0.3', priority: 50 }],
    ssh: { key: 'k' },
    credentials: { admin: 'a-secret-1', replication: 'r-secret-1', monitor: 'm-secret-1' },
    options: { semiSync: true },
    endpoint: { proxies: ['10.0.0.9'] },
  }).spec;
}

interface Scripted {
  /** received position per node (bigint), reachable when present. */
  received: Map<string, bigint>;
  mode: AckState['mode'];
  ackSet: string[];
  calls: string[];
  fenceOk: boolean;
  /** verb name -> errors to throw on its next calls */
  failures: Map<string, Error[]>;
}

const key = (n: Pick<NodeSpec, 'host' | 'port'>): string => `${n.host}:${n.port}`;

function position(s: Scripted, node: string): ReplicationPosition {
  const r = s.received.get(node);
  return {
    node,
    reachable: r !== undefined,
    role: 'replica',
    readOnly: true,
    received: r ?? null,
    applied: r ?? null,
    receivedText: r === undefined ? null : `0-1-${r}`,
    appliedText: r === undefined ? null : `0-1-${r}`,
    label: r === undefined ? 'unreachable' : `GTID 0-1-${r}`,
    applyBacklogSeconds: r === undefined ? null : 0,
    applyError: null,
    source: H1,
    linkUp: false,
  };
}

function scriptedRecovery(s: Scripted): ReplicationRecovery {
  const verb = (name: string): void => {
    s.calls.push(name);
    const e = s.failures.get(name.split(' ')[0] as string)?.shift();
    if (e) throw e;
  };
  return {
    observedPosition: (node) => position(s, node),
    ackState: () => ({
      mode: s.mode,
      ackSet: new Set(s.ackSet),
      unit: 'transactions',
      ackName: 'semi-sync',
      primaryPosition: 100n,
      primaryPositionText: '0-1-100',
    }),
    errantTransactions: () => 0,
    portCheck: () => Promise.resolve('down'),
    readPosition: async (_ctx, n) => {
      await Promise.resolve();
      s.calls.push(`readPosition ${key(n)}`);
      return position(s, key(n));
    },
    fence: async (_ctx, n) => {
      await Promise.resolve();
      verb(`fence ${key(n)}`);
      return { fenced: s.fenceOk, how: s.fenceOk ? 'read_only=ON' : 'unreachable: connect timeout' };
    },
    waitApplied: async (_ctx, n) => {
      await Promise.resolve();
      verb(`waitApplied ${key(n)}`);
      return position(s, key(n));
    },
    promote: async (_ctx, n, followers) => {
      await Promise.resolve();
      verb(`promote ${key(n)} [${followers.map(key).join(',')}]`);
      return { ...position(s, key(n)), role: 'primary', readOnly: false };
    },
    repoint: async (_ctx, n, p) => {
      await Promise.resolve();
      verb(`repoint ${key(n)}->${key(p)}`);
    },
    demote: async (_ctx, n) => {
      await Promise.resolve();
      verb(`demote ${key(n)}`);
      return { ...position(s, key(n)), receivedText: '0-1-120', appliedText: '0-1-120' };
    },
    waitPosition: async (_ctx, n, pos) => {
      await Promise.resolve();
      verb(`waitPosition ${key(n)} ${pos}`);
      return position(s, key(n));
    },
    rejoin: async (_ctx, n, p) => {
      await Promise.resolve();
      verb(`rejoin ${key(n)}->${key(p)}`);
      return { action: 'rejoined', reason: 'contained' };
    },
    rebuild: () => Promise.resolve(),
  };
}

function setup(over: Partial<Scripted> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'nines-exec-'));
  dirs.push(dir);
  const store = openStore(dir);
  stores.push(store);
  const sp = spec();
  store.inventory.createCluster(sp, 'healthy');
  store.inventory.updateNode('fo', sp.nodes[0] as NodeSpec, { role: 'primary' });
  const logger = createLogger('silent');
  const events = new EventBus(store.events, logger);
  const repo = new RecoveryRepo(store.db);
  const s: Scripted = {
    received: new Map([
      [H2, 100n],
      [H3, 99n],
    ]),
    mode: 'synchronous',
    ackSet: [H2, H3],
    calls: [],
    fenceOk: true,
    failures: new Map(),
    ...over,
  };
  const topologies: Topology[] = [];
  let clock = 1_000_000;
  const deps = (): ExecutorDeps => ({
    repo,
    inventory: store.inventory,
    events,
    logger,
    engine: {} as Engine,
    recovery: scriptedRecovery(s),
    spec: sp,
    hosts: { executor: () => assert.fail('no host access expected') },
    timeouts: { positionMs: 100, fenceMs: 100, catchUpMs: 1000, verbMs: 1000 },
    observations: new Map<string, NodeObservation | undefined>(),
    excluded: new Map(),
    updateEndpoint: async (_ctx, topology) => {
      await Promise.resolve();
      s.calls.push('endpoint');
      const e = s.failures.get('endpoint')?.shift();
      if (e) throw e;
      topologies.push(topology);
      return { view: { writer: H2, servers: [], reason: 'test' }, proxies: [] };
    },
    cutWriter: async (server) => {
      await Promise.resolve();
      s.calls.push(`cut ${server}`);
      return [];
    },
    signal: new AbortController().signal,
    now: () => (clock += 10),
  });
  const create = (kind: 'failover' | 'switchover' = 'failover', forced = false): FailoverRecord =>
    repo.createFailover({
      cluster: 'fo',
      kind,
      trigger: 'automatic',
      oldPrimary: H1,
      forced,
      reason: 'primary down: test',
      now: clock,
    });
  const types = (): string[] => store.events.list({ cluster: 'fo' }).map((e) => e.type);
  return { store, repo, s, deps, create, topologies, types };
}

test('failover: candidate chosen and proven first, then fence, catch up, promote, repoint, endpoint, done', async () => {
  const t = setup();
  const final = await new FailoverExecutor(t.deps(), t.create()).run();
  assert.equal(final.phase, 'done');
  assert.equal(final.candidate, H2);
  assert.deepEqual(t.s.calls, [
    `readPosition ${H2}`,
    `readPosition ${H3}`,
    `cut ${H1}`,
    `fence ${H1}`,
    `waitApplied ${H2}`,
    `readPosition ${H3}`,
    `promote ${H2} [${H3}]`,
    `repoint ${H3}->${H2}`,
    'endpoint',
  ]);
  assert.deepEqual(
    t.topologies[0]?.nodes.map((n) => `${n.host}:${n.port} ${n.role}`),
    [`${H1} unknown`, `${H2} primary`, `${H3} replica`],
  );
  const roles = Object.fromEntries(
    t.store.inventory.listNodes('fo').map((n) => [`${n.host}:${n.port}`, n.role]),
  );
  assert.deepEqual(roles, { [H1]: null, [H2]: 'primary', [H3]: 'replica' });
  assert.equal(t.repo.nodeState('fo', H1)?.state, 'fenced');
  assert.match(String((final.data.rpo as { reason: string }).reason), /holds every acknowledged commit/);
  assert.ok(t.types().includes('failover.done'));
  assert.deepEqual(
    t.types().filter((x) => x === 'failover.phase').length,
    5,
    'one event per phase: fenced, caught-up, promoted, repointed, endpoint-switched (done is failover.done)',
  );
});

test('failover: the candidate stops receiving while the old primary is fenced (before its catch-up); a failure there is logged, not fatal; a switchover does not', async () => {
  const withStop = (t: ReturnType<typeof setup>, fail: boolean): ExecutorDeps => {
    const d = t.deps();
    const recovery: ReplicationRecovery = {
      ...d.recovery,
      stopReceiving: async (_ctx, n) => {
        await Promise.resolve();
        t.s.calls.push(`stopReceiving ${key(n)}`);
        if (fail) throw new Error('connect timeout');
      },
    };
    return { ...d, recovery };
  };
  const t = setup();
  const final = await new FailoverExecutor(withStop(t, false), t.create()).run();
  assert.equal(final.phase, 'done');
  const at = (c: string): number => t.s.calls.indexOf(c);
  assert.ok(at(`stopReceiving ${H2}`) > at(`readPosition ${H3}`), t.s.calls.join(', '));
  assert.ok(at(`stopReceiving ${H2}`) < at(`waitApplied ${H2}`), t.s.calls.join(', '));
  assert.ok(at(`stopReceiving ${H3}`) < at(`waitApplied ${H2}`), t.s.calls.join(', '));
  assert.equal(t.s.calls.filter((c) => c.startsWith('stopReceiving')).length, 2);

  const f = setup();
  const failed = await new FailoverExecutor(withStop(f, true), f.create()).run();
  assert.equal(failed.phase, 'done');
  assert.ok(
    failed.log.some((l) =>
      /could not stop receiving early \(.*connect timeout\); promote or repoint does it/.test(l.line),
    ),
  );

  const sw = setup();
  await new FailoverExecutor(withStop(sw, false), sw.create('switchover')).run();
  assert.ok(!sw.s.calls.some((c) => c.startsWith('stopReceiving')), sw.s.calls.join(', '));
});

test("failover: the old primary's armed fence is fired first, before the cut and the fence; a switchover fires none", async () => {
  const withArmed = (t: ReturnType<typeof setup>): ExecutorDeps => ({
    ...t.deps(),
    fireArmedFence: (n) => t.s.calls.push(`armed ${key(n)}`),
  });
  const t = setup();
  const final = await new FailoverExecutor(withArmed(t), t.create()).run();
  assert.equal(final.phase, 'done');
  const at = (c: string): number => t.s.calls.indexOf(c);
  assert.equal(t.s.calls.filter((c) => c.startsWith('armed')).length, 1, t.s.calls.join(', '));
  assert.ok(at(`armed ${H1}`) >= 0 && at(`armed ${H1}`) < at(`cut ${H1}`), t.s.calls.join(', '));
  assert.ok(at(`armed ${H1}`) < at(`fence ${H1}`), t.s.calls.join(', '));

  const sw = setup();
  await new FailoverExecutor(withArmed(sw), sw.create('switchover')).run();
  assert.ok(!sw.s.calls.some((c) => c.startsWith('armed')), sw.s.calls.join(', '));
});

test('RPO refusal: an acknowledging replica cannot be read -> aborted before anything is changed', async () => {
  const t = setup({ received: new Map([[H2, 100n]]) }); // H3 (in the ack set) unreachable
  const final = await new FailoverExecutor(t.deps(), t.create()).run();
  assert.equal(final.phase, 'aborted');
  assert.equal(final.error?.code, 'NINES_E_FAILOVER_REFUSED');
  assert.match(final.error?.message ?? '', /10\.0\.0\.3:3306 acknowledged commits and cannot be read now/);
  assert.deepEqual(t.s.calls, [`readPosition ${H2}`, `readPosition ${H3}`], 'no fence, no promotion');
  assert.equal(t.repo.nodeState('fo', H1), undefined);
  assert.ok(t.types().includes('failover.refused'));
});

test('degraded semi-sync (fell back to async): refused; --force promotes and reports the loss bound', async () => {
  const t = setup({
    mode: 'degraded',
    received: new Map([
      [H2, 90n],
      [H3, 80n],
    ]),
  });
  const refused = await new FailoverExecutor(t.deps(), t.create()).run();
  assert.equal(refused.phase, 'aborted');
  assert.match(refused.error?.message ?? '', /fallen back to asynchronous/);
  const forced = await new FailoverExecutor(t.deps(), t.create('failover', true)).run();
  assert.equal(forced.phase, 'done');
  assert.match(
    String((forced.data.rpo as { reason: string }).reason),
    /forced .* at least 10 transactions may be lost/,
  );
});

test('unfenceable old primary: the failover goes on (detection proved nobody reaches it) and it stays marked fenced', async () => {
  const t = setup({ fenceOk: false });
  const final = await new FailoverExecutor(t.deps(), t.create()).run();
  assert.equal(final.phase, 'done');
  assert.equal(t.repo.nodeState('fo', H1)?.state, 'fenced');
  assert.ok(final.log.some((l) => /not reachable to fence .*marked fenced/.test(l.line)));
});

test('a step failing before promotion aborts; after promotion it is retried forward until done', async () => {
  const before = setup({ failures: new Map([['waitApplied', [new Error('relay log stuck')]]]) });
  const aborted = await new FailoverExecutor(before.deps(), before.create()).run();
  assert.equal(aborted.phase, 'aborted');
  assert.ok(!before.s.calls.some((c) => c.startsWith('promote')));

  const afterPromotion = setup({ failures: new Map([['endpoint', [new Error('proxy busy')]]]) });
  const done = await new FailoverExecutor(afterPromotion.deps(), afterPromotion.create()).run();
  assert.equal(done.phase, 'done');
  assert.equal(afterPromotion.s.calls.filter((c) => c === 'endpoint').length, 2, 'retried once');
  assert.equal(
    afterPromotion.s.calls.filter((c) => c.startsWith('promote')).length,
    1,
    'never promoted twice',
  );
  assert.ok(afterPromotion.types().includes('failover.retry'));
});

test('a replica that cannot be repointed does not hold the failover: recorded, left out of the endpoint', async () => {
  const t = setup({ failures: new Map([['repoint', [new Error('replica busy')]]]) });
  const done = await new FailoverExecutor(t.deps(), t.create()).run();
  assert.equal(done.phase, 'done');
  assert.deepEqual(done.data.repointed, []);
  assert.match(String((done.data.notRepointed as string[])[0]), /10\.0\.0\.3:3306 \(.*replica busy\)/);
  assert.equal(t.topologies[0]?.nodes.find((n) => n.host === '10.0.0.3')?.role, 'unknown');
});

const RESUME_FROM: readonly [FailoverPhase, readonly string[]][] = [
  [
    'fenced',
    [`waitApplied ${H2}`, `readPosition ${H3}`, `promote ${H2} [${H3}]`, `repoint ${H3}->${H2}`, 'endpoint'],
  ],
  ['caught-up', [`readPosition ${H3}`, `promote ${H2} [${H3}]`, `repoint ${H3}->${H2}`, 'endpoint']],
  ['promoted', [`repoint ${H3}->${H2}`, 'endpoint']],
  ['repointed', ['endpoint']],
  ['endpoint-switched', []],
];

test('resume after a controller restart in each phase: only the steps after it run', async () => {
  for (const [phase, expected] of RESUME_FROM) {
    const t = setup();
    let r = t.create();
    t.repo.update(r.id, 1, { candidate: H2, data: { repointed: [H3] } });
    const order: FailoverPhase[] = ['fenced', 'caught-up', 'promoted', 'repointed', 'endpoint-switched'];
    for (const p of order.slice(0, order.indexOf(phase) + 1)) r = t.repo.advance(r.id, p, 2);
    const final = await new FailoverExecutor(t.deps(), r).run();
    assert.equal(final.phase, 'done', phase);
    assert.deepEqual(t.s.calls, expected, `resumed after ${phase}`);
  }
});

test('switchover: demote (not fence), wait for the final position, promote, repoint, endpoint, the old primary follows', async () => {
  const t = setup();
  const final = await new FailoverExecutor(t.deps(), t.create('switchover')).run();
  assert.equal(final.phase, 'done');
  assert.deepEqual(t.s.calls, [
    `readPosition ${H2}`,
    `readPosition ${H3}`,
    `readPosition ${H1}`,
    `cut ${H1}`,
    `demote ${H1}`,
    `waitPosition ${H2} 0-1-120`,
    `readPosition ${H3}`,
    `promote ${H2} [${H3}]`,
    `repoint ${H3}->${H2}`,
    'endpoint',
    `rejoin ${H1}->${H2}`,
  ]);
  assert.equal(t.repo.nodeState('fo', H1), undefined, 'the old primary replicates again: not fenced');
  const roles = Object.fromEntries(
    t.store.inventory.listNodes('fo').map((n) => [`${n.host}:${n.port}`, n.role]),
  );
  assert.equal(roles[H1], 'replica');
});

test('illegal transitions are refused by the store (a bug, never silently accepted)', () => {
  const t = setup();
  const r = t.create();
  assert.throws(() => t.repo.advance(r.id, 'promoted', 1), /detected -> promoted is not a legal transition/);
  const p = ['fenced', 'caught-up', 'promoted'] as const;
  for (const x of p) t.repo.advance(r.id, x, 1);
  assert.throws(() => t.repo.advance(r.id, 'aborted', 1), /promoted -> aborted/);
});
