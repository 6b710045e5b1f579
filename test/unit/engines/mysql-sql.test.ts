// Pure SQL helpers shared by the MariaDB engines: users script, literals, client output parsing, error mapping,
// replication and Galera status parsing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateSpec } from '../../../src/core/spec.ts';
import { isNinesError } from '../../../src/core/errors.ts';
import { renderIni, sqlString } from '../../../src/engines/mysql/config.ts';
import {
  nativePasswordHash,
  specSecrets,
  sqlScript,
  userStatements,
} from '../../../src/engines/mysql/users.ts';
import { parseBatchOutput } from '../../../src/engines/mysql/root-sql.ts';
import { classifySqlError, sqlErrno } from '../../../src/engines/mysql/sql.ts';
import { parseGaleraStatus, parseReplicationState } from '../../../src/engines/mysql/observe.ts';
import { changeMasterScript } from '../../../src/engines/mariadb/replication.ts';
import { parseBackupBinlogInfo } from '../../../src/engines/mariadb/clone.ts';

const spec = validateSpec({
  name: 'shop',
  type: 'mariadb-replication',
  nodes: [{ host: '10.0.0.11' }, { host: '10.0.0.12' }],
  ssh: { key: 'k' },
  credentials: { admin: "adm'in\\pw1", replication: 'repl-secret-1', monitor: 'monitor-secret-1' },
}).spec;

test('users: admin from localhost, controller and nodes; monitor from the controller; repl from nodes', () => {
  const statements = userStatements(spec, '10.0.0.1', { replication: true, sst: false });
  assert.deepEqual(statements.slice(0, 3), [
    `CREATE USER IF NOT EXISTS 'nines_admin'@'localhost' IDENTIFIED BY PASSWORD '${nativePasswordHash("adm'in\\pw1")}'`,
    `ALTER USER 'nines_admin'@'localhost' IDENTIFIED BY PASSWORD '${nativePasswordHash("adm'in\\pw1")}'`,
    "GRANT ALL PRIVILEGES ON *.* TO 'nines_admin'@'localhost' WITH GRANT OPTION",
  ]);
  const grants = statements.filter((s) => s.startsWith('GRANT'));
  assert.deepEqual(grants, [
    "GRANT ALL PRIVILEGES ON *.* TO 'nines_admin'@'localhost' WITH GRANT OPTION",
    "GRANT ALL PRIVILEGES ON *.* TO 'nines_admin'@'10.0.0.1' WITH GRANT OPTION",
    "GRANT ALL PRIVILEGES ON *.* TO 'nines_admin'@'10.0.0.11' WITH GRANT OPTION",
    "GRANT ALL PRIVILEGES ON *.* TO 'nines_admin'@'10.0.0.12' WITH GRANT OPTION",
    "GRANT PROCESS, BINLOG MONITOR, SLAVE MONITOR ON *.* TO 'nines_monitor'@'10.0.0.1'",
    "GRANT SELECT ON performance_schema.* TO 'nines_monitor'@'10.0.0.1'",
    "GRANT REPLICATION SLAVE ON *.* TO 'nines_repl'@'10.0.0.11'",
    "GRANT REPLICATION SLAVE ON *.* TO 'nines_repl'@'10.0.0.12'",
  ]);
  assert.ok(sqlScript(statements).endsWith(';\n'));
  const galera = userStatements(spec, '10.0.0.1', { replication: false, sst: true });
  assert.ok(!galera.some((s) => s.includes('nines_repl')));
  assert.ok(
    galera.includes("GRANT RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR ON *.* TO 'nines_sst'@'localhost'"),
  );
});

test('secrets to redact include the SQL-escaped forms', () => {
  assert.deepEqual(specSecrets(spec).slice(0, 3), ["adm'in\\pw1", 'repl-secret-1', 'monitor-secret-1']);
  assert.ok(specSecrets(spec).includes("adm''in\\\\pw1"));
});

test('sqlString escapes quotes and backslashes and refuses NUL', () => {
  assert.equal(sqlString("a'b\\c"), "'a''b\\\\c'");
  assert.throws(
    () => sqlString('a\0b'),
    (e) => isNinesError(e, 'NINES_E_INVALID_ARGUMENT'),
  );
});

test('renderIni quotes values that need it and refuses line breaks', () => {
  assert.equal(
    renderIni(
      ['h'],
      [
        [
          's',
          [
            ['a', 'x y'],
            ['b', true],
            ['c', 3],
          ],
        ],
      ],
    ),
    '# h\n\n[s]\na = "x y"\nb = ON\nc = 3\n',
  );
  assert.throws(() => renderIni([], [['s', [['a', 'x\ny']]]]));
});

test('parseBatchOutput: header, tab-separated rows, NULL and escapes', () => {
  assert.deepEqual(parseBatchOutput(''), []);
  assert.deepEqual(parseBatchOutput('pos\n\n'), [{ pos: '' }]);
  assert.deepEqual(parseBatchOutput('a\tb\n1\tNULL\nx\\ty\tline\\nbreak\n'), [
    { a: '1', b: null },
    { a: 'x\ty', b: 'line\nbreak' },
  ]);
});

test('CHANGE MASTER uses GTID slave_pos, fast retry and heartbeat; the password is an escaped literal', () => {
  const source = { host: '10.0.0.11', port: 3306, datacenter: 'default', priority: 100 };
  assert.equal(
    changeMasterScript({ ...spec, credentials: { ...spec.credentials, replication: "r'1" } }, source),
    [
      'STOP SLAVE;',
      "CHANGE MASTER TO MASTER_HOST='10.0.0.11', MASTER_PORT=3306, MASTER_USER='nines_repl', MASTER_PASSWORD='r''1', MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1, MASTER_HEARTBEAT_PERIOD=1;",
      'START SLAVE;',
      '',
    ].join('\n'),
  );
});

test('connector errors map to stable codes with the server errno', () => {
  const ep = { host: '10.0.0.11', port: 3306, user: 'u' };
  const auth = classifySqlError(
    { errno: 1045, code: 'ER_ACCESS_DENIED_ERROR', sqlMessage: 'denied', fatal: true },
    ep,
  );
  assert.equal(auth.code, 'NINES_E_DB_AUTH');
  const refused = classifySqlError(
    { code: 'ECONNREFUSED', message: 'connect ECONNREFUSED', fatal: true },
    ep,
  );
  assert.equal(refused.code, 'NINES_E_DB_UNREACHABLE');
  const ro = classifySqlError(
    { errno: 1290, code: 'ER_OPTION_PREVENTS_STATEMENT', sqlMessage: 'read-only' },
    ep,
    'INSERT',
  );
  assert.equal(ro.code, 'NINES_E_DB_QUERY');
  assert.equal(sqlErrno(ro), 1290);
});

test('replication state: a replica and a server without replication', () => {
  const vars = {
    read_only: 1,
    server_id: 7,
    gtid_current_pos: '0-1-5',
    gtid_binlog_pos: '0-1-5',
    gtid_slave_pos: '0-1-5',
  };
  const slave = {
    Master_Host: '10.0.0.11',
    Master_Port: 3306,
    Slave_IO_Running: 'Yes',
    Slave_SQL_Running: 'Yes',
    Seconds_Behind_Master: 0,
    Last_IO_Errno: 0,
    Last_IO_Error: '',
    Last_SQL_Errno: 0,
    Last_SQL_Error: '',
    Using_Gtid: 'Slave_Pos',
    Gtid_IO_Pos: '0-1-5',
  };
  const s = parseReplicationState(vars, [slave]);
  assert.equal(s.readOnly, true);
  assert.deepEqual(
    {
      host: s.replica?.sourceHost,
      port: s.replica?.sourcePort,
      io: s.replica?.ioRunning,
      sql: s.replica?.sqlRunning,
      lag: s.replica?.secondsBehind,
    },
    { host: '10.0.0.11', port: 3306, io: 'Yes', sql: true, lag: 0 },
  );
  assert.equal(parseReplicationState({ ...vars, read_only: 0 }, []).replica, undefined);
  assert.equal(
    parseReplicationState(vars, [{ ...slave, Seconds_Behind_Master: null }]).replica?.secondsBehind,
    null,
  );
});

test('galera status', () => {
  const s = parseGaleraStatus(
    new Map([
      ['wsrep_cluster_status', 'Primary'],
      ['wsrep_local_state_comment', 'Synced'],
      ['wsrep_cluster_size', '3'],
      ['wsrep_ready', 'ON'],
      ['wsrep_incoming_addresses', '10.0.0.11:3306,10.0.0.12:3306,AUTO'],
    ]),
  );
  assert.equal(s.clusterSize, 3);
  assert.deepEqual(s.incomingAddresses, ['10.0.0.11:3306', '10.0.0.12:3306']);
  assert.equal(parseGaleraStatus(new Map()).clusterStatus, 'Disconnected');
});

test('the GTID position of a mariabackup copy', () => {
  assert.equal(parseBackupBinlogInfo('mariadb-bin.000002\t344\t0-1422165024-45\n'), '0-1422165024-45');
  assert.equal(parseBackupBinlogInfo('mariadb-bin.000002\t344\n'), undefined);
});
