// Keeping secrets out of what nines reports: error messages, hints, contexts and causes, and log lines. Drivers
// and command-line clients may echo a failed statement (and so a password in it); anything that reaches a job
// log, an event, an API response or a log file passes through here with the secrets it could contain.
import { NinesError } from './errors.ts';

/** Replaces each secret in text by ***. */
export function redactText(text: string, secrets: readonly string[] | undefined): string {
  if (!secrets) return text;
  let out = text;
  // Longest first: a secret that contains another is replaced whole.
  for (const s of [...secrets].sort((a, b) => b.length - a.length)) {
    if (s.length > 0) out = out.replaceAll(s, '***');
  }
  return out;
}

/** The forms a credential can take in a report: as given, and escaped inside a SQL string literal. */
export function credentialSecrets(credentials: Readonly<Record<string, string>>): string[] {
  const raw = Object.values(credentials).filter((v) => typeof v === 'string' && v.length > 0);
  const sqlForms = raw.flatMap((v) => [
    v.replaceAll("'", "''"),
    v.replaceAll('\\', '\\\\').replaceAll("'", "''"),
    v.replaceAll('\\', '\\\\').replaceAll("'", "\\'"),
  ]);
  return [...new Set([...raw, ...sqlForms])];
}

function redactValue(value: unknown, secrets: readonly string[], depth: number): unknown {
  if (typeof value === 'string') return redactText(value, secrets);
  if (depth > 4 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => redactValue(v, secrets, depth + 1));
  if (value instanceof Error) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = redactValue(v, secrets, depth + 1);
  return out;
}

/**
 * Removes the secrets from an error in place, through its cause chain: message, stack, and for NinesErrors
 * the hint and context. Returns the same error (rethrow it).
 */
export function redactError<T>(err: T, secrets: readonly string[]): T {
  if (secrets.length === 0) return err;
  const seen = new Set<unknown>();
  for (let e: unknown = err; e instanceof Error && !seen.has(e); e = e.cause) {
    seen.add(e);
    e.message = redactText(e.message, secrets);
    if (e.stack) e.stack = redactText(e.stack, secrets);
    if (e instanceof NinesError) {
      const mutable = e as unknown as { hint: string; context: unknown };
      mutable.hint = redactText(e.hint, secrets);
      mutable.context = redactValue(e.context, secrets, 0);
    }
    // Driver errors carry the statement and the server's text in their own fields.
    const fields = e as unknown as Record<string, unknown>;
    for (const key of ['sql', 'sqlMessage', 'text', 'detail', 'where', 'query']) {
      if (typeof fields[key] === 'string') fields[key] = redactText(fields[key], secrets);
    }
  }
  return err;
}
