// The users nines creates, as SQL statements (pure). The statements hold passwords: they go to the server on
// the standard input of the `mariadb` client (never in argv) and are never logged.
// Idempotent: CREATE USER IF NOT EXISTS + ALTER USER (keeps the password in step with the spec) + GRANT.
import type { ClusterSpec } from '../../core/spec.ts';
import { USERS, account, nodeHosts, sqlString } from './config.ts';

export interface UserOptions {
  /** The replication user (nines_repl), for mariadb-replication. */
  readonly replication: boolean;
  /** The local SST user (nines_sst), for Galera with mariabackup SST. */
  readonly sst: boolean;
}

function userAt(user: string, host: string, password: string): string[] {
  return [
    `CREATE USER IF NOT EXISTS ${account(user, host)} IDENTIFIED BY ${sqlString(password)}`,
    `ALTER USER ${account(user, host)} IDENTIFIED BY ${sqlString(password)}`,
  ];
}

function unique(values: readonly string[]): string[] {
  return [...new Set(values)];
}

/** Every statement, in order, each without the trailing semicolon. */
export function userStatements(spec: ClusterSpec, controllerAddress: string, options: UserOptions): string[] {
  const nodes = nodeHosts(spec);
  const out: string[] = [];
  for (const host of unique(['localhost', controllerAddress, ...nodes])) {
    out.push(...userAt(USERS.admin, host, spec.credentials.admin));
    out.push(`GRANT ALL PRIVILEGES ON *.* TO ${account(USERS.admin, host)} WITH GRANT OPTION`);
  }
  for (const host of unique([controllerAddress])) {
    out.push(...userAt(USERS.monitor, host, spec.credentials.monitor));
    out.push(`GRANT PROCESS, BINLOG MONITOR, SLAVE MONITOR ON *.* TO ${account(USERS.monitor, host)}`);
    out.push(`GRANT SELECT ON performance_schema.* TO ${account(USERS.monitor, host)}`);
  }
  if (options.replication) {
    for (const host of nodes) {
      out.push(...userAt(USERS.replication, host, spec.credentials.replication));
      out.push(`GRANT REPLICATION SLAVE ON *.* TO ${account(USERS.replication, host)}`);
    }
  }
  if (options.sst) {
    out.push(...userAt(USERS.sst, 'localhost', spec.credentials.replication));
    out.push(
      `GRANT RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR ON *.* TO ${account(USERS.sst, 'localhost')}`,
    );
  }
  return out;
}

/** The statements as one script for the `mariadb` client's standard input. */
export function sqlScript(statements: readonly string[]): string {
  return statements.map((s) => `${s};\n`).join('');
}

/** The secrets of the spec, for redaction of anything a failed command reports. */
export function specSecrets(spec: ClusterSpec): string[] {
  const raw = [spec.credentials.admin, spec.credentials.replication, spec.credentials.monitor];
  // Also as they appear inside SQL literals (a failed statement may be echoed back).
  return [...new Set([...raw, ...raw.map((s) => sqlString(s).slice(1, -1))])];
}
