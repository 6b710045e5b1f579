// The shared probe session with fake connections: lazy connect, reuse, reconnect after a break, the deadline
// (connect included), a late connect closed, never a throw, abort and close.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NinesError } from '../../../src/core/errors.ts';
import { createProbeSession, type ProbeReading } from '../../../src/engines/probe-session.ts';

/** Polls a condition every 5 ms for up to 2 s (never a fixed sleep before an assertion). */
async function waitUntil(what: string, fn: () => boolean): Promise<void> {
  const deadline = Date.now() + 2000;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

interface FakeConn {
  id: number;
  usable: boolean;
  closed: boolean;
  close(): Promise<void>;
}

function fakes(behaviour: { connectMs?: number; readMs?: number; connectError?: Error } = {}) {
  const conns: FakeConn[] = [];
  let readMs = behaviour.readMs ?? 0;
  const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
  const probe = createProbeSession<FakeConn>({
    address: 'db1:3306',
    timeoutMs: 100,
    async connect() {
      await sleep(behaviour.connectMs ?? 0);
      if (behaviour.connectError) throw behaviour.connectError;
      const c: FakeConn = {
        id: conns.length + 1,
        usable: true,
        closed: false,
        close() {
          c.closed = true;
          c.usable = false;
          return Promise.resolve();
        },
      };
      conns.push(c);
      return c;
    },
    usable: (c) => c.usable,
    async read(c): Promise<ProbeReading> {
      await sleep(readMs);
      return { reachable: true, role: 'primary', connections: c.id };
    },
  });
  return { probe, conns, setReadMs: (ms: number) => (readMs = ms) };
}

test('connects lazily, once, and reuses the connection', async () => {
  const { probe, conns } = fakes();
  assert.equal(conns.length, 0);
  const a = await probe.observe();
  const b = await probe.observe();
  assert.equal(conns.length, 1);
  assert.equal(a.reachable, true);
  assert.equal(b.connections, 1);
  assert.ok(typeof a.time === 'number' && typeof a.probeMs === 'number');
});

test('reconnects when the connection broke', async () => {
  const { probe, conns } = fakes();
  await probe.observe();
  const first = conns[0];
  assert.ok(first);
  first.usable = false;
  const o = await probe.observe();
  assert.equal(o.connections, 2);
  assert.equal(first.closed, true, 'the broken connection is closed');
});

test('a slow answer gives unreachable at the deadline and a new connection next time', async () => {
  const { probe, conns, setReadMs } = fakes({ readMs: 500 });
  const started = performance.now();
  const o = await probe.observe();
  assert.ok(performance.now() - started < 300);
  assert.equal(o.reachable, false);
  assert.equal(o.role, 'unknown');
  assert.equal(o.error?.code, 'NINES_E_DB_UNREACHABLE');
  assert.match(o.error.message, /db1:3306: no answer within 100 ms/);
  assert.equal(conns[0]?.closed, true);
  setReadMs(0);
  const again = await probe.observe();
  assert.equal(again.reachable, true);
  assert.equal(again.connections, 2);
});

test('a connect that finishes after the deadline is closed, not kept', async () => {
  const { probe, conns } = fakes({ connectMs: 200 });
  const o = await probe.observe();
  assert.equal(o.reachable, false);
  await waitUntil('the late connection closed', () => conns[0]?.closed === true);
  assert.equal(conns.length, 1);
});

test('a connect error becomes the observation error; never a throw', async () => {
  const err = new NinesError('NINES_E_DB_AUTH', 'nines_monitor@db1:3306: Access denied');
  const { probe } = fakes({ connectError: err });
  const o = await probe.observe();
  assert.deepEqual(o.error, { code: 'NINES_E_DB_AUTH', message: err.message });
  const { probe: p2 } = fakes({ connectError: new Error('boom') });
  assert.equal((await p2.observe()).error?.code, 'NINES_E_INTERNAL');
});

test('abort and close', async () => {
  const { probe, conns } = fakes({ readMs: 50 });
  const ac = new AbortController();
  ac.abort();
  assert.equal((await probe.observe(ac.signal)).error?.code, 'NINES_E_COMMAND_ABORTED');
  await probe.observe();
  await probe.close();
  assert.ok(conns.every((c) => c.closed));
  assert.equal((await probe.observe()).error?.code, 'NINES_E_COMMAND_ABORTED');
});

test('close() during an in-flight connect waits for it and closes the connection it made', async () => {
  const { probe, conns } = fakes({ connectMs: 60 });
  const observing = probe.observe();
  await new Promise((r) => setTimeout(r, 10));
  await probe.close();
  assert.equal(conns.length, 1, 'the connect finished before close() resolved');
  assert.equal(conns[0]?.closed, true, 'and its connection was closed');
  const obs = await observing;
  assert.equal(obs.reachable, false);
});

test('close() waits for a connect that outlived its observe() deadline', async () => {
  const { probe, conns } = fakes({ connectMs: 150 });
  const obs = await probe.observe();
  assert.equal(obs.reachable, false, 'the deadline (100 ms) passed during the connect');
  assert.equal(conns.length, 0, 'the connect is still under way');
  await probe.close();
  assert.equal(conns.length, 1);
  assert.equal(conns[0]?.closed, true, 'no connection left open once close() resolved');
});
