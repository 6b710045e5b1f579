// Rendered notification payloads: a generic JSON webhook body, a Slack-compatible message ({text, blocks}) and an
// email (subject + plain text). Pure. Every string is passed through redactSecrets with the channel's secrets,
// so a token that leaked into an error message (and from there into an alarm reason) never leaves the controller.
import type { AlarmTransition, TransitionKind } from './notify.ts';
import { redactDeep, redactSecrets } from './notify.ts';

const KIND_WORD: Readonly<Record<TransitionKind, string>> = {
  raised: 'RAISED',
  escalated: 'ESCALATED',
  cleared: 'RESOLVED',
};
const SLACK_ICON: Readonly<Record<TransitionKind, string>> = {
  raised: ':red_circle:',
  escalated: ':rotating_light:',
  cleared: ':large_green_circle:',
};

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function where(t: AlarmTransition): string {
  return t.alarm.node ? `${t.alarm.cluster} (${t.alarm.node})` : t.alarm.cluster;
}

/** One line: "[RAISED critical] node-down on prod (h2:3306): node h2 down: 2 failed probes in a row ...". */
export function summaryLine(t: AlarmTransition, secrets: readonly string[] = []): string {
  const line = `[${KIND_WORD[t.kind]} ${t.alarm.severity}] ${t.alarm.rule} on ${where(t)}: ${t.reason}`;
  return redactSecrets(line, secrets);
}

export interface WebhookPayload {
  readonly source: 'nines';
  readonly version: 1;
  /** alarm.raised | alarm.escalated | alarm.cleared */
  readonly event: string;
  readonly time: string;
  readonly text: string;
  readonly reason: string;
  readonly alarm: {
    readonly key: string;
    readonly rule: string;
    readonly cluster: string;
    readonly node: string | null;
    readonly severity: string;
    readonly reason: string;
    readonly raisedAt: string;
    readonly acknowledged: boolean;
  };
}

/** The generic JSON webhook body (version 1; fields are only ever added). */
export function renderWebhook(t: AlarmTransition, secrets: readonly string[] = []): WebhookPayload {
  const a = t.alarm;
  const payload: WebhookPayload = {
    source: 'nines',
    version: 1,
    event: `alarm.${t.kind}`,
    time: iso(t.time),
    text: summaryLine(t),
    reason: t.reason,
    alarm: {
      key: a.key,
      rule: a.rule,
      cluster: a.cluster,
      node: a.node ?? null,
      severity: a.severity,
      reason: a.reason,
      raisedAt: iso(a.raisedAt),
      acknowledged: a.acknowledged !== undefined,
    },
  };
  return redactDeep(payload, secrets);
}

export interface SlackPayload {
  readonly text: string;
  readonly blocks?: readonly Record<string, unknown>[];
}

/** Slack-compatible incoming-webhook message (also accepted by Mattermost and Rocket.Chat). */
export function renderSlack(t: AlarmTransition, secrets: readonly string[] = []): SlackPayload {
  const a = t.alarm;
  const text = `${SLACK_ICON[t.kind]} ${summaryLine(t)}`;
  const context = [`key ${a.key}`, `raised ${iso(a.raisedAt)}`, ...(a.acknowledged ? ['acknowledged'] : [])];
  const payload: SlackPayload = {
    text,
    blocks: [
      {
        type: 'section',
        text: {
          type: 'mrkdwn',
          text: `${SLACK_ICON[t.kind]} *${KIND_WORD[t.kind]} ${a.severity}* \`${a.rule}\` on *${where(t)}*\n${t.reason}`,
        },
      },
      { type: 'context', elements: [{ type: 'mrkdwn', text: context.join(' · ') }] },
    ],
  };
  return redactDeep(payload, secrets);
}

export interface EmailMessage {
  readonly subject: string;
  readonly text: string;
}

/** Subject "[nines] RAISED critical node-down on prod (h2:3306)" and a plain-text body. */
export function renderEmail(t: AlarmTransition, secrets: readonly string[] = []): EmailMessage {
  const a = t.alarm;
  const subject = `[nines] ${KIND_WORD[t.kind]} ${a.severity} ${a.rule} on ${where(t)}`;
  const lines = [
    `${KIND_WORD[t.kind]}: ${t.reason}`,
    '',
    `Cluster:   ${a.cluster}`,
    ...(a.node ? [`Node:      ${a.node}`] : []),
    `Rule:      ${a.rule}`,
    `Severity:  ${a.severity}`,
    `Raised at: ${iso(a.raisedAt)}`,
    `Time:      ${iso(t.time)}`,
    ...(a.acknowledged ? [`Acknowledged by ${a.acknowledged.by} at ${iso(a.acknowledged.at)}`] : []),
    `Alarm key: ${a.key}`,
    '',
    '-- nines',
  ];
  return redactDeep({ subject, text: `${lines.join('\n')}\n` }, secrets);
}
