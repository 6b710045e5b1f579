// Pure rendering of what a PostgreSQL node needs, from the spec: the conf.d drop-in, pg_hba.conf, the standby
// drop-in (primary_conninfo + slot), the replication .pgpass and SCRAM verifiers. No I/O; same spec -> same bytes.
import { createHash, createHmac, pbkdf2Sync } from 'node:crypto';
import type { ClusterSpec, NodeSpec } from '../../core/spec.ts';
import type { ConfigFile } from '../engine.ts';
import { confString, conninfoValue, hbaToken, pgComment, pgpassField } from './syntax.ts';

export const PG_USERS = {
  admin: 'nines_admin',
  replication: 'nines_repl',
  monitor: 'nines_monitor',
} as const;

/** Where Debian's postgresql-common puts a cluster named "main" of a major version. */
export interface PgPaths {
  readonly version: string;
  readonly bin: string;
  readonly confDir: string;
  readonly dataDir: string;
  readonly logFile: string;
  /** Our drop-in with every server setting (Debian's postgresql.conf ends with include_dir = 'conf.d'). */
  readonly mainDropIn: string;
  /** Standbys only: primary_conninfo and primary_slot_name (reloadable, so a repoint is a rewrite + reload). */
  readonly standbyDropIn: string;
  readonly hbaFile: string;
  /** The replication password for pg_basebackup and the WAL receiver (0600, postgres). */
  readonly pgpass: string;
  /** The admin password while pg_rewind runs (0600, postgres; removed afterwards). */
  readonly rewindPgpass: string;
  /** The Debian systemd unit, for hosts where systemd runs. */
  readonly unit: string;
}

export function pgPaths(version: string): PgPaths {
  const confDir = `/etc/postgresql/${version}/main`;
  return {
    version,
    bin: `/usr/lib/postgresql/${version}/bin`,
    confDir,
    dataDir: `/var/lib/postgresql/${version}/main`,
    logFile: `/var/log/postgresql/postgresql-${version}-main.log`,
    mainDropIn: `${confDir}/conf.d/50-nines.conf`,
    standbyDropIn: `${confDir}/conf.d/60-nines-standby.conf`,
    hbaFile: `${confDir}/pg_hba.conf`,
    pgpass: '/var/lib/postgresql/.pgpass-nines',
    rewindPgpass: '/var/lib/postgresql/.pgpass-nines-rewind',
    unit: `postgresql@${version}-main`,
  };
}

/** The node the spec wants as primary: the one with role primary, else the first. */
export function specPrimary(spec: ClusterSpec): NodeSpec {
  const node = spec.nodes.find((n) => n.role === 'primary') ?? spec.nodes[0];
  if (!node) throw new Error('a spec has at least one node');
  return node;
}

/**
 * The node's application_name (pg_stat_replication, synchronous_standby_names): its host made an identifier
 * (lowercase, [a-z0-9_], never starting with a digit), plus the port when it is not 5432.
 */
export function applicationName(node: Pick<NodeSpec, 'host' | 'port'>): string {
  const base = node.host.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  const name = /^[0-9]/.test(base) ? `n${base}` : base;
  return (node.port === 5432 ? name : `${name}_${node.port}`).slice(0, 63);
}

/** The physical replication slot a standby streams from. */
export function slotName(node: Pick<NodeSpec, 'host' | 'port'>): string {
  return `nines_${applicationName(node)}`.slice(0, 63);
}

/** Equal on every node (a standby must not have less than its primary); constant up to 12 nodes. */
export function walSenders(spec: ClusterSpec): number {
  return Math.max(16, spec.nodes.length + 4);
}

/** A SQL string literal (standard_conforming_strings is on, the default: only ' is special). */
function quoteLiteral(value: string): string {
  if (value.includes('\0')) throw new Error('a SQL string literal cannot hold NUL');
  return `'${value.replace(/'/g, "''")}'`;
}

function quoteIdent(value: string): string {
  return `"${value.replace(/"/g, '""')}"`;
}

/** 'ANY 1 ("a", "b", "c")' over every node (a promoted standby keeps a valid list), '' when off. */
export function synchronousStandbyNames(spec: ClusterSpec): string {
  if (spec.options.synchronous !== true || spec.nodes.length < 2) return '';
  return `ANY 1 (${spec.nodes.map((n) => quoteIdent(applicationName(n))).join(', ')})`;
}

/** conf.d/50-nines.conf: the same on every node except listen_addresses and port. */
export function renderMainDropIn(spec: ClusterSpec, node: NodeSpec): string {
  const senders = walSenders(spec);
  const settings: [string, string][] = [
    ['listen_addresses', confString(`${node.host},localhost`, 'listen_addresses')],
    ['port', String(node.port)],
    ['password_encryption', confString('scram-sha-256')],
    // Lab-sized memory; raise for production hosts (it needs a restart).
    ['shared_buffers', confString('32MB')],
    ['shared_preload_libraries', confString('pg_stat_statements')],
    ['pg_stat_statements.track', 'top'],
    ['wal_level', 'replica'],
    // A demoted primary can be rewound (pg_rewind) instead of re-cloned.
    ['wal_log_hints', 'on'],
    ['max_wal_senders', String(senders)],
    ['max_replication_slots', String(senders)],
    // A slot of a standby gone for good must not fill the disk.
    ['max_slot_wal_keep_size', confString('1GB')],
    // pg_rewind reads a former primary's WAL back to the last checkpoint before the timelines forked, and the
    // rewound node then needs the new primary's WAL from the fork on: keep some past WAL on every node so a
    // rejoin finds both instead of falling back to a full base backup.
    ['wal_keep_size', confString('512MB')],
    ['hot_standby', 'on'],
    ['hot_standby_feedback', 'on'],
    // Fast detection of dead peers on both ends of a replication connection.
    ['wal_sender_timeout', confString('5s')],
    ['wal_receiver_timeout', confString('5s')],
    ['wal_receiver_status_interval', confString('1s')],
    ['wal_retrieve_retry_interval', confString('1s')],
    ['tcp_keepalives_idle', '5'],
    ['tcp_keepalives_interval', '2'],
    ['tcp_keepalives_count', '3'],
    ['synchronous_standby_names', confString(synchronousStandbyNames(spec), 'synchronous_standby_names')],
  ];
  return [
    pgComment(`PostgreSQL settings of cluster ${spec.name}, node ${node.host}:${node.port}.`),
    '# Generated by nines: edits are overwritten. Loaded after postgresql.conf (include_dir = conf.d).',
    ...settings.map(([k, v]) => `${k} = ${v}`),
    '',
  ].join('\n');
}

function cidr(address: string): string {
  if (/^\d+\.\d+\.\d+\.\d+$/.test(address)) return `${address}/32`;
  if (address.includes(':')) return `${address}/128`;
  return address; // a host name: pg_hba resolves it
}

/**
 * One pg_hba.conf line; database, user and address are lists of values (each quoted by hbaToken) or a keyword
 * (all, replication, ...), written as it is.
 */
function hbaLine(
  type: string,
  database: string,
  users: string | readonly string[],
  address: string | readonly string[],
  method: string,
): string {
  const list = (v: string | readonly string[], what: string): string =>
    typeof v === 'string' ? v : v.map((x) => hbaToken(x, what)).join(',');
  return [
    type.padEnd(7),
    database.padEnd(12),
    list(users, 'user').padEnd(14),
    list(address, 'address').padEnd(18),
    method,
  ]
    .join(' ')
    .trimEnd();
}

function unique(values: readonly string[]): string[] {
  return [...new Set(values)];
}

/** pg_hba.conf: the cluster's own addresses only, scram-sha-256 everywhere, nothing else. */
export function renderHba(spec: ClusterSpec, controllerAddress?: string): string {
  const nodes = unique(spec.nodes.map((n) => n.host));
  const controller = controllerAddress === undefined ? [] : [controllerAddress];
  const admins = unique([...nodes, ...controller]);
  const proxies = unique(spec.endpoint?.proxies ?? []);
  const scram = 'scram-sha-256';
  const ours = Object.values(PG_USERS);
  const lines = [
    pgComment(`pg_hba.conf of cluster ${spec.name}. Generated by nines: edits are overwritten.`),
    '# Only the cluster nodes, the controller and the endpoint proxies may connect.',
    hbaLine('# TYPE', 'DATABASE', 'USER', 'ADDRESS', 'METHOD'),
    hbaLine('local', 'all', ['postgres'], '', 'peer'),
    ...nodes.map((a) => hbaLine('host', 'replication', [PG_USERS.replication], [cidr(a)], scram)),
    ...admins.map((a) => hbaLine('host', 'all', [PG_USERS.admin], [cidr(a)], scram)),
    ...controller.map((a) => hbaLine('host', 'all', [PG_USERS.monitor], [cidr(a)], scram)),
  ];
  if (proxies.length > 0) {
    lines.push(
      '# Applications through the endpoint proxies (never as the nines users).',
      hbaLine('host', 'all', ours, 'all', 'reject'),
      ...proxies.map((a) => hbaLine('host', 'all', 'all', [cidr(a)], scram)),
    );
  }
  return `${lines.join('\n')}\n`;
}

/** conf.d/60-nines-standby.conf of a standby of `primary`. Reloadable: repointing = rewrite + reload. */
export function renderStandbyDropIn(spec: ClusterSpec, node: NodeSpec, primary: NodeSpec): string {
  const paths = pgPaths(spec.version);
  const conninfo = [
    `host=${conninfoValue(primary.host, 'host')}`,
    `port=${primary.port}`,
    `user=${conninfoValue(PG_USERS.replication, 'user')}`,
    `passfile=${conninfoValue(paths.pgpass, 'passfile')}`,
    `application_name=${conninfoValue(applicationName(node), 'application_name')}`,
    'connect_timeout=3',
    'keepalives_idle=5',
    'keepalives_interval=2',
    'keepalives_count=3',
  ].join(' ');
  return [
    pgComment(`Standby of ${primary.host}:${primary.port} (cluster ${spec.name}). Generated by nines.`),
    `primary_conninfo = ${confString(conninfo, 'primary_conninfo')}`,
    `primary_slot_name = ${confString(slotName(node), 'primary_slot_name')}`,
    '',
  ].join('\n');
}

/** The .pgpass of the replication user (holds a secret: mode 0600, never logged). */
export function renderPgpass(spec: ClusterSpec): string {
  const user = pgpassField(PG_USERS.replication, 'user');
  return `*:*:*:${user}:${pgpassField(spec.credentials.replication, 'credentials.replication')}\n`;
}

/**
 * A passfile for the admin user (pg_rewind reads the source's files as a superuser). Holds a secret: written
 * 0600 just before pg_rewind runs and removed right after.
 */
export function renderAdminPgpass(spec: ClusterSpec): string {
  const user = pgpassField(PG_USERS.admin, 'user');
  return `*:*:*:${user}:${pgpassField(spec.credentials.admin, 'credentials.admin')}\n`;
}

/** Every non-secret file of the node, the standby drop-in for nodes other than the spec's primary. */
export function renderNodeFiles(
  spec: ClusterSpec,
  node: NodeSpec,
  controllerAddress: string | undefined,
  primary: NodeSpec = specPrimary(spec),
): ConfigFile[] {
  const paths = pgPaths(spec.version);
  const file = (path: string, content: string): ConfigFile => ({
    path,
    content,
    mode: 0o644,
    owner: 'postgres:postgres',
  });
  const files = [
    file(paths.mainDropIn, renderMainDropIn(spec, node)),
    { ...file(paths.hbaFile, renderHba(spec, controllerAddress)), mode: 0o640 },
  ];
  if (primary.host !== node.host || primary.port !== node.port) {
    files.push(file(paths.standbyDropIn, renderStandbyDropIn(spec, node, primary)));
  }
  return files;
}

/**
 * A SCRAM-SHA-256 verifier (what CREATE ROLE ... PASSWORD stores), so the clear password never reaches the
 * server's statement log. Pure given the salt. ASCII passwords only need no SASLprep; others are NFKC-normalized.
 */
export function scramVerifier(password: string, salt: Buffer, iterations = 4096): string {
  const salted = pbkdf2Sync(password.normalize('NFKC'), salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

export { quoteLiteral as sqlLiteral, quoteIdent as sqlIdent };

/** Salts of the three SCRAM verifiers (injectable so unit tests get exact SQL). */
export type SaltSource = (user: string) => Buffer;

/**
 * SQL run once the primary is up, as the local postgres superuser (stdin of psql, never argv): the nines users
 * with SCRAM verifiers, pg_stat_statements, the deploy-check table and a physical slot per standby. Idempotent;
 * synchronous_commit=local so it never waits for a standby that is not attached yet.
 */
export function renderPrimarySetupSql(
  spec: ClusterSpec,
  salt: SaltSource,
  primary = specPrimary(spec),
): string {
  const users = Object.values(PG_USERS);
  const verifier = (user: string, password: string): string =>
    quoteLiteral(scramVerifier(password, salt(user)));
  const slots = spec.nodes
    .filter((n) => n.host !== primary.host || n.port !== primary.port)
    .map((n) => slotName(n));
  return [
    'SET synchronous_commit = local;',
    'DO $nines$ BEGIN',
    ...users.map(
      (u) =>
        `  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = ${quoteLiteral(u)}) THEN CREATE ROLE ${u}; END IF;`,
    ),
    'END $nines$;',
    `ALTER ROLE ${PG_USERS.admin} WITH LOGIN SUPERUSER PASSWORD ${verifier(PG_USERS.admin, spec.credentials.admin)};`,
    `ALTER ROLE ${PG_USERS.replication} WITH LOGIN REPLICATION PASSWORD ${verifier(PG_USERS.replication, spec.credentials.replication)};`,
    `ALTER ROLE ${PG_USERS.monitor} WITH LOGIN PASSWORD ${verifier(PG_USERS.monitor, spec.credentials.monitor)};`,
    `GRANT pg_monitor TO ${PG_USERS.monitor};`,
    'CREATE EXTENSION IF NOT EXISTS pg_stat_statements;',
    'CREATE SCHEMA IF NOT EXISTS nines;',
    'CREATE TABLE IF NOT EXISTS nines.marker (id text PRIMARY KEY, token text NOT NULL, at timestamptz NOT NULL DEFAULT now());',
    ...slots.map((s) => createSlotSql(s)),
    '',
  ].join('\n');
}

/**
 * Creates a physical slot that reserves WAL at once (idempotent). Without immediately_reserve a slot holds no WAL
 * until a standby first uses it, so a checkpoint (another clone's, say) can recycle the segments a pg_basebackup
 * still has to stream. A slot left unused and unreserved by an older attempt is replaced.
 */
export function createSlotSql(slot: string): string {
  const name = quoteLiteral(slot);
  return [
    `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = ${name} AND restart_lsn IS NULL AND NOT active;`,
    `SELECT pg_create_physical_replication_slot(${name}, true) WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = ${name});`,
  ].join('\n');
}
