// SQL as the server's root user, on the node itself: the `mariadb` client over the unix socket (root@localhost
// authenticates by unix_socket, so no password exists or travels), run through the node's Executor. Used
// before any network user exists (deploy) and for statements that carry passwords (given on stdin).
import type { Executor } from '../../hosts/executor.ts';
import { NinesError, isNinesError } from '../../core/errors.ts';
import { PATHS } from './config.ts';

export interface RootSqlOptions {
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
  /** Redacted from anything reported (the SQL itself is never logged: it travels on stdin). */
  readonly secrets?: readonly string[];
}

export type TextRow = Readonly<Record<string, string | null>>;

const CLIENT = ['mariadb', '--no-defaults', `--socket=${PATHS.socket}`, '--user=root', '--batch'];

/** Unescapes a value of `mariadb --batch` output (\n, \t, \\ and \0 are escaped; NULL is the word NULL). */
export function unescapeBatchValue(value: string): string | null {
  if (value === 'NULL') return null;
  return value.replace(/\\(.)/g, (_m, c: string) => {
    if (c === 'n') return '\n';
    if (c === 't') return '\t';
    if (c === '0') return '\0';
    return c;
  });
}

/**
 * Parses `mariadb --batch` output: a header line of column names, then tab-separated rows. Meant for scripts
 * with one result set (statements without a result set print nothing).
 */
export function parseBatchOutput(stdout: string): TextRow[] {
  // Only the final newline goes: an empty line is a row whose single value is the empty string.
  const lines = stdout.split('\n');
  if (lines.at(-1) === '') lines.pop();
  const header = lines[0];
  if (header === undefined) return [];
  const names = header.split('\t');
  return lines.slice(1).map((line) => {
    const cells = line.split('\t');
    const row: Record<string, string | null> = {};
    names.forEach((name, i) => {
      row[name] = unescapeBatchValue(cells[i] ?? 'NULL');
    });
    return row;
  });
}

/** Runs a script as root over the socket; returns the rows of its (single) result set, if any. */
export async function rootSql(
  executor: Executor,
  script: string,
  options: RootSqlOptions = {},
): Promise<TextRow[]> {
  try {
    const result = await executor.exec(CLIENT, {
      stdin: script,
      timeoutMs: options.timeoutMs ?? 30_000,
      signal: options.signal,
      secrets: options.secrets,
      sudo: true,
    });
    return parseBatchOutput(result.stdout);
  } catch (err) {
    if (isNinesError(err, 'NINES_E_COMMAND_FAILED')) {
      const stderr = typeof err.context.stderr === 'string' ? err.context.stderr : '';
      const errno = /ERROR (\d+)/.exec(stderr)?.[1];
      // The client echoes the failed statement between dashes; keep only its ERROR lines.
      const errors = stderr.split('\n').filter((l) => l.startsWith('ERROR'));
      const detail = errors.length > 0 ? errors.join('; ') : stderr.trim();
      throw new NinesError('NINES_E_DB_QUERY', `${executor.host} (root over the local socket): ${detail}`, {
        cause: err,
        context: { host: executor.host, errno: errno === undefined ? undefined : Number(errno) },
      });
    }
    throw err;
  }
}

/** True when the local server answers (root over the socket); false on any SQL-level failure. */
export async function rootPing(executor: Executor, options: RootSqlOptions = {}): Promise<boolean> {
  try {
    await rootSql(executor, 'SELECT 1 AS ok;\n', { timeoutMs: 10_000, ...options });
    return true;
  } catch (err) {
    if (isNinesError(err, 'NINES_E_DB_QUERY')) return false;
    throw err;
  }
}

/** SHOW GLOBAL STATUS/VARIABLES rows as a lower-cased name -> value map. */
export function textVariables(rows: readonly TextRow[]): ReadonlyMap<string, string> {
  const out = new Map<string, string>();
  for (const row of rows) {
    const name = row.Variable_name;
    if (name) out.set(name.toLowerCase(), row.Value ?? '');
  }
  return out;
}
