// Quoting for each PostgreSQL file format nines writes. Every value from the spec goes through one of these;
// control characters are refused (a line break would end the setting or the line; spec validation refuses them
// first), so a value can never add a line to a file.
// - postgresql.conf (guc-file.l): a string in single quotes, '' or \' for a quote, \ escapes (\\ is \).
// - pg_hba.conf (hba.c next_token): words split at spaces, tabs and commas, '#' starts a comment outside
//   double quotes; a double-quoted word keeps all of those and "" is one quote. Quoting a keyword (all,
//   replication, samehost, ...) makes it a plain name, so keywords are written bare by the renderer.
// - .pgpass (libpq passwordFromFile): fields split at ':'; \ escapes the next character (\: and \\).
// - conninfo (libpq conninfo_parse, primary_conninfo): key=value pairs split at whitespace; a value in single
//   quotes may hold spaces, with \' and \\ for a quote and a backslash.
import { NinesError } from '../../core/errors.ts';
import { controlCharacterIndex, escapeControlCharacters } from '../../core/validation.ts';

function refuseControl(value: string, file: string, what: string): void {
  if (controlCharacterIndex(value) < 0) return;
  throw new NinesError('NINES_E_CONFIG_VALUE', `${file}: ${what} holds a control character`, {
    context: { file, field: what },
  });
}

/** A postgresql.conf string value: '...' with \ and ' escaped. */
export function confString(value: string, what = 'value'): string {
  refuseControl(value, 'postgresql.conf', what);
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

/** Words pg_hba.conf reads as keywords when bare (a user or host named "all" must not mean everyone). */
const HBA_KEYWORDS = new Set([
  'all',
  'sameuser',
  'samerole',
  'samegroup',
  'replication',
  'samehost',
  'samenet',
]);

/**
 * One pg_hba.conf token naming a database, user or address: bare when plain and not a keyword, else "..." with
 * "" for " (a quoted token is never a keyword, a +group or an @file).
 */
export function hbaToken(value: string, what = 'value'): string {
  refuseControl(value, 'pg_hba.conf', what);
  const bare = /^[A-Za-z0-9_.:/-]+$/.test(value) && !HBA_KEYWORDS.has(value.toLowerCase());
  return bare ? value : `"${value.replace(/"/g, '""')}"`;
}

/** A .pgpass field: \ and : escaped. */
export function pgpassField(value: string, what = 'value'): string {
  refuseControl(value, '.pgpass', what);
  return value.replace(/[\\:]/g, (c) => `\\${c}`);
}

/** A conninfo value: bare when plain, else '...' with \ and ' escaped. */
export function conninfoValue(value: string, what = 'value'): string {
  refuseControl(value, 'conninfo', what);
  return /^[A-Za-z0-9_.:/,-]+$/.test(value) ? value : `'${value.replace(/[\\']/g, (c) => `\\${c}`)}'`;
}

/** A comment line of any of these files (control characters shown escaped, so it stays one line). */
export function pgComment(text: string): string {
  return `# ${escapeControlCharacters(text)}`;
}
