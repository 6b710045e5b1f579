// Turns zod issues into the one problem format nines uses everywhere (spec, config, API input):
//   `<path>: expected <X>, got <Y>`   e.g. `nodes[2].port: expected 1-65535, got 70000`
// Paths are written the way a user would point at the field in YAML/JSON: dots for keys, [n] for list items.
import { z } from 'zod';
import { NinesError, type ErrorCode } from './errors.ts';

export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out === '' ? String(seg) : `.${String(seg)}`;
  }
  return out === '' ? '(root)' : out;
}

/**
 * Control characters no spec string may hold: C0 (NUL, TAB, LF, CR, ESC, ...), DEL, C1 (NEL, ...) and the
 * Unicode line and paragraph separators. Each rendered format (haproxy.cfg, my.cnf, pg_hba.conf, ...) ends a
 * directive at a line break, so one of these in a name or password could add directives to a file.
 */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/u;
const CONTROL_NAMES: Readonly<Record<string, string>> = {
  '\0': '\\0',
  '\t': '\\t',
  '\n': '\\n',
  '\r': '\\r',
};

/** Where the first control character of `value` is (0-based), or -1. */
export function controlCharacterIndex(value: string): number {
  const m = CONTROL_CHARACTER.exec(value);
  return m ? m.index : -1;
}

/** A control character written so a message can show it: "\n", "\t", "\u001b". */
export function escapeControlCharacter(ch: string): string {
  return CONTROL_NAMES[ch] ?? `\\u${(ch.codePointAt(0) ?? 0).toString(16).padStart(4, '0')}`;
}

/** The text with every control character escaped (for messages and comments: never a raw line break). */
export function escapeControlCharacters(value: string): string {
  return value.replace(new RegExp(CONTROL_CHARACTER.source, 'gu'), escapeControlCharacter);
}

/**
 * The problem of a string holding a control character, or undefined. Names the character and its position,
 * never the value (it may be a secret): `expected no control characters (...), got "\n" at position 4`.
 */
export function controlCharacterProblem(value: string): string | undefined {
  const i = controlCharacterIndex(value);
  if (i < 0) return undefined;
  return `expected no control characters (CR, LF, NUL, TAB or other C0/C1), got "${escapeControlCharacter(value.charAt(i))}" at position ${i + 1}`;
}

/**
 * A zod check for every user string: refuses control characters (see controlCharacterProblem) and stops the
 * later checks of that string, so the value is not echoed by their messages.
 */
export function noControlCharacters(value: string, ctx: z.core.$RefinementCtx<string>): void {
  const problem = controlCharacterProblem(value);
  if (problem !== undefined)
    ctx.addIssue({ code: 'custom', message: problem, input: value, continue: false });
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const HOST_LABEL = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

export function isIpv4(value: string): boolean {
  return IPV4.test(value);
}

export function isIpv6(value: string): boolean {
  return z.ipv6().safeParse(value).success;
}

/** A DNS host name (RFC 1123 labels, at most 253 characters, the last label not all digits). */
export function isHostName(value: string): boolean {
  if (value.length > 253) return false;
  const labels = value.split('.');
  return labels.every((l) => HOST_LABEL.test(l)) && !/^\d+$/.test(labels[labels.length - 1] ?? '');
}

/** Why `value` is not a host name or an IP address (without a port), or undefined when it is one. */
export function hostProblem(value: string): string | undefined {
  const control = controlCharacterProblem(value);
  if (control !== undefined) return control;
  if (isIpv4(value) || isIpv6(value) || isHostName(value)) return undefined;
  const got = describeValue(value);
  if (/^(\[[^\]]*\]|[^:]*):\d*$/.test(value)) {
    return `expected a host name or IP address without a port (ports have their own field), got ${got}`;
  }
  return `expected a host name or IP address (letters, digits, '.' and '-', or an IPv4/IPv6 address), got ${got}`;
}

/** A short rendering of a value for "got ..." (never the whole object: it may hold secrets). */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (typeof value === 'string') {
    const shown = value.length > 60 ? `${value.slice(0, 57)}...` : value;
    return `'${escapeControlCharacters(shown)}'`;
  }
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return `a list of ${value.length}`;
  if (typeof value === 'object') return 'an object';
  return typeof value;
}

function typeName(expected: string): string {
  const names: Record<string, string> = {
    object: 'an object',
    array: 'a list',
    string: 'a string',
    number: 'a number',
    int: 'an integer',
    boolean: 'true or false',
  };
  return names[expected] ?? expected;
}

/** The keys an object schema accepts at `path` (for "unknown key" messages), if it is an object there. */
function knownKeysAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] | undefined {
  let current: unknown = schema;
  const unwrap = (s: unknown): unknown => {
    let x = s;
    while (x instanceof z.ZodOptional || x instanceof z.ZodDefault || x instanceof z.ZodNullable) {
      x = x.unwrap();
    }
    return x;
  };
  for (const seg of path) {
    current = unwrap(current);
    if (typeof seg === 'number' && current instanceof z.ZodArray) current = current.element;
    else if (typeof seg === 'string' && current instanceof z.ZodObject) current = current.shape[seg];
    else return undefined;
  }
  current = unwrap(current);
  return current instanceof z.ZodObject ? Object.keys(current.shape) : undefined;
}

function problemOf(schema: z.ZodType, issue: z.core.$ZodIssue, prefix: readonly PropertyKey[]): string[] {
  const path = formatPath([...prefix, ...issue.path]);
  const input = (issue as { input?: unknown }).input;
  switch (issue.code) {
    case 'unrecognized_keys': {
      const known = knownKeysAt(schema, issue.path);
      const expected = known ? `one of ${known.join(', ')}` : 'no other keys';
      return issue.keys.map(
        (key) =>
          `${formatPath([...prefix, ...issue.path, key])}: expected ${expected}, got unknown key '${key}'`,
      );
    }
    case 'invalid_type':
      return [`${path}: expected ${typeName(issue.expected)}, got ${describeValue(input)}`];
    case 'invalid_value':
      return [
        `${path}: expected one of ${issue.values.map((v) => String(v)).join('|')}, got ${describeValue(input)}`,
      ];
    case 'too_small':
    case 'too_big':
    case 'invalid_format':
    case 'not_multiple_of':
    case 'invalid_union':
    case 'invalid_key':
    case 'invalid_element':
    case 'custom':
      // Our schemas phrase these messages as "expected ..." (with their own ", got ..." when the value must not
      // be echoed, e.g. a password); zod's own ones are kept as they are.
      if (issue.message.includes(', got ')) return [`${path}: ${issue.message}`];
      if (issue.message.startsWith('expected '))
        return [`${path}: ${issue.message}, got ${describeValue(input)}`];
      return [`${path}: ${issue.message} (got ${describeValue(input)})`];
  }
}

/** One line per problem, in the order zod found them. */
export function issuesToProblems(
  schema: z.ZodType,
  issues: readonly z.core.$ZodIssue[],
  prefix: readonly PropertyKey[] = [],
): string[] {
  return issues.flatMap((issue) => problemOf(schema, issue, prefix));
}

/** The detail of an error holding several problems: one problem alone, or "N problems: a; b; c". */
export function problemsDetail(problems: readonly string[]): string {
  return problems.length === 1 ? (problems[0] ?? '') : `${problems.length} problems: ${problems.join('; ')}`;
}

/** Parses input with a schema or throws one NinesError naming every problem (list in context.problems). */
export function parseOrThrow<S extends z.ZodType>(
  schema: S,
  input: unknown,
  code: ErrorCode,
  options: { readonly hint?: string; readonly prefix?: readonly PropertyKey[] } = {},
): z.output<S> {
  const result = schema.safeParse(input, { reportInput: true });
  if (result.success) return result.data;
  const problems = issuesToProblems(schema, result.error.issues, options.prefix);
  throw new NinesError(code, problemsDetail(problems), {
    context: { problems },
    ...(options.hint ? { hint: options.hint } : {}),
  });
}
