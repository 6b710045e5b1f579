// The SQL that creates users (nines' own and the application user) carries no clear password: MariaDB logs user
// management to the binlog (and so to every relay log) as sent, PostgreSQL logs statements by log_statement and
// on errors. Also: secrets are redacted from what a failed command or driver reports.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NinesError, isNinesError } from '../../../src/core/errors.ts';
import { credentialSecrets, redactError } from '../../../src/core/redact.ts';
import { validateSpec, type ClusterSpec } from '../../../src/core/spec.ts';
import { mariadbAppUserSql, postgresAppUserSql } from '../../../src/engines/registry.ts';
import { nativePasswordHash, sqlScript, userStatements } from '../../../src/engines/mysql/users.ts';
import { psql } from '../../../src/engines/postgres/server.ts';
import { FakeExecutor } from '../../support/fake-executor.ts';

const CREDENTIALS = { admin: 'admin-Secret-1', replication: "repl'Secret\\2", monitor: 'monitor-Secret-3' };

function spec(type: 'mariadb-replication' | 'galera' | 'postgres-streaming'): ClusterSpec {
  return validateSpec({
    name: 'shop',
    type,
    nodes: [{ host: '10.0.0.11' }, { host: '10.0.0.12' }],
    ssh: { key: 'k' },
    credentials: CREDENTIALS,
    ...(type === 'galera' ? { options: { sstMethod: 'mariabackup' } } : {}),
  }).spec;
}

function assertNoClearText(sql: string, secrets: readonly string[]): void {
  for (const s of secrets) assert.ok(!sql.includes(s), `clear text ${JSON.stringify(s)} in:\n${sql}`);
}

test('nativePasswordHash is MariaDB PASSWORD(): * + upper hex SHA1(SHA1(pw))', () => {
  assert.equal(nativePasswordHash('password'), '*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19');
  assert.equal(nativePasswordHash(''), '*BE1BDEC0AA74B4DCB079943E70528096CCA985F8');
});

test('nines users (replication and Galera with mariabackup SST): only password hashes in the SQL', () => {
  for (const type of ['mariadb-replication', 'galera'] as const) {
    const statements = userStatements(spec(type), '10.0.0.1', { replication: true, sst: true });
    const script = sqlScript(statements);
    assertNoClearText(script, credentialSecrets(CREDENTIALS));
    const hash = nativePasswordHash(CREDENTIALS.admin);
    assert.ok(
      statements.includes(
        `CREATE USER IF NOT EXISTS 'nines_admin'@'localhost' IDENTIFIED BY PASSWORD '${hash}'`,
      ),
    );
    assert.ok(statements.includes(`ALTER USER 'nines_admin'@'localhost' IDENTIFIED BY PASSWORD '${hash}'`));
    assert.ok(statements.some((s) => s.includes(nativePasswordHash(CREDENTIALS.replication))));
    assert.ok(!/IDENTIFIED BY '/.test(script) && !/PASSWORD\s*\(/i.test(script), script);
  }
});

test('MariaDB application user: hash only', () => {
  const app = { user: 'app', password: "app-Secret'9", database: 'appdb' };
  const sql = mariadbAppUserSql(app);
  assertNoClearText(sql, credentialSecrets({ app: app.password }));
  assert.equal(
    sql,
    [
      'CREATE DATABASE IF NOT EXISTS `appdb`;',
      `CREATE USER IF NOT EXISTS 'app'@'%' IDENTIFIED BY PASSWORD '${nativePasswordHash(app.password)}';`,
      `ALTER USER 'app'@'%' IDENTIFIED BY PASSWORD '${nativePasswordHash(app.password)}';`,
      "GRANT ALL PRIVILEGES ON `appdb`.* TO 'app'@'%';",
      '',
    ].join('\n'),
  );
});

test('PostgreSQL application user: a SCRAM verifier, never PASSWORD with the clear text', () => {
  const app = { user: 'app', password: "app-Secret'9", database: 'appdb' };
  const sql = postgresAppUserSql(app, Buffer.alloc(16, 7));
  assertNoClearText(sql, credentialSecrets({ app: app.password }));
  assert.match(sql, /ALTER ROLE "app" LOGIN PASSWORD 'SCRAM-SHA-256\$4096:BwcHBwcHBwcHBwcHBwcHBw==\$[^']+';/);
});

test('psql: a failure that echoes the statement has every spec credential and given secret redacted', async () => {
  const s = spec('postgres-streaming');
  const node = s.nodes[0];
  assert.ok(node);
  const fake = new FakeExecutor('10.0.0.11').on((argv) => argv.some((a) => a.endsWith('/psql')), {
    exitCode: 3,
    stderr: `ERROR:  syntax error\nLINE 1: ALTER ROLE x PASSWORD 'extra-Secret-5' -- ${CREDENTIALS.admin}\n`,
  });
  const err = await psql(fake, s, node, 'SELECT 1;', { secrets: ['extra-Secret-5'] }).then(
    () => assert.fail('psql succeeded'),
    (e: unknown) => e,
  );
  assert.ok(isNinesError(err, 'NINES_E_COMMAND_FAILED'), String(err));
  const reported = JSON.stringify({ m: err.message, c: err.context });
  assert.ok(!reported.includes('extra-Secret-5') && !reported.includes(CREDENTIALS.admin), reported);
});

test('redactError: message, hint, context and the cause chain, in every SQL-literal form', () => {
  const cause = new Error(`Access denied near 'repl''Secret\\\\2'`);
  const err = new NinesError('NINES_E_DB_QUERY', `ALTER USER x IDENTIFIED BY '${CREDENTIALS.admin}'`, {
    cause,
    context: { statement: `... ${CREDENTIALS.monitor} ...`, nested: { list: [CREDENTIALS.admin] } },
    hint: `try ${CREDENTIALS.admin}`,
  });
  redactError(err, credentialSecrets(CREDENTIALS));
  const all = JSON.stringify({ m: err.message, h: err.hint, c: err.context, cause: cause.message });
  for (const v of Object.values(CREDENTIALS)) assert.ok(!all.includes(v), all);
  assert.ok(!all.includes("repl''Secret"), all);
  assert.match(err.message, /IDENTIFIED BY '\*\*\*'/);
});
