// postgres-streaming: the pure topology decision of discover, the node probe parser, the exact commands that
// start/stop/clone, and the mapping of driver errors to stable codes.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { validateSpec, type NodeSpec } from '../../../src/core/spec.ts';
import { NinesError, isNinesError } from '../../../src/core/errors.ts';
import { conninfoTarget, topologyFrom, type PgObservation } from '../../../src/engines/postgres/discover.ts';
import { pgPaths } from '../../../src/engines/postgres/config.ts';
import {
  baseBackupArgv,
  createClusterArgv,
  parseProbe,
  serviceArgv,
} from '../../../src/engines/postgres/server.ts';
import { sqlError } from '../../../src/engines/postgres/sql.ts';

const spec = validateSpec({
  name: 'shop',
  type: 'postgres-streaming',
  nodes: [{ host: '10.0.0.1' }, { host: '10.0.0.2' }, { host: '10.0.0.3' }],
  ssh: { key: 'k' },
  credentials: { admin: 'admin-pass', replication: 'repl-pass', monitor: 'mon-pass1' },
}).spec;
const [n1, n2, n3] = spec.nodes as [NodeSpec, NodeSpec, NodeSpec];

const primary = (node: NodeSpec): PgObservation => ({ node, inRecovery: false });
const standby = (node: NodeSpec, sender: string | null, status = 'streaming'): PgObservation => ({
  node,
  inRecovery: true,
  senderHost: sender,
  senderPort: sender ? 5432 : null,
  receiverStatus: sender ? status : null,
  primaryConninfo: `host=${sender ?? '10.0.0.1'} port=5432 user=nines_repl application_name=x`,
});
const down = (node: NodeSpec, code: 'NINES_E_DB_UNREACHABLE' | 'NINES_E_DB_AUTH'): PgObservation => ({
  node,
  error: new NinesError(code, node.host),
});

describe('postgres topology from observations', () => {
  test('a primary and two streaming standbys', () => {
    const t = topologyFrom(spec, [primary(n1), standby(n2, '10.0.0.1'), standby(n3, '10.0.0.1')]);
    assert.deepEqual(t, {
      type: 'postgres-streaming',
      nodes: [
        { host: '10.0.0.1', port: 5432, role: 'primary', readOnly: false, state: 'running' },
        {
          host: '10.0.0.2',
          port: 5432,
          role: 'replica',
          readOnly: true,
          state: 'streaming',
          source: '10.0.0.1:5432',
        },
        {
          host: '10.0.0.3',
          port: 5432,
          role: 'replica',
          readOnly: true,
          state: 'streaming',
          source: '10.0.0.1:5432',
        },
      ],
    });
  });

  test('a standby whose receiver is down: source from primary_conninfo, state disconnected', () => {
    const t = topologyFrom(spec, [primary(n1), standby(n2, null), down(n3, 'NINES_E_DB_UNREACHABLE')]);
    assert.deepEqual(t.nodes.slice(1), [
      {
        host: '10.0.0.2',
        port: 5432,
        role: 'replica',
        readOnly: true,
        state: 'disconnected',
        source: '10.0.0.1:5432',
      },
      { host: '10.0.0.3', port: 5432, role: 'unknown', state: 'unreachable' },
    ]);
  });

  test('two primaries -> NINES_E_TOPOLOGY_INCONSISTENT naming both', () => {
    assert.throws(
      () => topologyFrom(spec, [primary(n1), primary(n2), standby(n3, '10.0.0.1')]),
      (e: unknown) =>
        isNinesError(e, 'NINES_E_TOPOLOGY_INCONSISTENT') &&
        /10\.0\.0\.1:5432, 10\.0\.0\.2:5432/.test(e.message),
    );
  });

  test('a standby following a host outside the spec -> NINES_E_TOPOLOGY_INCONSISTENT', () => {
    assert.throws(
      () => topologyFrom(spec, [primary(n1), standby(n2, '10.9.9.9'), standby(n3, '10.0.0.1')]),
      (e: unknown) => isNinesError(e, 'NINES_E_TOPOLOGY_INCONSISTENT') && e.message.includes('10.9.9.9:5432'),
    );
  });

  test('a refused password wins over everything else; no node answering -> unreachable', () => {
    assert.throws(
      () => topologyFrom(spec, [primary(n1), down(n2, 'NINES_E_DB_AUTH'), primary(n3)]),
      (e: unknown) => isNinesError(e, 'NINES_E_DB_AUTH'),
    );
    assert.throws(
      () =>
        topologyFrom(
          spec,
          spec.nodes.map((n) => down(n, 'NINES_E_DB_UNREACHABLE')),
        ),
      (e: unknown) => isNinesError(e, 'NINES_E_DB_UNREACHABLE'),
    );
  });

  test('conninfoTarget reads host and port', () => {
    assert.deepEqual(conninfoTarget("user=r host=10.0.0.7 port=5440 passfile='/x'"), {
      host: '10.0.0.7',
      port: 5440,
    });
    assert.deepEqual(conninfoTarget(''), {});
  });
});

describe('postgres node commands', () => {
  const paths = pgPaths('15');

  test('probe output parses into flags', () => {
    const p = parseProbe(
      'systemd=0\npackage=1\nconf=1\ndata=1\nstandby_signal=1\nrunning=0\nport_busy=0\nsysid=7312345678901234567\n',
    );
    assert.deepEqual(p, {
      systemd: false,
      packageInstalled: true,
      configExists: true,
      dataExists: true,
      standbySignal: true,
      running: false,
      portBusy: false,
      systemIdentifier: '7312345678901234567',
    });
  });

  test('pg_ctl without systemd, the Debian unit with it', () => {
    assert.deepEqual(serviceArgv(paths, 'start', false), [
      'env',
      '-C',
      '/',
      'runuser',
      '-u',
      'postgres',
      '--',
      '/usr/lib/postgresql/15/bin/pg_ctl',
      '-D',
      '/var/lib/postgresql/15/main',
      '-o',
      '-c config_file=/etc/postgresql/15/main/postgresql.conf',
      '-l',
      '/var/log/postgresql/postgresql-15-main.log',
      '-w',
      '-t',
      '60',
      'start',
    ]);
    assert.deepEqual(serviceArgv(paths, 'stop', false).slice(-6), ['-m', 'fast', '-w', '-t', '60', 'stop']);
    assert.deepEqual(serviceArgv(paths, 'start', true), ['systemctl', 'start', 'postgresql@15-main']);
    assert.deepEqual(serviceArgv(paths, 'reload', true), ['systemctl', 'reload', 'postgresql@15-main']);
  });

  test('pg_basebackup: through the slot, password from the passfile (never in argv)', () => {
    const argv = baseBackupArgv(spec, n2, n1);
    assert.deepEqual(argv, [
      'env',
      '-C',
      '/',
      'runuser',
      '-u',
      'postgres',
      '--',
      'env',
      'PGPASSFILE=/var/lib/postgresql/.pgpass-nines',
      'PGAPPNAME=nines_clone',
      '/usr/lib/postgresql/15/bin/pg_basebackup',
      '-h',
      '10.0.0.1',
      '-p',
      '5432',
      '-U',
      'nines_repl',
      '-D',
      '/var/lib/postgresql/15/main',
      '-X',
      'stream',
      '-S',
      'nines_n10_0_0_2',
      '-c',
      'fast',
      '-w',
    ]);
    assert.ok(!argv.join(' ').includes('repl-pass'));
  });

  test('pg_createcluster: standbys skip fsync', () => {
    assert.deepEqual(createClusterArgv('15', 5433, true).slice(-3), ['15', '5433', '1']);
    assert.deepEqual(createClusterArgv('15', 5432, false).slice(-3), ['15', '5432', '0']);
  });
});

describe('postgres driver errors', () => {
  const target = { host: '10.0.0.1', port: 5432, user: 'nines_admin', password: 'secret-pw' };
  const pgErr = (code: string, message: string): Error => Object.assign(new Error(message), { code });

  test('SQLSTATE 28P01 -> NINES_E_DB_AUTH', () => {
    const e = sqlError(pgErr('28P01', 'password authentication failed for user "nines_admin"'), target);
    assert.equal(e.code, 'NINES_E_DB_AUTH');
    assert.ok(!e.message.includes('secret-pw'));
  });

  test('socket errors, shutdown and connection exceptions -> NINES_E_DB_UNREACHABLE', () => {
    for (const code of ['ECONNREFUSED', 'ETIMEDOUT', 'EHOSTUNREACH', 'EPIPE', '57P01', '57P03', '08006']) {
      assert.equal(sqlError(pgErr(code, 'x'), target).code, 'NINES_E_DB_UNREACHABLE', code);
    }
    assert.equal(
      sqlError(new Error('Connection terminated unexpectedly'), target).code,
      'NINES_E_DB_UNREACHABLE',
    );
  });

  test('other SQLSTATEs -> NINES_E_DB_QUERY with the state and statement in the context', () => {
    const e = sqlError(
      pgErr('25006', 'cannot execute INSERT in a read-only transaction'),
      target,
      'INSERT 1',
    );
    assert.equal(e.code, 'NINES_E_DB_QUERY');
    assert.equal(e.context.sqlState, '25006');
    assert.equal(e.context.statement, 'INSERT 1');
  });
});
