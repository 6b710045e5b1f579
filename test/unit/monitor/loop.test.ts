// The monitor loop's scheduling with fake probes: ticks never overlap, a probe never runs twice at once on a node,
// a hung probe does not delay the other nodes, and neither a throwing probe nor a throwing handler stops the loop.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { ClusterMonitor } from '../../../src/controller/monitor/cluster-monitor.ts';
import {
  DEFAULT_THRESHOLDS,
  type ClusterSnapshot,
  type NodeObservation,
} from '../../../src/core/monitor/observation.ts';
import type { NodeProbe } from '../../../src/engines/engine.ts';

// Time is fake (node:test mock timers: setTimeout and Date): every figure below is exact, whatever the load of
// the machine. advance() moves the clock in small steps and lets the promises of each step settle.
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const settle = async (): Promise<void> => {
  for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
};
async function advance(t: TestContext, ms: number, step = 10): Promise<void> {
  for (let elapsed = 0; elapsed < ms; elapsed += step) {
    t.mock.timers.tick(step);
    await settle();
  }
}
/** stop() waits for the running tick, which may wait on (fake) timers. */
async function stop(t: TestContext, m: ClusterMonitor): Promise<void> {
  let done = false;
  const stopping = m.stop().then(() => (done = true));
  for (let i = 0; i < 100 && !done; i++) await advance(t, 10);
  await stopping;
}
const fakeTime = (t: TestContext): void =>
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 });
const ok = (role: NodeObservation['role'] = 'primary'): NodeObservation => ({
  time: Date.now(),
  reachable: true,
  role,
});

interface FakeProbe extends NodeProbe {
  calls: number;
  maxConcurrent: number;
  closed: boolean;
}

function fakeProbe(behaviour: (signal?: AbortSignal) => Promise<NodeObservation>): FakeProbe {
  let running = 0;
  const p: FakeProbe = {
    calls: 0,
    maxConcurrent: 0,
    closed: false,
    async observe(signal) {
      p.calls++;
      running++;
      p.maxConcurrent = Math.max(p.maxConcurrent, running);
      try {
        return await behaviour(signal);
      } finally {
        running--;
      }
    },
    close() {
      p.closed = true;
      return Promise.resolve();
    },
  };
  return p;
}

function monitor(
  probes: Record<string, FakeProbe>,
  onSnapshot: (s: ClusterSnapshot) => void | Promise<void>,
  opts: { intervalMs?: number; probeTimeoutMs?: number } = {},
): ClusterMonitor {
  const nodes = Object.keys(probes).map((host) => ({ host, port: 3306 }));
  return new ClusterMonitor({
    cluster: 'c1',
    type: 'mariadb-replication',
    nodes,
    expectedNodes: nodes.length,
    openProbe: (n) => probes[n.host] as FakeProbe,
    intervalMs: opts.intervalMs ?? 60,
    probeTimeoutMs: opts.probeTimeoutMs ?? 40,
    context: () => ({ thresholds: DEFAULT_THRESHOLDS, nodeMaintenance: new Map() }),
    onSnapshot,
  });
}

test('ticks never overlap and a slow probe never runs twice at once', async (t) => {
  fakeTime(t);
  const slow = fakeProbe(() => sleep(150).then(() => ok('replica')));
  const fast = fakeProbe(() => Promise.resolve(ok()));
  let inHandler = 0;
  let maxInHandler = 0;
  const snaps: ClusterSnapshot[] = [];
  const m = monitor({ h1: fast, h2: slow }, async (s) => {
    inHandler++;
    maxInHandler = Math.max(maxInHandler, inHandler);
    snaps.push(s);
    await sleep(30); // a slow handler must not overlap the next tick either
    inHandler--;
  });
  m.start();
  await advance(t, 700);
  await stop(t, m);
  assert.equal(maxInHandler, 1);
  assert.equal(slow.maxConcurrent, 1, 'the slow probe was never started again while running');
  assert.ok(snaps.length >= 6, `${snaps.length} ticks`);
  const h2 = snaps.map((s) => s.nodes[1]?.observation?.error?.code);
  assert.ok(
    h2.includes('NINES_E_MONITOR_PROBE_TIMEOUT'),
    'the slow node counts as failed in ticks it misses',
  );
  assert.ok(slow.closed && fast.closed, 'probes closed on stop');
  for (const s of snaps) assert.ok(Object.isFrozen(s) && Object.isFrozen(s.nodes[0]), 'snapshots are frozen');
});

test('a hung node does not delay the others: their observation times advance every interval', async (t) => {
  fakeTime(t);
  const hung = fakeProbe(() => new Promise(() => undefined)); // ignores the abort signal
  const a = fakeProbe(() => Promise.resolve(ok()));
  const b = fakeProbe(() => Promise.resolve(ok('replica')));
  const snaps: ClusterSnapshot[] = [];
  const m = monitor({ h1: a, h2: b, h3: hung }, (s) => void snaps.push(s), {
    intervalMs: 100,
    probeTimeoutMs: 60,
  });
  m.start();
  await advance(t, 1050);
  await stop(t, m);
  assert.equal(snaps.length, 11, 'a tick at 0, 100, ... 1000 ms');
  const times = snaps.map((s) => s.nodes[0]?.observation?.time ?? 0);
  const gaps = times.slice(1).map((time, i) => time - (times[i] as number));
  assert.deepEqual(gaps, Array(10).fill(100), 'h1 is observed every 100 ms while h3 hangs');
  assert.equal(hung.calls, 1, 'the hung probe is not started again while it hangs');
  const last = snaps.at(-1)?.nodes[2];
  assert.equal(last?.observation?.reachable, false);
  assert.ok((last?.consecutiveFailures ?? 0) >= 8);
  assert.match(last?.observation?.error?.message ?? '', /still running|within 60 ms/);
});

test('the loop survives a throwing probe and a throwing handler', async (t) => {
  fakeTime(t);
  let n = 0;
  const flaky = fakeProbe(() => {
    n++;
    if (n % 2 === 0) throw new Error('boom');
    return Promise.resolve(ok());
  });
  // Collected here and asserted after the loop: an assertion inside the handler would be swallowed by tick().
  const seen: ClusterSnapshot[] = [];
  const m = monitor({ h1: flaky }, (s) => {
    seen.push(s);
    if (seen.length === 2) throw new Error('handler failed');
  });
  m.start();
  await advance(t, 500);
  await stop(t, m);
  assert.equal(seen.length, 9, 'a tick every 60 ms in 500 ms, on after the handler threw in the 2nd');
  const observations = seen.map((s) => s.nodes[0]?.observation);
  assert.deepEqual(
    observations.map((o) => o?.reachable),
    [true, false, true, false, true, false, true, false, true],
    'every tick has an observation: the even probes threw',
  );
  assert.deepEqual(observations[1]?.error, { code: 'NINES_E_INTERNAL', message: 'boom' });
  assert.equal(m.snapshot, seen.at(-1));
});

test('consecutive failures make pending then down, a success resets the count', async (t) => {
  fakeTime(t);
  let up = true;
  const p = fakeProbe(() =>
    up
      ? Promise.resolve(ok())
      : Promise.resolve({
          time: Date.now(),
          reachable: false,
          role: 'unknown' as const,
          error: { code: 'NINES_E_DB_UNREACHABLE', message: 'ECONNREFUSED' },
        }),
  );
  const failures: number[] = [];
  const m = monitor({ h1: p }, (s) => void failures.push(s.nodes[0]?.consecutiveFailures ?? -1), {
    intervalMs: 40,
    probeTimeoutMs: 30,
  });
  m.start();
  await advance(t, 100);
  up = false;
  await advance(t, 200);
  up = true;
  await advance(t, 100);
  await stop(t, m);
  assert.deepEqual(failures, [0, 0, 0, 1, 2, 3, 4, 5, 0, 0], 'a tick every 40 ms: 3 up, 5 down, 2 up');
  assert.equal(m.snapshot?.nodes[0]?.lastGood?.reachable, true);
});
