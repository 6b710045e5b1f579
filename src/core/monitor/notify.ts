// Notification rules: which alarm transitions become notifications, and for which channel. Pure: no I/O.
//   - Notify on change only: raised, escalated (warning -> critical) and cleared; nothing while an alarm merely
//     stays active, and nothing for a de-escalation.
//   - Dedup through a ledger of what was last notified per alarm key: the same alarm raised twice without a clear
//     gives one notification; a second clear gives none.
//   - Per-channel filters: minimum severity and a list of clusters.
// Channel configuration (webhook, Slack-compatible webhook, email over SMTP) is validated here; its secrets
// (webhook URLs carry tokens, the SMTP password) are listed by channelSecrets() so renderers and the delivery code
// can redact them, and describeChannel() gives the view that is safe to show.
import { z } from 'zod';
import { NinesError } from '../errors.ts';
import { severityRank, type Alarm, type AlarmEvaluation, type AlarmSeverity } from './alarms.ts';
import { SECRET_MASK, deepFreeze } from '../spec.ts';
import { issuesToProblems, problemsDetail } from '../validation.ts';

export type TransitionKind = 'raised' | 'escalated' | 'cleared';

/** One change of one alarm, the unit of notification. */
export interface AlarmTransition {
  readonly kind: TransitionKind;
  readonly alarm: Alarm;
  /** Why it happened (the rule's sentence, or why it cleared). */
  readonly reason: string;
  readonly time: number;
}

/** The transitions of an evaluation worth a notification: raises, escalations and clears. */
export function alarmTransitions(evaluation: AlarmEvaluation, time: number): AlarmTransition[] {
  return [
    ...evaluation.raise.map((d) => ({ kind: 'raised' as const, alarm: d.alarm, reason: d.reason, time })),
    ...evaluation.keep
      .filter((d) => d.change === 'escalated')
      .map((d) => ({ kind: 'escalated' as const, alarm: d.alarm, reason: d.reason, time })),
    ...evaluation.clear.map((d) => ({ kind: 'cleared' as const, alarm: d.alarm, reason: d.reason, time })),
  ];
}

/** What was last notified for an alarm key. */
export interface LedgerEntry {
  readonly state: 'raised' | 'cleared';
  readonly severity: AlarmSeverity;
  readonly at: number;
}
export type NotifyLedger = ReadonlyMap<string, LedgerEntry>;

export interface SkippedTransition {
  readonly transition: AlarmTransition;
  readonly reason: string;
}

export interface NotifyDecision {
  /** To send (a 'raised' of an alarm already notified at a lower severity becomes 'escalated'). */
  readonly notify: readonly AlarmTransition[];
  readonly skipped: readonly SkippedTransition[];
  /** The ledger after these notifications. */
  readonly ledger: NotifyLedger;
}

function decideOne(
  t: AlarmTransition,
  entry: LedgerEntry | undefined,
): { send?: AlarmTransition; skip?: string; entry: LedgerEntry } {
  const { key, severity } = t.alarm;
  if (t.kind === 'cleared') {
    const next: LedgerEntry = { state: 'cleared', severity, at: t.time };
    if (entry?.state === 'cleared') return { skip: `${key} already notified as cleared`, entry };
    return { send: t, entry: next };
  }
  const next: LedgerEntry = { state: 'raised', severity, at: t.time };
  if (entry?.state !== 'raised') return { send: t, entry: next };
  if (severityRank(entry.severity) >= severityRank(severity)) {
    return { skip: `${key} already notified as raised (${entry.severity}) and not cleared since`, entry };
  }
  return { send: { ...t, kind: 'escalated' }, entry: next };
}

/**
 * Dedups transitions against the ledger. A clear with no ledger entry is sent (the raise may predate a restart
 * of an in-memory ledger; a redundant "resolved" is better than a missing one).
 */
export function decideNotifications(
  transitions: readonly AlarmTransition[],
  ledger: NotifyLedger,
): NotifyDecision {
  const next = new Map(ledger);
  const notify: AlarmTransition[] = [];
  const skipped: SkippedTransition[] = [];
  for (const t of transitions) {
    const result = decideOne(t, next.get(t.alarm.key));
    next.set(t.alarm.key, result.entry);
    if (result.send) notify.push(result.send);
    else skipped.push({ transition: t, reason: result.skip ?? 'skipped' });
  }
  return { notify, skipped, ledger: next };
}

/** Drops ledger entries of alarms cleared more than maxAgeMs ago (raised ones are kept: they are still open). */
export function pruneLedger(ledger: NotifyLedger, now: number, maxAgeMs: number): NotifyLedger {
  return new Map([...ledger].filter(([, e]) => e.state === 'raised' || now - e.at <= maxAgeMs));
}

export interface ChannelFilter {
  readonly minSeverity: AlarmSeverity;
  /** Only these clusters; all when absent. */
  readonly clusters?: readonly string[];
}

/** Whether a channel wants a transition, with the reason. */
export function channelAccepts(
  filter: ChannelFilter,
  t: AlarmTransition,
): { readonly accept: boolean; readonly reason: string } {
  const { cluster, severity } = t.alarm;
  if (filter.clusters !== undefined && !filter.clusters.includes(cluster)) {
    return { accept: false, reason: `cluster ${cluster} is not in the channel's clusters` };
  }
  if (severityRank(severity) < severityRank(filter.minSeverity)) {
    return {
      accept: false,
      reason: `severity ${severity} below the channel's minimum ${filter.minSeverity}`,
    };
  }
  return { accept: true, reason: `${severity} alarm of cluster ${cluster}` };
}

// --- channel configuration ---

/** No C0 control character or DEL (they would end a header or an SMTP command line). */
const noControl = (v: string): boolean =>
  ![...v].some((c) => c.charCodeAt(0) < 32 || c.charCodeAt(0) === 127);

const name = z
  .string('expected a channel name')
  .regex(/^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$/, 'expected a name of letters, digits, - _ .');
const httpUrl = z
  .string('expected an http(s) URL')
  .max(2048, 'expected at most 2048 characters')
  .refine((s) => /^https?:\/\/[^\s/]+/.test(s) && URL.canParse(s), 'expected an http(s) URL');
const timeoutMs = z
  .number('expected milliseconds')
  .int('expected 100-120000')
  .min(100, 'expected 100-120000')
  .max(120000, 'expected 100-120000');
const common = {
  name,
  minSeverity: z.enum(['warning', 'critical']).default('warning'),
  clusters: z
    .array(
      z.string('expected a cluster name').max(63, 'expected a cluster name'),
      'expected a list of cluster names',
    )
    .max(1000, 'expected at most 1000 clusters')
    .optional(),
  timeoutMs: timeoutMs.default(10000),
};
const email = z
  .string('expected an email address')
  .max(254, 'expected at most 254 characters')
  .regex(/^[^\s@<>]+@[^\s@<>]+$/, 'expected an email address like ops@example.com');

const ChannelSchema = z.discriminatedUnion(
  'kind',
  [
    z.strictObject({
      kind: z.literal('webhook'),
      ...common,
      url: httpUrl,
      headers: z
        .record(
          z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$/, 'expected a header name'),
          z
            .string('expected a header value')
            .max(4096, 'expected at most 4096 characters')
            .refine(noControl, 'expected no control characters'),
          'expected an object',
        )
        .refine((h) => Object.keys(h).length <= 50, 'expected at most 50 headers')
        .optional(),
    }),
    z.strictObject({ kind: z.literal('slack'), ...common, url: httpUrl }),
    z.strictObject({
      kind: z.literal('email'),
      ...common,
      smtp: z.strictObject({
        host: z
          .string('expected a host name')
          .regex(/^[A-Za-z0-9._:[\]-]{1,253}$/, 'expected a host name or IP address'),
        port: z
          .number('expected a port')
          .int('expected 1-65535')
          .min(1, 'expected 1-65535')
          .max(65535, 'expected 1-65535'),
        /** Implicit TLS from the first byte (port 465). */
        secure: z.boolean('expected true or false').default(false),
        /** STARTTLS on a plain connection: used when offered, required, or never used. */
        starttls: z.enum(['opportunistic', 'required', 'disabled']).default('opportunistic'),
        user: z
          .string('expected a user name')
          .min(1, 'expected a user name')
          .max(1024, 'expected at most 1024 characters')
          .refine(noControl, 'expected no control characters')
          .optional(),
        password: z
          .string('expected a password')
          .max(1024, 'expected at most 1024 characters')
          .refine(noControl, 'expected no control characters')
          .optional(),
        /** Verify the server's certificate (turn off only for a lab server with a self-signed certificate). */
        verifyCertificate: z.boolean('expected true or false').default(true),
      }),
      from: email,
      to: z
        .array(email, 'expected a list of email addresses')
        .min(1, 'expected at least 1 recipient')
        .max(100, 'expected at most 100 recipients'),
    }),
  ],
  'expected kind webhook, slack or email',
);
export type ChannelConfigInput = z.input<typeof ChannelSchema>;
export type ChannelConfig = z.output<typeof ChannelSchema>;
export type ChannelKind = ChannelConfig['kind'];
export type WebhookChannelConfig = Extract<ChannelConfig, { kind: 'webhook' }>;
export type SlackChannelConfig = Extract<ChannelConfig, { kind: 'slack' }>;
export type EmailChannelConfig = Extract<ChannelConfig, { kind: 'email' }>;

/** Paths whose values are secret: never echoed in a validation message. */
function isSecretPath(path: readonly PropertyKey[]): boolean {
  const last = path[path.length - 1];
  return last === 'url' || last === 'password' || path.includes('headers');
}

/** Validates a channel and applies defaults; the result is frozen. Throws NINES_E_NOTIFY_CHANNEL_INVALID. */
export function parseChannelConfig(input: unknown): ChannelConfig {
  const parsed = ChannelSchema.safeParse(input, { reportInput: true });
  if (parsed.success) {
    const c = parsed.data;
    if (c.kind === 'email' && (c.smtp.user === undefined) !== (c.smtp.password === undefined)) {
      throw channelInvalid(['smtp.password: expected smtp.user and smtp.password together, got only one']);
    }
    return deepFreeze(c);
  }
  const issues = parsed.error.issues.map((issue) =>
    isSecretPath(issue.path) && 'input' in issue ? ({ ...issue, input: SECRET_MASK } as typeof issue) : issue,
  );
  throw channelInvalid(issuesToProblems(ChannelSchema, issues));
}

function channelInvalid(problems: readonly string[]): NinesError {
  return new NinesError('NINES_E_NOTIFY_CHANNEL_INVALID', problemsDetail(problems), {
    context: { problems },
  });
}

function urlSecrets(raw: string): string[] {
  const out = [raw];
  if (!URL.canParse(raw)) return out;
  const u = new URL(raw);
  const rest = `${u.pathname}${u.search}${u.hash}`;
  if (rest.length > 1) out.push(rest, ...u.pathname.split('/').filter((seg) => seg.length >= 6));
  if (u.password) out.push(u.password, decodeURIComponent(u.password));
  if (u.search.length > 1) out.push(...[...u.searchParams.values()].filter((v) => v.length >= 4));
  return out;
}

/** Every secret string of a channel: redact these from anything shown or logged. */
export function channelSecrets(c: ChannelConfig): string[] {
  switch (c.kind) {
    case 'webhook':
      return [...urlSecrets(c.url), ...Object.values(c.headers ?? {})];
    case 'slack':
      return urlSecrets(c.url);
    case 'email':
      return c.smtp.password ? [c.smtp.password] : [];
  }
}

/** Where a channel sends, without secrets: the URL's origin only, or the SMTP server and recipients. */
export function channelTarget(c: ChannelConfig): string {
  if (c.kind === 'email') return `smtp://${c.smtp.host}:${c.smtp.port} -> ${c.to.join(', ')}`;
  return URL.canParse(c.url) ? `${new URL(c.url).origin}/${SECRET_MASK}` : SECRET_MASK;
}

/** The channel as the API shows it: no URL path, no header values, no password. */
export function describeChannel(c: ChannelConfig): Readonly<Record<string, unknown>> {
  return {
    name: c.name,
    kind: c.kind,
    target: channelTarget(c),
    minSeverity: c.minSeverity,
    ...(c.clusters ? { clusters: c.clusters } : {}),
    timeoutMs: c.timeoutMs,
    ...(c.kind === 'email' && c.smtp.user ? { smtpUser: c.smtp.user, smtpPassword: SECRET_MASK } : {}),
    ...(c.kind === 'webhook' && c.headers ? { headers: Object.keys(c.headers) } : {}),
  };
}

/**
 * Replaces every occurrence of each secret (longest first, at least 4 characters) with "***", and any password in
 * a URL's user-info ("//user:pass@" -> "//user:***@").
 */
export function redactSecrets(text: string, secrets: readonly string[]): string {
  const sorted = [...new Set(secrets)].filter((s) => s.length >= 4).sort((a, b) => b.length - a.length);
  let out = text;
  for (const s of sorted) out = out.split(s).join(SECRET_MASK);
  return out.replace(/(\/\/[^\s/:@]+):[^\s/@]+@/g, `$1:${SECRET_MASK}@`);
}

/** redactSecrets over every string inside a JSON-like value. */
export function redactDeep<T>(value: T, secrets: readonly string[]): T {
  if (typeof value === 'string') return redactSecrets(value, secrets) as T;
  if (Array.isArray(value)) return value.map((v: unknown) => redactDeep(v, secrets)) as T;
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, redactDeep(v as unknown, secrets)]),
    ) as T;
  }
  return value;
}
