// The controller's armed fences (src/controller/recovery/armed-fences.ts) over scripted engine sessions: one per
// cluster on its healthy primary, re-armed when it breaks (with a pause after a failed attempt), replaced when the
// primary changes, fired only for the node it was armed on and at most once, its outcome told in an event, and
// every session closed at stop.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateSpec, type ClusterSpec, type NodeSpec } from '../../../src/core/spec.ts';
import type {
  ArmedFence,
  FenceResult,
  RecoveryContext,
  ReplicationRecovery,
} from '../../../src/engines/engine.ts';
import { EventBus } from '../../../src/controller/events.ts';
import { createLogger } from '../../../src/controller/logger.ts';
import { ArmedFences } from '../../../src/controller/recovery/armed-fences.ts';
import { openStore, type Store } from '../../../src/controller/store/store.ts';

const dirs: string[] = [];
const stores: Store[] = [];
after(() => {
  for (const s of stores) s.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function spec(): ClusterSpec {
  return validateSpec({
    name: 'pg',
    type: 'postgres-streaming',
    nodes: [{ host: '10.0.0.1', role: 'primary' }, { host: '10.0.0.2' }],
    ssh: { key: 'k' },
    credentials: { admin: 'a-secret-1', replication: 'r-secret-1', monitor: 'm-secret-1' },
  }).spec;
}

interface FakeFence extends ArmedFence {
  readonly node: string;
  closed: boolean;
  fired: number;
  settle(r: FenceResult): void;
}

function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'nines-armed-'));
  dirs.push(dir);
  const store = openStore(dir);
  stores.push(store);
  const events = new EventBus(store.events, createLogger('silent'));
  const seen: { type: string; message: string }[] = [];
  events.subscribe((e) => seen.push({ type: e.type, message: e.message }));
  let now = 1000;
  const sessions: FakeFence[] = [];
  const failNext: Error[] = [];
  const recovery = {
    armFence: (_ctx: RecoveryContext, node: NodeSpec): Promise<ArmedFence> => {
      const err = failNext.shift();
      if (err) return Promise.reject(err);
      let settle: (r: FenceResult) => void = () => undefined;
      const outcome = new Promise<FenceResult>((resolve) => {
        settle = resolve;
      });
      const f: FakeFence = {
        node: `${node.host}:${node.port}`,
        closed: false,
        fired: 0,
        settle: (r) => settle(r),
        get usable() {
          return !this.closed && this.fired === 0;
        },
        fire() {
          this.fired += 1;
          return outcome;
        },
        close() {
          this.closed = true;
          settle({ fenced: false, how: 'closed' });
        },
      };
      sessions.push(f);
      return Promise.resolve(f);
    },
  } as unknown as ReplicationRecovery;
  const armed = new ArmedFences({
    events,
    logger: createLogger('silent'),
    ctx: (s) => ({ spec: s }) as unknown as RecoveryContext,
    armMs: 1000,
    retryMs: 5000,
    now: () => now,
  });
  const sp = spec();
  const [n1, n2] = sp.nodes as [NodeSpec, NodeSpec];
  const flush = () => new Promise<void>((r) => setImmediate(r));
  return {
    armed,
    recovery,
    sp,
    n1,
    n2,
    sessions,
    seen,
    failNext,
    flush,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

test('one session per healthy primary: kept while usable, reopened once it broke', async () => {
  const t = setup();
  t.armed.keep(t.sp, t.recovery, t.n1);
  t.armed.keep(t.sp, t.recovery, t.n1); // still opening: no second attempt
  await t.flush();
  t.armed.keep(t.sp, t.recovery, t.n1);
  assert.equal(t.sessions.length, 1);
  (t.sessions[0] as FakeFence).closed = true; // the server restarted under it
  t.armed.keep(t.sp, t.recovery, t.n1);
  await t.flush();
  assert.equal(t.sessions.length, 2);
  await t.armed.stop();
});

test('a failed attempt is retried only after retryMs', async () => {
  const t = setup();
  t.failNext.push(new Error('connect refused'));
  t.armed.keep(t.sp, t.recovery, t.n1);
  await t.flush();
  t.armed.keep(t.sp, t.recovery, t.n1);
  await t.flush();
  assert.equal(t.sessions.length, 0);
  t.advance(5000);
  t.armed.keep(t.sp, t.recovery, t.n1);
  await t.flush();
  assert.equal(t.sessions.length, 1);
  await t.armed.stop();
});

test('a new primary replaces the session: the old one is closed and cannot be fired', async () => {
  const t = setup();
  t.armed.keep(t.sp, t.recovery, t.n1);
  await t.flush();
  t.armed.keep(t.sp, t.recovery, t.n2);
  await t.flush();
  const [first, second] = t.sessions as [FakeFence, FakeFence];
  assert.equal(first.closed, true);
  assert.equal(second.node, '10.0.0.2:5432');
  assert.equal(t.armed.fire(t.sp, t.n1), false, 'not armed on the old primary any more');
  assert.equal(first.fired, 0);
  await t.armed.stop();
});

test('fired once for its node; a late outcome (a thaw) is told in a node.fenced event', async () => {
  const t = setup();
  t.armed.keep(t.sp, t.recovery, t.n1);
  await t.flush();
  assert.equal(t.armed.fire(t.sp, t.n2), false, 'armed on 10.0.0.1, not 10.0.0.2');
  assert.equal(t.armed.fire(t.sp, t.n1), true);
  assert.equal(t.armed.fire(t.sp, t.n1), false, 'at most once');
  const s = t.sessions[0] as FakeFence;
  assert.equal(s.fired, 1);
  assert.equal(t.seen.filter((e) => e.type === 'node.fenced').length, 0, 'nothing to tell before it ran');
  s.settle({ fenced: true, how: 'fast shutdown through the armed session' });
  await t.flush();
  const fenced = t.seen.filter((e) => e.type === 'node.fenced');
  assert.equal(fenced.length, 1);
  assert.match(fenced[0]?.message ?? '', /10\.0\.0\.1:5432 .*armed session: fast shutdown/);
  await t.armed.stop();
});

test('an armed fence that did not run emits no fenced event; stop closes a fired session too', async () => {
  const t = setup();
  t.armed.keep(t.sp, t.recovery, t.n1);
  await t.flush();
  assert.equal(t.armed.fire(t.sp, t.n1), true);
  await t.armed.stop();
  assert.equal((t.sessions[0] as FakeFence).closed, true);
  assert.equal(t.seen.filter((e) => e.type === 'node.fenced').length, 0);
  t.armed.keep(t.sp, t.recovery, t.n1);
  await t.flush();
  assert.equal(t.sessions.length, 1, 'a stopped holder opens nothing');
});

test('an engine without armFence: nothing armed, nothing fired', async () => {
  const t = setup();
  t.armed.keep(t.sp, {} as ReplicationRecovery, t.n1);
  await t.flush();
  assert.equal(t.armed.fire(t.sp, t.n1), false);
  await t.armed.stop();
});
