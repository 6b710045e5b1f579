// The delivery queue with fake channels (no sockets): retry with backoff, bounded attempts, permanent failures,
// redaction of recorded errors, the notifier's filters.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { NinesError } from '../../../src/core/errors.ts';
import type { Alarm } from '../../../src/core/monitor/alarms.ts';
import { parseChannelConfig, type AlarmTransition } from '../../../src/core/monitor/notify.ts';
import { backoffDelay, DEFAULT_BACKOFF, type BackoffPolicy } from '../../../src/controller/notify/backoff.ts';
import type { NotificationChannel } from '../../../src/controller/notify/channels.ts';
import { DeliveryQueue } from '../../../src/controller/notify/delivery-queue.ts';
import { Notifier } from '../../../src/controller/notify/notifier.ts';
import { T0 } from '../monitor/fixtures.ts';

const FAST: BackoffPolicy = { baseMs: 5, factor: 2, maxMs: 50, jitter: 0.2, maxAttempts: 4 };

function transition(severity: 'warning' | 'critical' = 'critical', cluster = 'prod'): AlarmTransition {
  const alarm: Alarm = {
    key: `node-down/${cluster}/h2:3306`,
    rule: 'node-down',
    cluster,
    node: 'h2:3306',
    severity,
    reason: 'node h2 down',
    raisedAt: T0,
    updatedAt: T0,
  };
  return { kind: 'raised', alarm, reason: alarm.reason, time: T0 };
}

/** A channel that fails with the given errors in turn, then succeeds. */
function scripted(name: string, failures: readonly Error[], secrets: readonly string[] = []) {
  const calls: AlarmTransition[] = [];
  const channel: NotificationChannel = {
    name,
    kind: 'webhook',
    secrets,
    send(t) {
      calls.push(t);
      const err = failures[calls.length - 1];
      return err ? Promise.reject(err) : Promise.resolve({ detail: 'HTTP 200' });
    },
  };
  return { channel, calls };
}

function httpError(status: number, retryable: boolean, detail = `HTTP ${status}`): NinesError {
  return new NinesError('NINES_E_NOTIFY_DELIVERY_FAILED', detail, { context: { retryable, status } });
}

async function until<T>(what: string, fn: () => T | undefined, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('backoffDelay', () => {
  test('exponential, capped, with bounded jitter', () => {
    const p = { ...DEFAULT_BACKOFF, jitter: 0 };
    assert.deepEqual(
      [1, 2, 3, 4, 10, 20].map((n) => backoffDelay(n, p)),
      [2000, 4000, 8000, 16000, 300000, 300000],
    );
    assert.equal(
      backoffDelay(1, DEFAULT_BACKOFF, () => 0),
      1600,
    );
    assert.equal(
      backoffDelay(1, DEFAULT_BACKOFF, () => 1),
      2400,
    );
    assert.equal(
      backoffDelay(20, DEFAULT_BACKOFF, () => 1),
      300000,
      'jitter never exceeds the cap',
    );
  });
});

describe('DeliveryQueue', () => {
  test('retries a retryable failure with backoff, then delivers; attempts recorded', async () => {
    const { channel, calls } = scripted('hook', [httpError(500, true), httpError(503, true)]);
    const q = new DeliveryQueue({ channels: [channel], backoff: FAST });
    const changes: string[] = [];
    q.subscribe((d) => changes.push(`${d.state}/${d.attempts}`));
    q.start();
    const d = q.enqueue('hook', transition());
    const done = await until('delivered', () =>
      q.deliveries().find((x) => x.id === d.id && x.state === 'delivered'),
    );
    await q.stop();
    assert.equal(done.attempts, 3);
    assert.equal(done.response, 'HTTP 200');
    assert.equal(done.lastError?.message, 'A notification could not be delivered: HTTP 503');
    assert.equal(calls.length, 3);
    assert.deepEqual(changes, ['pending/0', 'pending/1', 'pending/2', 'delivered/3']);
  });

  test('gives up after maxAttempts with the failure visible', async () => {
    const err = httpError(500, true);
    const { channel, calls } = scripted('hook', [err, err, err, err, err]);
    const q = new DeliveryQueue({ channels: [channel], backoff: FAST });
    q.start();
    q.enqueue('hook', transition());
    const failed = await until('failed', () => q.deliveries({ state: 'failed' })[0]);
    await q.stop();
    assert.equal(failed.attempts, 4);
    assert.equal(calls.length, 4);
    assert.equal(failed.lastError?.code, 'NINES_E_NOTIFY_DELIVERY_FAILED');
    assert.equal(failed.nextAttemptAt, null);
  });

  test('a permanent failure (HTTP 404) is not retried', async () => {
    const { channel, calls } = scripted('hook', [httpError(404, false)]);
    const q = new DeliveryQueue({ channels: [channel], backoff: FAST });
    q.start();
    q.enqueue('hook', transition());
    const failed = await until('failed', () => q.deliveries({ state: 'failed' })[0]);
    await q.stop();
    assert.equal(failed.attempts, 1);
    assert.equal(calls.length, 1);
  });

  test('recorded errors are redacted with the channel secrets', async () => {
    const secret = 'tok-abcdef123';
    const { channel } = scripted(
      'hook',
      [new Error(`connect to https://x.example/hook?t=${secret} refused`)],
      [secret],
    );
    const q = new DeliveryQueue({ channels: [channel], backoff: { ...FAST, maxAttempts: 1 } });
    q.start();
    q.enqueue('hook', transition());
    const failed = await until('failed', () => q.deliveries({ state: 'failed' })[0]);
    await q.stop();
    assert.ok(!JSON.stringify(failed).includes(secret));
    assert.match(failed.lastError?.message ?? '', /t=\*\*\*/);
  });

  test('backoff delays are honoured (the second attempt waits at least the minimum delay)', async () => {
    const times: number[] = [];
    const channel: NotificationChannel = {
      name: 'hook',
      kind: 'webhook',
      secrets: [],
      send() {
        times.push(Date.now());
        return times.length === 1 ? Promise.reject(httpError(500, true)) : Promise.resolve({ detail: 'ok' });
      },
    };
    const q = new DeliveryQueue({
      channels: [channel],
      backoff: { baseMs: 80, factor: 2, maxMs: 1000, jitter: 0.25, maxAttempts: 3 },
    });
    q.start();
    q.enqueue('hook', transition());
    await until('delivered', () => q.deliveries({ state: 'delivered' })[0]);
    await q.stop();
    assert.ok((times[1] ?? 0) - (times[0] ?? 0) >= 55, `waited ${(times[1] ?? 0) - (times[0] ?? 0)} ms`);
  });
});

describe('Notifier', () => {
  test('dedups and filters per channel, then delivers', async () => {
    const sent: string[] = [];
    const fake = (name: string): NotificationChannel => ({
      name,
      kind: 'webhook',
      secrets: [],
      send: (t) => {
        sent.push(`${name} ${t.kind} ${t.alarm.severity}`);
        return Promise.resolve({ detail: 'ok' });
      },
    });
    const n = new Notifier({
      channels: [
        parseChannelConfig({ kind: 'webhook', name: 'all', url: 'http://127.0.0.1:9/a' }),
        parseChannelConfig({
          kind: 'webhook',
          name: 'crit',
          url: 'http://127.0.0.1:9/b',
          minSeverity: 'critical',
        }),
        parseChannelConfig({ kind: 'webhook', name: 'dev', url: 'http://127.0.0.1:9/c', clusters: ['dev'] }),
      ],
      createChannel: (c) => fake(c.name),
      backoff: FAST,
    });
    n.start();
    const first = n.notify([transition('warning')]);
    const again = n.notify([transition('warning')]);
    assert.deepEqual(
      first.enqueued.map((d) => d.channel),
      ['all'],
    );
    assert.deepEqual(
      first.skipped.map((s) => `${s.channel} ${s.reason}`),
      [
        "crit severity warning below the channel's minimum critical",
        "dev cluster prod is not in the channel's clusters",
      ],
    );
    assert.deepEqual(again.enqueued, []);
    await until('delivered', () => (n.deliveries({ state: 'delivered' }).length === 1 ? true : undefined));
    await n.stop();
    assert.deepEqual(sent, ['all raised warning']);
    assert.deepEqual(
      n.channels().map((c) => c.target),
      ['http://127.0.0.1:9/***', 'http://127.0.0.1:9/***', 'http://127.0.0.1:9/***'],
    );
  });
});
