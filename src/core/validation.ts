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

/** A short rendering of a value for "got ..." (never the whole object: it may hold secrets). */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (typeof value === 'string') return value.length > 60 ? `'${value.slice(0, 57)}...'` : `'${value}'`;
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
      // Our schemas phrase these messages as "expected ..."; zod's own ones are kept as they are.
      if (issue.message.startsWith('expected '))
        return [`${path}: ${issue.message}, got ${describeValue(input)}`];
      if (issue.message.includes(', got ')) return [`${path}: ${issue.message}`];
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
