// Which engine serves which cluster type, and the few per-engine helpers callers outside engines/ need (the
// demo's application user). A table keyed by type: the only place that maps a type to its implementation.
import { NinesError } from '../core/errors.ts';
import type { ClusterSpec, ClusterType, NodeSpec } from '../core/spec.ts';
import type { Engine, HostAccess, Topology } from './engine.ts';
import { galeraEngine } from './galera/index.ts';
import { mariadbReplicationEngine } from './mariadb/index.ts';
import { randomBytes } from 'node:crypto';
import { rootSql, sqlString } from './mysql/index.ts';
import { accountStatements, sqlScript } from './mysql/users.ts';
import { postgresEngine } from './postgres/index.ts';
import { scramVerifier, sqlIdent, sqlLiteral } from './postgres/config.ts';
import { psql } from './postgres/server.ts';

/** An application user (not one of nines' own users) with all privileges on its own database. */
export interface AppUser {
  readonly user: string;
  readonly password: string;
  readonly database: string;
}

interface Registration {
  readonly engine: Engine;
  /** Creates or updates the application user on the writer node (idempotent). */
  readonly ensureAppUser: (
    hosts: HostAccess,
    spec: ClusterSpec,
    writer: NodeSpec,
    app: AppUser,
  ) => Promise<void>;
}

const SAFE_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** The application user's SQL for MariaDB: the password as its hash only (nothing clear in any binlog). */
export function mariadbAppUserSql(app: AppUser): string {
  const who = `${sqlString(app.user)}@'%'`;
  return sqlScript([
    `CREATE DATABASE IF NOT EXISTS \`${app.database}\``,
    ...accountStatements(who, app.password),
    `GRANT ALL PRIVILEGES ON \`${app.database}\`.* TO ${who}`,
  ]);
}

function mariadbAppUser(
  hosts: HostAccess,
  _spec: ClusterSpec,
  writer: NodeSpec,
  app: AppUser,
): Promise<void> {
  return rootSql(hosts.executor(writer.host), mariadbAppUserSql(app), { secrets: [app.password] }).then(
    () => undefined,
  );
}

/**
 * The application user's SQL for PostgreSQL: the password as a SCRAM-SHA-256 verifier computed here, so the
 * clear text reaches no server log (log_statement, an error's STATEMENT line) and no pg_stat_statements row.
 */
export function postgresAppUserSql(app: AppUser, salt: Buffer): string {
  const user = sqlLiteral(app.user);
  const db = sqlLiteral(app.database);
  return [
    `SELECT format('CREATE ROLE %I LOGIN', ${user}) WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = ${user})\\gexec`,
    `ALTER ROLE ${sqlIdent(app.user)} LOGIN PASSWORD ${sqlLiteral(scramVerifier(app.password, salt))};`,
    `SELECT format('CREATE DATABASE %I OWNER %I', ${db}, ${user}) WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = ${db})\\gexec`,
    '',
  ].join('\n');
}

async function postgresAppUser(hosts: HostAccess, spec: ClusterSpec, writer: NodeSpec, app: AppUser) {
  await psql(hosts.executor(writer.host), spec, writer, postgresAppUserSql(app, randomBytes(16)), {
    secrets: [app.password],
  });
}

const REGISTRY: Readonly<Record<ClusterType, Registration>> = {
  'mariadb-replication': { engine: mariadbReplicationEngine, ensureAppUser: mariadbAppUser },
  galera: { engine: galeraEngine, ensureAppUser: mariadbAppUser },
  'postgres-streaming': { engine: postgresEngine, ensureAppUser: postgresAppUser },
};

function registration(type: ClusterType): Registration {
  const r = REGISTRY[type] as Registration | undefined;
  if (!r) throw new NinesError('NINES_E_INVALID_ARGUMENT', `no engine for cluster type '${String(type)}'`);
  return r;
}

/** The engine of a cluster type. */
export function engineFor(type: ClusterType): Engine {
  return registration(type).engine;
}

/** The node that takes writes in a topology: the primary, or for multi-writer engines the first member. */
export function writerNode(spec: ClusterSpec, topology: Topology): NodeSpec {
  const primary = topology.nodes.find((n) => n.role === 'primary');
  const member = topology.nodes.find((n) => n.role === 'member');
  const pick = primary ?? member;
  const node = pick ? spec.nodes.find((n) => n.host === pick.host && n.port === pick.port) : undefined;
  if (!node) {
    throw new NinesError(
      'NINES_E_TOPOLOGY_INCONSISTENT',
      `cluster ${spec.name} has no node that takes writes`,
    );
  }
  return node;
}

/**
 * Creates (or updates the password of) an application user with every privilege on its own database, on the
 * writer of `topology`. Used by the demo; applications should get narrower grants.
 */
export async function ensureAppUser(
  hosts: HostAccess,
  spec: ClusterSpec,
  topology: Topology,
  app: AppUser,
): Promise<void> {
  if (!SAFE_NAME.test(app.user) || !SAFE_NAME.test(app.database)) {
    throw new NinesError(
      'NINES_E_INVALID_ARGUMENT',
      `application user/database names must match ${SAFE_NAME.source}`,
    );
  }
  await registration(spec.type).ensureAppUser(hosts, spec, writerNode(spec, topology), app);
}
