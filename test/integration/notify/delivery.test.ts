// Notification delivery over real sockets on 127.0.0.1: webhook, Slack-compatible webhook and SMTP email to servers
// started by the test; retry with backoff on HTTP 500; giving up after the bound; timeouts; refused SMTP logins.
// Every wait has a deadline scaled by NINES_TIMEOUT_SCALE.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Alarm } from '../../../src/core/monitor/alarms.ts';
import {
  parseChannelConfig,
  type AlarmTransition,
  type ChannelConfigInput,
} from '../../../src/core/monitor/notify.ts';
import type { BackoffPolicy } from '../../../src/controller/notify/backoff.ts';
import { createChannel } from '../../../src/controller/notify/channels.ts';
import { DeliveryQueue } from '../../../src/controller/notify/delivery-queue.ts';
import type { Delivery } from '../../../src/controller/notify/delivery-store.ts';
import { startSmtpServer } from '../../support/smtp-server.ts';
import { startWebhookServer } from '../../support/webhook-server.ts';

const SCALE = Number(process.env.NINES_TIMEOUT_SCALE ?? 1);
const WAIT = 10_000 * SCALE;
const FAST: BackoffPolicy = { baseMs: 50, factor: 2, maxMs: 400, jitter: 0.2, maxAttempts: 3 };
const TOKEN = 'tok-SECRET-5f4e3d';
const T = Date.UTC(2026, 0, 1, 12, 0, 0);

function transition(kind: AlarmTransition['kind'] = 'raised'): AlarmTransition {
  const alarm: Alarm = {
    key: 'node-down/prod/h2:3306',
    rule: 'node-down',
    cluster: 'prod',
    node: 'h2:3306',
    severity: 'critical',
    reason: 'node h2 down: 2 failed probes in a row',
    raisedAt: T,
    updatedAt: T,
  };
  return { kind, alarm, reason: kind === 'cleared' ? 'node h2 up' : alarm.reason, time: T };
}

const queues: DeliveryQueue[] = [];
after(async () => {
  await Promise.all(queues.map((q) => q.stop()));
});

function queueFor(input: ChannelConfigInput, backoff: BackoffPolicy = FAST): DeliveryQueue {
  const q = new DeliveryQueue({ channels: [createChannel(parseChannelConfig(input))], backoff });
  queues.push(q);
  q.start();
  return q;
}

async function settled(q: DeliveryQueue, id: number): Promise<Delivery> {
  const deadline = Date.now() + WAIT;
  for (;;) {
    const d = q.deliveries().find((x) => x.id === id);
    if (d && d.state !== 'pending') return d;
    if (Date.now() > deadline)
      throw new Error(`delivery ${id} still pending after ${WAIT} ms: ${JSON.stringify(d)}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('webhook delivery', () => {
  test('a JSON webhook is POSTed with its headers; the body is the alarm', async (t) => {
    const server = await startWebhookServer();
    t.after(() => server.close());
    const q = queueFor({
      kind: 'webhook',
      name: 'pager',
      url: server.url(`/hook?token=${TOKEN}`),
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    const d = await settled(q, q.enqueue('pager', transition()).id);
    assert.equal(d.state, 'delivered');
    assert.equal(d.attempts, 1);
    assert.equal(d.response, 'HTTP 200');
    const [req] = await server.waitForRequests(1, WAIT);
    assert.equal(req?.method, 'POST');
    assert.equal(req?.url, `/hook?token=${TOKEN}`);
    assert.equal(req?.headers.authorization, `Bearer ${TOKEN}`);
    assert.equal(req?.headers['content-type'], 'application/json');
    const body = JSON.parse(req?.body ?? '{}') as Record<string, unknown>;
    assert.equal(body.event, 'alarm.raised');
    assert.deepEqual(body.alarm, {
      key: 'node-down/prod/h2:3306',
      rule: 'node-down',
      cluster: 'prod',
      node: 'h2:3306',
      severity: 'critical',
      reason: 'node h2 down: 2 failed probes in a row',
      raisedAt: '2026-01-01T12:00:00.000Z',
      acknowledged: false,
    });
    assert.ok(!JSON.stringify(d).includes(TOKEN), 'the delivery record holds no token');
  });

  test('a Slack-compatible payload is delivered', async (t) => {
    const server = await startWebhookServer();
    t.after(() => server.close());
    const q = queueFor({ kind: 'slack', name: 'chat', url: server.url(`/services/T000/B000/${TOKEN}`) });
    const d = await settled(q, q.enqueue('chat', transition('cleared')).id);
    assert.equal(d.state, 'delivered');
    const [req] = await server.waitForRequests(1, WAIT);
    const body = JSON.parse(req?.body ?? '{}') as { text: string; blocks: { type: string }[] };
    assert.equal(
      body.text,
      ':large_green_circle: [RESOLVED critical] node-down on prod (h2:3306): node h2 up',
    );
    assert.deepEqual(
      body.blocks.map((b) => b.type),
      ['section', 'context'],
    );
  });

  test('HTTP 500 then 200: retried with backoff, then delivered, attempts recorded', async (t) => {
    const server = await startWebhookServer({ statuses: [500, 500] });
    t.after(() => server.close());
    const q = queueFor({ kind: 'webhook', name: 'flaky', url: server.url(`/hook/${TOKEN}`) });
    const started = Date.now();
    const d = await settled(q, q.enqueue('flaky', transition()).id);
    assert.equal(d.state, 'delivered');
    assert.equal(d.attempts, 3);
    assert.equal(server.requests.length, 3);
    assert.match(d.lastError?.message ?? '', /answered HTTP 500/);
    // backoff 50 ms then 100 ms, each -20% at worst
    assert.ok(Date.now() - started >= 120, `retries waited only ${Date.now() - started} ms`);
    assert.ok(!JSON.stringify(d).includes(TOKEN));
  });

  test('a permanently failing endpoint is given up after the bound, failure visible', async (t) => {
    const server = await startWebhookServer({ after: 500 });
    t.after(() => server.close());
    const q = queueFor({ kind: 'webhook', name: 'broken', url: server.url(`/hook?token=${TOKEN}`) });
    const d = await settled(q, q.enqueue('broken', transition()).id);
    assert.equal(d.state, 'failed');
    assert.equal(d.attempts, 3);
    assert.equal(server.requests.length, 3);
    assert.equal(d.lastError?.code, 'NINES_E_NOTIFY_DELIVERY_FAILED');
    assert.equal(
      d.lastError?.message,
      `A notification could not be delivered: webhook channel broken: POST http://127.0.0.1:${server.port}/*** answered HTTP 500`,
    );
    assert.equal(q.deliveries({ state: 'failed' }).length, 1);
  });

  test('HTTP 404 is permanent: one attempt only', async (t) => {
    const server = await startWebhookServer({ after: 404 });
    t.after(() => server.close());
    const q = queueFor({ kind: 'webhook', name: 'gone', url: server.url() });
    const d = await settled(q, q.enqueue('gone', transition()).id);
    assert.equal(d.state, 'failed');
    assert.equal(d.attempts, 1);
  });

  test('an endpoint slower than timeoutMs gives NINES_E_NOTIFY_TIMEOUT and is retried', async (t) => {
    const server = await startWebhookServer({ delayMs: 2000 });
    t.after(() => server.close());
    const q = queueFor(
      { kind: 'webhook', name: 'slow', url: server.url(), timeoutMs: 150 },
      { ...FAST, maxAttempts: 2 },
    );
    const d = await settled(q, q.enqueue('slow', transition()).id);
    assert.equal(d.state, 'failed');
    assert.equal(d.attempts, 2);
    assert.equal(d.lastError?.code, 'NINES_E_NOTIFY_TIMEOUT');
  });

  test('connection refused is retried and the error holds no token', async () => {
    const server = await startWebhookServer();
    const url = server.url(`/hook?token=${TOKEN}`);
    await server.close();
    const q = queueFor({ kind: 'webhook', name: 'down', url }, { ...FAST, maxAttempts: 2 });
    const d = await settled(q, q.enqueue('down', transition()).id);
    assert.equal(d.state, 'failed');
    assert.equal(d.attempts, 2);
    assert.match(d.lastError?.message ?? '', /ECONNREFUSED/);
    assert.ok(!JSON.stringify(d).includes(TOKEN));
  });
});

describe('email delivery', () => {
  test('an email is delivered to a local SMTP server with its subject', async (t) => {
    const smtp = await startSmtpServer();
    t.after(() => smtp.close());
    const q = queueFor({
      kind: 'email',
      name: 'mail',
      smtp: { host: '127.0.0.1', port: smtp.port },
      from: 'nines@example.com',
      to: ['dba@example.com', 'oncall@example.com'],
    });
    const d = await settled(q, q.enqueue('mail', transition()).id);
    assert.equal(d.state, 'delivered', JSON.stringify(d.lastError));
    assert.match(d.response ?? '', /^250 /);
    const [m] = await smtp.waitForMessages(1, WAIT);
    assert.equal(m?.from, 'nines@example.com');
    assert.deepEqual(m?.to, ['dba@example.com', 'oncall@example.com']);
    assert.equal(m?.subject, '[nines] RAISED critical node-down on prod (h2:3306)');
    assert.match(m?.data ?? '', /RAISED: node h2 down: 2 failed probes in a row/);
  });

  test('AUTH PLAIN: delivered with the right password', async (t) => {
    const smtp = await startSmtpServer({ auth: { user: 'nines', password: 'smtp-Pa55word' } });
    t.after(() => smtp.close());
    const q = queueFor({
      kind: 'email',
      name: 'mail',
      smtp: { host: '127.0.0.1', port: smtp.port, user: 'nines', password: 'smtp-Pa55word' },
      from: 'nines@example.com',
      to: ['dba@example.com'],
    });
    const d = await settled(q, q.enqueue('mail', transition()).id);
    assert.equal(d.state, 'delivered', JSON.stringify(d.lastError));
    const [m] = await smtp.waitForMessages(1, WAIT);
    assert.equal(m?.user, 'nines');
  });

  test('a refused login is permanent and the password is not in the error', async (t) => {
    const smtp = await startSmtpServer({ auth: { user: 'nines', password: 'right-password' } });
    t.after(() => smtp.close());
    const q = queueFor({
      kind: 'email',
      name: 'mail',
      smtp: { host: '127.0.0.1', port: smtp.port, user: 'nines', password: 'wrong-password' },
      from: 'nines@example.com',
      to: ['dba@example.com'],
    });
    const d = await settled(q, q.enqueue('mail', transition()).id);
    assert.equal(d.state, 'failed');
    assert.equal(d.attempts, 1);
    assert.match(d.lastError?.message ?? '', /535/);
    assert.ok(!JSON.stringify(d).includes('wrong-password'));
    assert.equal(smtp.messages.length, 0);
  });
});
