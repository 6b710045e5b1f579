// The cluster spec: what the user declares (YAML or JSON), validated by one schema with the defaults inside it,
// unknown keys rejected, cross-field rules checked, the result frozen. Pure: no I/O (the controller checks that
// the SSH key named by ssh.key is registered). docs/spec.md documents every field.
import { randomBytes } from 'node:crypto';
import { LineCounter, isAlias, isNode, parseDocument, visit, type Document } from 'yaml';
import { z } from 'zod';
import { NinesError } from './errors.ts';
import {
  describeValue,
  hostProblem,
  issuesToProblems,
  noControlCharacters,
  problemsDetail,
} from './validation.ts';

export const CLUSTER_TYPES = ['mariadb-replication', 'galera', 'postgres-streaming'] as const;
export type ClusterType = (typeof CLUSTER_TYPES)[number];
export const NODE_ROLES = ['primary', 'replica'] as const;
export type NodeRole = (typeof NODE_ROLES)[number];
export const SECRET_MASK = '***';

/** What each cluster type supports: versions (first = default), ports and the options that apply. */
export const CLUSTER_TYPE_INFO: Readonly<
  Record<
    ClusterType,
    {
      readonly versions: readonly string[];
      readonly defaultVersion: string;
      readonly port: number;
      readonly writePort: number;
      readonly readPort: number;
      readonly options: readonly OptionName[];
    }
  >
> = {
  'mariadb-replication': {
    versions: ['10.6', '10.11', '11.4'],
    defaultVersion: '10.11',
    port: 3306,
    writePort: 3307,
    readPort: 3308,
    options: ['maxLagSeconds', 'semiSync', 'acceptAsyncLoss'],
  },
  galera: {
    versions: ['10.6', '10.11', '11.4'],
    defaultVersion: '10.11',
    port: 3306,
    writePort: 3307,
    readPort: 3308,
    options: ['maxLagSeconds', 'sstMethod', 'gcacheSize'],
  },
  'postgres-streaming': {
    versions: ['13', '14', '15', '16', '17'],
    defaultVersion: '15',
    port: 5432,
    writePort: 5433,
    readPort: 5434,
    options: ['maxLagSeconds', 'synchronous', 'acceptAsyncLoss'],
  },
};

const port = () =>
  z
    .number('expected a port number')
    .int('expected 1-65535')
    .min(1, 'expected 1-65535')
    .max(65535, 'expected 1-65535');
/** Every string of the spec starts with this: no control characters (they could add lines to rendered files). */
const text = (expected: string) => z.string(expected).superRefine(noControlCharacters);
/** A host name or an IP address, nothing else (no port, no spaces, no leading '-'). */
const host = () =>
  z.string('expected a host name or IP address').superRefine((value, ctx) => {
    const problem = hostProblem(value);
    if (problem !== undefined)
      ctx.addIssue({ code: 'custom', message: problem, input: value, continue: false });
  });
/** The length of a refused password, never its value. */
const lengthOf = (issue: { readonly input?: unknown }): string =>
  typeof issue.input === 'string' ? `${issue.input.length}` : 'another length';
const secret = () =>
  text('expected a password string')
    .min(8, { error: (issue) => `expected at least 8 characters, got ${lengthOf(issue)}` })
    .max(128, { error: (issue) => `expected at most 128 characters, got ${lengthOf(issue)}` });
const label = () =>
  text('expected a label').regex(
    /^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$/,
    'expected a label of letters, digits, - _ .',
  );
/** A POSIX-style login name (it reaches SSH and sudo). */
const userName = () =>
  text('expected a user name').regex(
    /^[A-Za-z_][A-Za-z0-9_.-]{0,31}$/,
    'expected a user name (letters, digits, _ . -, not starting with - or a digit, at most 32 characters)',
  );

/** Names of SSH keys registered with the controller (also used in API paths). */
export const SSH_KEY_NAME = /^[a-z0-9]([a-z0-9_.-]{0,61}[a-z0-9])?$/;
export const sshKeyName = () =>
  text('expected the name of a registered SSH key').regex(
    SSH_KEY_NAME,
    'expected a key name of lowercase letters, digits, - _ . (1-63 characters)',
  );

/** Spec fields that named files on the controller: refused with a pointer to the key registry (issue 8). */
const SSH_PATH_FIELDS = ['keyFile', 'knownHostsFile'] as const;

function rejectSshPaths(input: unknown): void {
  const ssh = (input as { ssh?: unknown } | null)?.ssh;
  if (!ssh || typeof ssh !== 'object') return;
  const named = SSH_PATH_FIELDS.filter((f) => f in ssh);
  if (named.length === 0) return;
  throw new NinesError(
    'NINES_E_SSH_KEY_PATH',
    `${named.map((f) => `ssh.${f}`).join(', ')}: paths are not accepted; name a registered key with ssh.key`,
    { context: { fields: named.map((f) => `ssh.${f}`) } },
  );
}

const NodeSchema = z.strictObject({
  host: host().describe('Host name or IP address the controller reaches the node at (SSH and SQL).'),
  port: port().optional().describe('Database port. Default 3306 (MariaDB) or 5432 (PostgreSQL).'),
  role: z.enum(NODE_ROLES).optional().describe('Role hint for the initial topology: primary or replica.'),
  datacenter: label().default('default').describe('Datacenter label, used to prefer local candidates.'),
  priority: z
    .number('expected a number')
    .int('expected 0-1000')
    .min(0, 'expected 0-1000')
    .max(1000, 'expected 0-1000')
    .default(100)
    .describe('Failover priority; higher is preferred, 0 = never promote.'),
});

const OptionsSchema = z.strictObject({
  maxLagSeconds: z
    .number('expected a number')
    .min(0, 'expected 0-86400')
    .max(86400, 'expected 0-86400')
    .optional()
    .describe(
      'Replication lag (seconds) above which a replica is unhealthy and not a failover candidate. Default 30.',
    ),
  semiSync: z
    .boolean('expected true or false')
    .optional()
    .describe('mariadb-replication: semi-synchronous replication.'),
  synchronous: z
    .boolean('expected true or false')
    .optional()
    .describe('postgres-streaming: synchronous replication (synchronous_standby_names).'),
  acceptAsyncLoss: z
    .boolean('expected true or false')
    .optional()
    .describe(
      'mariadb-replication without semiSync, postgres-streaming without synchronous: let automatic failover promote a replica although the unreplicated tail of the old primary may be lost (reported in the failover event). Default false: such a cluster is failed over only by hand (nines cluster failover --force).',
    ),
  sstMethod: z
    .enum(['rsync', 'mariabackup'])
    .optional()
    .describe('galera: state snapshot transfer method. Default rsync.'),
  gcacheSize: text('expected a size like 512M or 1G')
    .regex(/^[1-9][0-9]*[KMG]$/, 'expected a size like 512M or 1G')
    .optional()
    .describe('galera: gcache.size. Default 1G.'),
});
type OptionName = keyof z.infer<typeof OptionsSchema>;

/** The schema of the spec as the user writes it (defaults that depend on the type are applied afterwards). */
export const SpecInputSchema = z.strictObject({
  name: text('expected a cluster name')
    .regex(
      /^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$/,
      'expected a DNS label (lowercase letters, digits and -, 1-63 characters, starting with a letter)',
    )
    .describe('Cluster name: a DNS label, unique in the controller.'),
  type: z.enum(CLUSTER_TYPES).describe('Cluster type.'),
  version: z
    .union([text('expected a version'), z.number()], 'expected a version like 10.11 or 15')
    .optional()
    .describe('Server version. Default 10.11 (MariaDB) or 15 (PostgreSQL).'),
  nodes: z
    .array(NodeSchema, 'expected a list of nodes')
    .min(1, 'expected at least 1 node')
    .max(64, 'expected at most 64 nodes'),
  ssh: z
    .strictObject({
      user: userName().default('root'),
      key: sshKeyName().describe(
        'Name of an SSH private key registered with the controller (nines key add).',
      ),
      port: port().default(22),
    })
    .describe('How the controller logs in to the hosts. Host keys are pinned per cluster by the controller.'),
  credentials: z
    .strictObject({
      admin: secret().optional(),
      replication: secret().optional(),
      monitor: secret().optional(),
    })
    .default({})
    .describe('Passwords of the admin, replication and monitor users; generated when omitted.'),
  options: OptionsSchema.default({}),
  endpoint: z
    .strictObject({
      proxies: z.array(host(), 'expected a list of proxy hosts').min(1, 'expected at least 1 proxy host'),
      writePort: port().optional(),
      readPort: port().optional(),
      virtualIp: text('expected an IPv4 address')
        .regex(/^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/, 'expected an IPv4 address')
        .optional(),
    })
    .optional()
    .describe(
      'Application endpoint: proxies (HAProxy/PgBouncer) with a write port, a read port and an optional VIP.',
    ),
});
export type ClusterSpecInput = z.input<typeof SpecInputSchema>;

export interface NodeSpec {
  readonly host: string;
  readonly port: number;
  readonly role?: NodeRole;
  readonly datacenter: string;
  readonly priority: number;
}
export interface ClusterSpec {
  readonly name: string;
  readonly type: ClusterType;
  readonly version: string;
  readonly nodes: readonly NodeSpec[];
  readonly ssh: {
    readonly user: string;
    /** Name of a key registered with the controller. */
    readonly key: string;
    readonly port: number;
  };
  readonly credentials: { readonly admin: string; readonly replication: string; readonly monitor: string };
  readonly options: {
    readonly maxLagSeconds: number;
    readonly semiSync?: boolean;
    readonly synchronous?: boolean;
    readonly acceptAsyncLoss?: boolean;
    readonly sstMethod?: 'rsync' | 'mariabackup';
    readonly gcacheSize?: string;
  };
  readonly endpoint?: {
    readonly proxies: readonly string[];
    readonly writePort: number;
    readonly readPort: number;
    readonly virtualIp?: string;
  };
}
export type CredentialName = keyof ClusterSpec['credentials'];
export const CREDENTIAL_NAMES: readonly CredentialName[] = ['admin', 'replication', 'monitor'];

export interface SpecResult {
  readonly spec: ClusterSpec;
  /** Things that are allowed but probably wrong (e.g. a Galera cluster of 2 nodes). */
  readonly warnings: readonly string[];
  /** Credentials that were omitted and generated. */
  readonly generated: readonly CredentialName[];
}

export interface ValidateOptions {
  /** Produces a password for an omitted credential (injectable for tests). */
  readonly generateSecret?: () => string;
}

function defaultSecret(): string {
  return randomBytes(18).toString('base64url');
}

type Parsed = z.output<typeof SpecInputSchema>;

function nodeProblems(input: Parsed, problems: string[]): number | undefined {
  const info = CLUSTER_TYPE_INFO[input.type];
  const seen = new Map<string, number>();
  let primary: number | undefined;
  input.nodes.forEach((node, i) => {
    const address = `${node.host}:${node.port ?? info.port}`;
    const first = seen.get(address);
    if (first !== undefined) {
      problems.push(
        `nodes[${i}]: expected a unique host:port, got ${address} (already used by nodes[${first}])`,
      );
    } else seen.set(address, i);
    if (node.role !== 'primary') return;
    if (primary !== undefined) {
      problems.push(
        `nodes[${i}].role: expected at most one primary, got a second one (nodes[${primary}] is primary)`,
      );
    } else primary = i;
  });
  return primary;
}

function endpointProblems(input: Parsed, problems: string[]): void {
  const info = CLUSTER_TYPE_INFO[input.type];
  const ep = input.endpoint;
  if (!ep) return;
  if (ep.virtualIp !== undefined && ep.proxies.length < 2) {
    problems.push(
      `endpoint.virtualIp: expected at least 2 endpoint.proxies to float a virtual IP, got ${ep.proxies.length}`,
    );
  }
  const write = ep.writePort ?? info.writePort;
  const read = ep.readPort ?? info.readPort;
  if (write === read)
    problems.push(`endpoint.readPort: expected a port different from endpoint.writePort, got ${read}`);
  if (new Set(ep.proxies).size !== ep.proxies.length) {
    problems.push('endpoint.proxies: expected distinct hosts, got a host listed twice');
  }
}

function crossFieldProblems(input: Parsed): { problems: string[]; warnings: string[] } {
  const problems: string[] = [];
  const warnings: string[] = [];
  const info = CLUSTER_TYPE_INFO[input.type];
  const version = input.version === undefined ? undefined : String(input.version);
  if (version !== undefined && !info.versions.includes(version)) {
    problems.push(
      `version: expected one of ${info.versions.join('|')} for ${input.type}, got ${describeValue(version)}`,
    );
  }
  const primary = nodeProblems(input, problems);
  for (const key of Object.keys(input.options) as OptionName[]) {
    if (input.options[key] === undefined || info.options.includes(key)) continue;
    const types = CLUSTER_TYPES.filter((t) => CLUSTER_TYPE_INFO[t].options.includes(key)).join(' or ');
    problems.push(`options.${key}: expected only for ${types}, got it for ${input.type}`);
  }
  endpointProblems(input, problems);
  if (input.type === 'galera' && input.nodes.length < 3) {
    warnings.push(
      `nodes: a Galera cluster of ${input.nodes.length} node(s) loses quorum when one node fails; use 3 or more`,
    );
  }
  if (input.type === 'galera' && primary !== undefined) {
    warnings.push(`nodes[${primary}].role: Galera nodes are all writable; the role hint is ignored`);
  }
  if (input.options.synchronous === true && input.nodes.length < 2) {
    warnings.push(
      'options.synchronous: synchronous replication needs a replica; with one node commits would wait forever',
    );
  }
  return { problems, warnings };
}

function normalizeOptions(input: Parsed): ClusterSpec['options'] {
  const o = input.options;
  return {
    maxLagSeconds: o.maxLagSeconds ?? 30,
    ...(input.type === 'mariadb-replication' ? { semiSync: o.semiSync ?? false } : {}),
    ...(input.type === 'postgres-streaming' ? { synchronous: o.synchronous ?? false } : {}),
    ...(input.type !== 'galera' && o.acceptAsyncLoss !== undefined
      ? { acceptAsyncLoss: o.acceptAsyncLoss }
      : {}),
    ...(input.type === 'galera'
      ? { sstMethod: o.sstMethod ?? 'rsync', gcacheSize: o.gcacheSize ?? '1G' }
      : {}),
  };
}

function normalize(
  input: Parsed,
  generate: () => string,
): { spec: ClusterSpec; generated: CredentialName[] } {
  const info = CLUSTER_TYPE_INFO[input.type];
  const generated = CREDENTIAL_NAMES.filter((n) => input.credentials[n] === undefined);
  const credentials = {
    admin: input.credentials.admin ?? generate(),
    replication: input.credentials.replication ?? generate(),
    monitor: input.credentials.monitor ?? generate(),
  };
  const options = normalizeOptions(input);
  const spec: ClusterSpec = {
    name: input.name,
    type: input.type,
    version: input.version === undefined ? info.defaultVersion : String(input.version),
    nodes: input.nodes.map((n) => ({ ...n, port: n.port ?? info.port })),
    ssh: input.ssh,
    credentials,
    options,
    ...(input.endpoint
      ? {
          endpoint: {
            ...input.endpoint,
            writePort: input.endpoint.writePort ?? info.writePort,
            readPort: input.endpoint.readPort ?? info.readPort,
          },
        }
      : {}),
  };
  return { spec: deepFreeze(spec), generated };
}

/** Validates a parsed spec (object from YAML/JSON). Throws one NINES_E_SPEC_INVALID naming every problem. */
export function validateSpec(input: unknown, options: ValidateOptions = {}): SpecResult {
  rejectSshPaths(input);
  const parsed = SpecInputSchema.safeParse(input, { reportInput: true });
  if (!parsed.success) throw specInvalid(issuesToProblems(SpecInputSchema, parsed.error.issues));
  const { problems, warnings } = crossFieldProblems(parsed.data);
  if (problems.length > 0) throw specInvalid(problems);
  const { spec, generated } = normalize(parsed.data, options.generateSecret ?? defaultSecret);
  return { spec, warnings, generated };
}

function specInvalid(problems: readonly string[]): NinesError {
  return new NinesError('NINES_E_SPEC_INVALID', problemsDetail(problems), { context: { problems } });
}

/** Aliases a spec may expand (YAML anchors are handy for repeated node settings; a "billion laughs" is not). */
const MAX_ALIASES = 100;

function parseError(
  source: string,
  detail: string,
  pos: { line: number; col: number } | undefined,
): NinesError {
  const where = pos ? `${source}:${pos.line}:${pos.col}` : source;
  return new NinesError('NINES_E_SPEC_PARSE', `${where}: ${detail}`, {
    context: { source, line: pos?.line, column: pos?.col },
  });
}

/** An alias without an anchor before it, or inside the anchor it names (a cycle): what and where. */
function aliasProblem(doc: Document): { detail: string; offset: number } | undefined {
  const anchors = new Set<string>();
  let found: { detail: string; offset: number } | undefined;
  visit(doc, (_key, node, path) => {
    if (!isNode(node)) return undefined;
    if (isAlias(node)) {
      const offset = node.range?.[0] ?? 0;
      if (path.some((p) => isNode(p) && p.anchor === node.source)) {
        found = { detail: `alias *${node.source} refers to the anchor it is inside (a cycle)`, offset };
      } else if (!anchors.has(node.source)) {
        found = { detail: `alias *${node.source} has no anchor &${node.source} before it`, offset };
      }
      return found ? visit.BREAK : undefined;
    }
    if (node.anchor) anchors.add(node.anchor);
    return undefined;
  });
  return found;
}

/** The first alias node (expansion errors carry no position). */
function firstAlias(doc: Document): number | undefined {
  let offset: number | undefined;
  visit(doc, {
    Alias(_key, node) {
      offset = node.range?.[0];
      return visit.BREAK;
    },
  });
  return offset;
}

/** Parses spec text (YAML, of which JSON is a subset). Syntax and alias errors carry line and column. */
export function parseSpecText(text: string, source = 'spec'): unknown {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true, lineCounter });
  const err = doc.errors[0];
  if (err) {
    const first = (err.message.split('\n')[0] ?? err.message).replace(/ at line \d+, column \d+:?$/, '');
    throw parseError(source, first, err.linePos?.[0]);
  }
  const alias = aliasProblem(doc);
  if (alias) throw parseError(source, alias.detail, lineCounter.linePos(alias.offset));
  try {
    return doc.toJS({ maxAliasCount: MAX_ALIASES }) as unknown;
  } catch {
    // Aliases are resolved and acyclic (checked above): what remains is yaml's exhaustion guard.
    const offset = firstAlias(doc);
    throw parseError(
      source,
      `aliases expand to too many nodes (more than ${MAX_ALIASES}); write the values out or use fewer aliases`,
      offset === undefined ? undefined : lineCounter.linePos(offset),
    );
  }
}

/** parseSpecText + validateSpec. */
export function loadSpec(text: string, source?: string, options?: ValidateOptions): SpecResult {
  return validateSpec(parseSpecText(text, source), options);
}

/** The spec with every credential replaced by "***" (for the store's spec column, logs, events and the API). */
export function redactSpec(spec: ClusterSpec): ClusterSpec {
  return deepFreeze({
    ...spec,
    credentials: { admin: SECRET_MASK, replication: SECRET_MASK, monitor: SECRET_MASK },
  });
}

/** JSON Schema (draft 2020-12) of the spec as users write it, for the OpenAPI document and editors. */
export function specJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(SpecInputSchema, { io: 'input' }) as Record<string, unknown>;
  delete schema.$schema;
  return schema;
}

export function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
