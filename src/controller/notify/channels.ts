// Notification channels: a JSON webhook (POST with fetch), a Slack-compatible webhook, and email over SMTP with
// nodemailer. A channel sends one alarm transition or throws a NinesError whose message holds no secret and whose
// context says whether a retry can help (context.retryable).
import { NinesError, isNinesError } from '../../core/errors.ts';
import {
  channelSecrets,
  channelTarget,
  redactSecrets,
  type AlarmTransition,
  type ChannelConfig,
  type ChannelKind,
  type EmailChannelConfig,
  type SlackChannelConfig,
  type WebhookChannelConfig,
} from '../../core/monitor/notify.ts';
import { renderEmail, renderSlack, renderWebhook } from '../../core/monitor/notify-render.ts';

export interface SendResult {
  /** What the endpoint answered, e.g. "HTTP 200" or "250 OK: queued". */
  readonly detail: string;
}

export interface NotificationChannel {
  readonly name: string;
  readonly kind: ChannelKind;
  /** Strings to redact from anything about this channel (URL tokens, header values, the SMTP password). */
  readonly secrets: readonly string[];
  send(t: AlarmTransition, signal: AbortSignal): Promise<SendResult>;
}

function failure(
  channel: { readonly name: string; readonly kind: ChannelKind },
  detail: string,
  context: { readonly retryable: boolean; readonly status?: number; readonly smtpCode?: string | number },
  timeout = false,
): NinesError {
  return new NinesError(
    timeout ? 'NINES_E_NOTIFY_TIMEOUT' : 'NINES_E_NOTIFY_DELIVERY_FAILED',
    `${channel.kind} channel ${channel.name}: ${detail}`,
    { context: { channel: channel.name, kind: channel.kind, ...context } },
  );
}

function causeText(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause as (Error & { code?: string }) | undefined;
  return cause ? `${err.message} (${cause.code ?? cause.message})` : err.message;
}

/** HTTP statuses worth retrying: server errors, request timeout, rate limiting. */
export function retryableStatus(status: number): boolean {
  return status >= 500 || status === 408 || status === 429;
}

async function postJson(
  c: WebhookChannelConfig | SlackChannelConfig,
  secrets: readonly string[],
  body: unknown,
  signal: AbortSignal,
): Promise<SendResult> {
  const timeout = AbortSignal.timeout(c.timeoutMs);
  const headers = {
    'content-type': 'application/json',
    'user-agent': 'nines',
    ...(c.kind === 'webhook' ? c.headers : {}),
  };
  let res: Response;
  try {
    res = await fetch(c.url, {
      method: 'POST',
      headers,
      body: JSON.stringify(body),
      signal: AbortSignal.any([signal, timeout]),
      redirect: 'manual',
    });
    // Drain (and bound) the answer so the connection is reused; its content is not needed.
    await res.arrayBuffer();
  } catch (err) {
    if (timeout.aborted) {
      const detail = `no answer from ${channelTarget(c)} within ${c.timeoutMs} ms`;
      throw failure(c, detail, { retryable: true }, true);
    }
    const detail = redactSecrets(`POST ${channelTarget(c)} failed: ${causeText(err)}`, secrets);
    throw failure(c, detail, { retryable: !signal.aborted });
  }
  if (res.ok) return { detail: `HTTP ${res.status}` };
  const redirect = res.status >= 300 && res.status < 400 ? ' (redirects are not followed)' : '';
  const detail = `POST ${channelTarget(c)} answered HTTP ${res.status}${redirect}`;
  throw failure(c, detail, { retryable: retryableStatus(res.status), status: res.status });
}

export function webhookChannel(c: WebhookChannelConfig | SlackChannelConfig): NotificationChannel {
  const secrets = channelSecrets(c);
  return {
    name: c.name,
    kind: c.kind,
    secrets,
    send: (t, signal) =>
      postJson(c, secrets, c.kind === 'slack' ? renderSlack(t, secrets) : renderWebhook(t, secrets), signal),
  };
}

interface SmtpError extends Error {
  code?: string;
  responseCode?: number;
}

function smtpFailure(c: EmailChannelConfig, secrets: readonly string[], err: unknown): NinesError {
  if (isNinesError(err)) return err;
  const e = (err instanceof Error ? err : new Error(String(err))) as SmtpError;
  const code = e.responseCode ?? e.code;
  // 5xx replies and refused logins do not get better by retrying; 4xx replies and network errors may.
  const permanent = e.code === 'EAUTH' || (e.responseCode !== undefined && e.responseCode >= 500);
  const detail = redactSecrets(`${channelTarget(c)}: ${e.message}`, secrets);
  const context = { retryable: !permanent, ...(code !== undefined ? { smtpCode: code } : {}) };
  return failure(c, detail, context, e.code === 'ETIMEDOUT');
}

export function emailChannel(c: EmailChannelConfig): NotificationChannel {
  const secrets = channelSecrets(c);
  const s = c.smtp;
  const send = async (t: AlarmTransition, signal: AbortSignal): Promise<SendResult> => {
    // Loaded on first use: most controllers never send email, and nodemailer costs ~4 MB of memory.
    const { createTransport } = (await import('nodemailer')).default;
    const transport = createTransport({
      host: s.host,
      port: s.port,
      secure: s.secure,
      requireTLS: s.starttls === 'required',
      ignoreTLS: s.starttls === 'disabled',
      ...(s.user !== undefined ? { auth: { user: s.user, pass: s.password ?? '' } } : {}),
      connectionTimeout: c.timeoutMs,
      greetingTimeout: c.timeoutMs,
      socketTimeout: c.timeoutMs,
      tls: { rejectUnauthorized: s.verifyCertificate },
      disableFileAccess: true,
      disableUrlAccess: true,
    });
    const onAbort = (): void => transport.close();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      const message = renderEmail(t, secrets);
      const info = (await transport.sendMail({
        from: c.from,
        to: [...c.to],
        subject: message.subject,
        text: message.text,
      })) as { response?: string };
      return { detail: redactSecrets(info.response ?? 'accepted', secrets) };
    } catch (err) {
      throw smtpFailure(c, secrets, err);
    } finally {
      signal.removeEventListener('abort', onAbort);
      transport.close();
    }
  };
  return { name: c.name, kind: c.kind, secrets, send };
}

/** The channel implementation for a validated config (see parseChannelConfig). */
export function createChannel(c: ChannelConfig): NotificationChannel {
  switch (c.kind) {
    case 'webhook':
    case 'slack':
      return webhookChannel(c);
    case 'email':
      return emailChannel(c);
  }
}
