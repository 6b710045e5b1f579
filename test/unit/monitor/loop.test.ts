// The monitor loop's scheduling with fake probes: ticks never overlap, a probe never runs twice at once on a node,
// a hung probe does not delay the other nodes, and neither a throwing probe nor a throwing handler stops the loop.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClusterMonitor } from '../../../src/controller/monitor/cluster-monitor.ts';
import {
  DEFAULT_THRESHOLDS,
  type ClusterSnapshot,
  type NodeObservation,
} from '../../../src/core/monitor-observation.ts';
import type { NodeProbe } from '../../../src/engines/engine.ts';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
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

test('ticks never overlap and a slow probe never runs twice at once', async () => {
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
  await sleep(700);
  await m.stop();
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

test('a hung node does not delay the others: their observation times advance every interval', async () => {
  const hung = fakeProbe(() => new Promise(() => undefined)); // ignores the abort signal
  const a = fakeProbe(() => Promise.resolve(ok()));
  const b = fakeProbe(() => Promise.resolve(ok('replica')));
  const snaps: ClusterSnapshot[] = [];
  const m = monitor({ h1: a, h2: b, h3: hung }, (s) => void snaps.push(s), {
    intervalMs: 100,
    probeTimeoutMs: 60,
  });
  m.start();
  await sleep(1050);
  await m.stop();
  assert.ok(snaps.length >= 9, `${snaps.length} ticks in ~1 s at 100 ms`);
  const times = snaps.map((s) => s.nodes[0]?.observation?.time ?? 0);
  const gaps = times.slice(1).map((t, i) => t - (times[i] as number));
  assert.ok(Math.max(...gaps) < 180, `gaps between observations of h1: ${gaps.join(',')}`);
  assert.equal(hung.calls, 1, 'the hung probe is not started again while it hangs');
  const last = snaps.at(-1)?.nodes[2];
  assert.equal(last?.observation?.reachable, false);
  assert.ok((last?.consecutiveFailures ?? 0) >= 8);
  assert.match(last?.observation?.error?.message ?? '', /still running|within 60 ms/);
});

test('the loop survives a throwing probe and a throwing handler', async () => {
  let n = 0;
  const flaky = fakeProbe(() => {
    n++;
    if (n % 2 === 0) throw new Error('boom');
    return Promise.resolve(ok());
  });
  let ticks = 0;
  const m = monitor({ h1: flaky }, (s) => {
    ticks++;
    if (ticks === 2) throw new Error('handler failed');
    assert.ok(s.nodes[0]?.observation);
  });
  m.start();
  await sleep(500);
  await m.stop();
  assert.ok(ticks >= 5, `${ticks} ticks`);
  const failed = m.snapshot?.nodes[0];
  assert.ok(failed);
});

test('consecutive failures make pending then down, a success resets the count', async () => {
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
  await sleep(100);
  up = false;
  await sleep(200);
  up = true;
  await sleep(100);
  await m.stop();
  assert.ok(Math.max(...failures) >= 3);
  assert.equal(failures.at(-1), 0);
  assert.equal(m.snapshot?.nodes[0]?.lastGood?.reachable, true);
});
