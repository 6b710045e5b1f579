import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { isNinesError } from '../../../src/core/errors.ts';
import type { Alarm } from '../../../src/core/monitor/alarms.ts';
import {
  channelSecrets,
  describeChannel,
  parseChannelConfig,
  redactSecrets,
  type AlarmTransition,
} from '../../../src/core/monitor/notify.ts';
import {
  renderEmail,
  renderSlack,
  renderWebhook,
  summaryLine,
} from '../../../src/core/monitor/notify-render.ts';
import { T0 } from '../monitor/fixtures.ts';

const SLACK_TOKEN = 'XXXXSECRETTOKEN42';
const SLACK_URL = `https://hooks.slack.com/services/T0000/B0000/${SLACK_TOKEN}`;
const HOOK_URL = 'https://ops.example.com/hooks/nines?token=tok-9f8e7d6c';
const HEADER = 'Bearer header-secret-123';
const SMTP_PASSWORD = 'smtp-pass-word';

const slack = parseChannelConfig({ kind: 'slack', name: 'ops-slack', url: SLACK_URL });
const hook = parseChannelConfig({
  kind: 'webhook',
  name: 'pager',
  url: HOOK_URL,
  headers: { authorization: HEADER },
  minSeverity: 'critical',
});
const mail = parseChannelConfig({
  kind: 'email',
  name: 'dba-mail',
  smtp: { host: 'mail.example.com', port: 587, user: 'nines', password: SMTP_PASSWORD },
  from: 'nines@example.com',
  to: ['dba@example.com'],
});
const ALL_SECRETS = [SLACK_TOKEN, 'tok-9f8e7d6c', 'header-secret-123', SMTP_PASSWORD];

function transition(reason: string): AlarmTransition {
  const alarm: Alarm = {
    key: 'node-down/prod/h2:3306',
    rule: 'node-down',
    cluster: 'prod',
    node: 'h2:3306',
    severity: 'critical',
    reason,
    raisedAt: T0,
    updatedAt: T0,
  };
  return { kind: 'raised', alarm, reason, time: T0 + 1000 };
}

function assertNoSecret(text: string): void {
  for (const s of ALL_SECRETS) assert.ok(!text.includes(s), `secret ${s} leaked into: ${text}`);
}

describe('rendered payloads', () => {
  const t = transition('node h2 down: 2 failed probes in a row');

  test('generic JSON webhook', () => {
    assert.deepEqual(renderWebhook(t), {
      source: 'nines',
      version: 1,
      event: 'alarm.raised',
      time: '2026-01-01T12:00:01.000Z',
      text: '[RAISED critical] node-down on prod (h2:3306): node h2 down: 2 failed probes in a row',
      reason: 'node h2 down: 2 failed probes in a row',
      alarm: {
        key: 'node-down/prod/h2:3306',
        rule: 'node-down',
        cluster: 'prod',
        node: 'h2:3306',
        severity: 'critical',
        reason: 'node h2 down: 2 failed probes in a row',
        raisedAt: '2026-01-01T12:00:00.000Z',
        acknowledged: false,
      },
    });
  });

  test('Slack-compatible {text, blocks}', () => {
    const p = renderSlack({ ...t, kind: 'cleared', reason: 'node h2 up' });
    assert.equal(p.text, ':large_green_circle: [RESOLVED critical] node-down on prod (h2:3306): node h2 up');
    assert.equal(p.blocks?.[0]?.type, 'section');
    assert.match(
      JSON.stringify(p.blocks),
      /RESOLVED critical\* `node-down` on \*prod \(h2:3306\)\*\\nnode h2 up/,
    );
  });

  test('email subject and body', () => {
    const m = renderEmail(t);
    assert.equal(m.subject, '[nines] RAISED critical node-down on prod (h2:3306)');
    assert.match(m.text, /^RAISED: node h2 down: 2 failed probes in a row\n/);
    assert.match(m.text, /Cluster: {3}prod\nNode: {6}h2:3306\nRule: {6}node-down\n/);
  });

  test('a secret inside a reason never reaches any payload', () => {
    const leaky = transition(
      `delivery error: POST ${SLACK_URL} and ${HOOK_URL} with ${HEADER}, smtp login nines:${SMTP_PASSWORD}`,
    );
    const secrets = [...channelSecrets(slack), ...channelSecrets(hook), ...channelSecrets(mail)];
    assertNoSecret(JSON.stringify(renderWebhook(leaky, secrets)));
    assertNoSecret(JSON.stringify(renderSlack(leaky, secrets)));
    assertNoSecret(JSON.stringify(renderEmail(leaky, secrets)));
    assertNoSecret(summaryLine(leaky, secrets));
    assert.match(summaryLine(leaky, secrets), /POST \*\*\* and \*\*\* with \*\*\*, smtp login nines:\*\*\*$/);
  });

  test('URL user-info passwords are masked even when not listed', () => {
    assert.equal(redactSecrets('see https://u:hunter22@x.example/a', []), 'see https://u:***@x.example/a');
  });
});

describe('channel configuration', () => {
  test('defaults applied, result frozen', () => {
    assert.equal(slack.minSeverity, 'warning');
    assert.equal(slack.timeoutMs, 10000);
    assert.equal(mail.kind === 'email' && mail.smtp.starttls, 'opportunistic');
    assert.ok(Object.isFrozen(mail));
  });

  test('describeChannel shows no secret', () => {
    const shown = JSON.stringify([describeChannel(slack), describeChannel(hook), describeChannel(mail)]);
    assertNoSecret(shown);
    assert.deepEqual(describeChannel(slack), {
      name: 'ops-slack',
      kind: 'slack',
      target: 'https://hooks.slack.com/***',
      minSeverity: 'warning',
      timeoutMs: 10000,
    });
    assert.equal(describeChannel(mail).target, 'smtp://mail.example.com:587 -> dba@example.com');
    assert.deepEqual(describeChannel(hook).headers, ['authorization']);
  });

  test('invalid channels name the field, and never echo a secret value', () => {
    const bad = {
      kind: 'slack',
      name: 'x',
      url: `ftp://hooks.slack.com/services/T0000/B0000/${SLACK_TOKEN}`,
    };
    assert.throws(
      () => parseChannelConfig(bad),
      (err: unknown) =>
        isNinesError(err, 'NINES_E_NOTIFY_CHANNEL_INVALID') &&
        /url: expected an http\(s\) URL, got '\*\*\*'/.test(err.message) &&
        !err.message.includes(SLACK_TOKEN) &&
        !JSON.stringify(err.context).includes(SLACK_TOKEN),
    );
    assert.throws(
      () =>
        parseChannelConfig({
          kind: 'email',
          name: 'm',
          smtp: { host: 'h', port: 25, password: 12345 },
          from: 'a@b',
          to: ['c@d'],
        }),
      (err: unknown) =>
        isNinesError(err) && /smtp.password: expected a string, got '\*\*\*'/.test(err.message),
    );
    assert.throws(
      () => parseChannelConfig({ kind: 'pager', name: 'p' }),
      /expected kind webhook, slack or email/,
    );
    assert.throws(
      () =>
        parseChannelConfig({
          kind: 'email',
          name: 'm',
          smtp: { host: 'h', port: 25, user: 'u' },
          from: 'a@b',
          to: ['c@d'],
        }),
      /expected smtp.user and smtp.password together/,
    );
  });
});
