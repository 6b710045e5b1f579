// The users nines creates, as SQL statements (pure). No statement holds a clear password: user management is
// written to the binlog (and from there to every replica's relay log and binlog, and Galera's GCache) exactly
// as sent, so passwords are given as their mysql_native_password hash, computed here on the controller
// (`IDENTIFIED BY PASSWORD '*...'`; MariaDB stores and logs only the hash). The statements still go to the
// server on the standard input of the `mariadb` client (never in argv) and are never logged.
// Idempotent: CREATE USER IF NOT EXISTS + ALTER USER (keeps the password in step with the spec) + GRANT.
import { createHash } from 'node:crypto';
import { credentialSecrets } from '../../core/redact.ts';
import type { ClusterSpec } from '../../core/spec.ts';
import { USERS, account, nodeHosts, sqlString } from './config.ts';

export interface UserOptions {
  /** The replication user (nines_repl), for mariadb-replication. */
  readonly replication: boolean;
  /** The local SST user (nines_sst), for Galera with mariabackup SST. */
  readonly sst: boolean;
}

/**
 * The mysql_native_password hash of a password, as PASSWORD() computes it: '*' + upper-case hex of
 * SHA1(SHA1(password)) (the password's UTF-8 bytes, the client's utf8mb4).
 */
export function nativePasswordHash(password: string): string {
  const once = createHash('sha1').update(password, 'utf8').digest();
  return `*${createHash('sha1').update(once).digest('hex').toUpperCase()}`;
}

/** `IDENTIFIED BY PASSWORD '*hash'`: sets the password without the clear text in the statement. */
export function identifiedBy(password: string): string {
  return `IDENTIFIED BY PASSWORD ${sqlString(nativePasswordHash(password))}`;
}

/** CREATE USER IF NOT EXISTS + ALTER USER for one account (hash only, see the top of the file). */
export function accountStatements(who: string, password: string): string[] {
  return [
    `CREATE USER IF NOT EXISTS ${who} ${identifiedBy(password)}`,
    `ALTER USER ${who} ${identifiedBy(password)}`,
  ];
}

function userAt(user: string, host: string, password: string): string[] {
  return accountStatements(account(user, host), password);
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
  // Also as they appear inside SQL literals (a failed statement may be echoed back).
  return credentialSecrets(spec.credentials);
}
