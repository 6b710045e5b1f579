// Shared output for every nines command: tables for humans, JSON for scripts, errors with code and hint,
// and exit codes that scripts can rely on.
import { isNinesError, toNinesError } from '../core/errors.ts';

export const EXIT = {
  OK: 0,
  /** The operation failed (a NinesError; its code is printed). */
  FAILURE: 1,
  /** The command line was wrong (unknown command or flag, missing argument). */
  USAGE: 2,
  /** A job that the command waited for ended `failed`. */
  JOB_FAILED: 3,
  /** A job that the command waited for ended `cancelled`. */
  JOB_CANCELLED: 4,
  /** The controller's API refused the token (missing, wrong or lacking the role). */
  AUTH: 5,
} as const;

export class UsageError extends Error {
  override name = 'UsageError';
}

/** Prints rows as an aligned table. Columns are the keys of the first row unless given. */
export function printTable(rows: readonly Record<string, unknown>[], columns?: readonly string[]): void {
  const cols = columns ?? Object.keys(rows[0] ?? {});
  if (rows.length === 0) {
    console.log('(none)');
    return;
  }
  const cells = rows.map((r) => cols.map((c) => formatCell(r[c])));
  const widths = cols.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i]?.length ?? 0)));
  const line = (values: readonly string[]): string =>
    values
      .map((v, i) => v.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  console.log(line(cols.map((c) => c.toUpperCase())));
  for (const row of cells) console.log(line(row));
}

function formatCell(value: unknown): string {
  if (value === null || value === undefined) return '-';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}

export function printJson(value: unknown): void {
  console.log(JSON.stringify(value, null, 2));
}

/** Prints an error the way every command does and returns the exit code to use. */
export function reportError(err: unknown, json = false): number {
  if (err instanceof UsageError) {
    console.error(`usage error: ${err.message}`);
    return EXIT.USAGE;
  }
  const e = toNinesError(err);
  if (json) {
    console.error(JSON.stringify({ error: e.toJSON() }));
  } else {
    const problems = e.context.problems;
    if (Array.isArray(problems) && problems.length > 1) {
      console.error(
        `error ${e.code}: ${e.message.split(':')[0] ?? e.message} (${problems.length} problems):`,
      );
      for (const p of problems) console.error(`  - ${String(p)}`);
    } else {
      console.error(`error ${e.code}: ${e.message}`);
    }
    console.error(`hint: ${e.hint}`);
    if (process.env.NINES_DEBUG && e.cause) console.error(e.cause);
  }
  if (isNinesError(err, 'NINES_E_INTERNAL') && !process.env.NINES_DEBUG) {
    console.error('(set NINES_DEBUG=1 for the stack)');
  }
  return e.code === 'NINES_E_INVALID_ARGUMENT' ? EXIT.USAGE : EXIT.FAILURE;
}
