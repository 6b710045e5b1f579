// Query insight mapping (pure): digest/pg_stat_statements rows -> StatementStat, processlist/pg_stat_activity
// rows -> RunningQuery, the fixed ORDER BY table, and integer validation of limits and ids.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as my from '../../../src/engines/mysql/queries.ts';
import * as pg from '../../../src/engines/postgres/queries.ts';
import { isNinesError } from '../../../src/core/errors.ts';

test('MariaDB: digest rows (picoseconds already divided in SQL) and processlist rows', () => {
  assert.deepEqual(
    my.statementFromRow({
      digest: 'abc',
      text: 'SELECT ? ',
      db: 'app',
      calls: 200,
      total_ms: '12.3456789',
      mean_ms: '0.0617',
      row_count: 200,
    }),
    {
      digest: 'abc',
      text: 'SELECT ? ',
      schema: 'app',
      calls: 200,
      totalTimeMs: 12.346,
      meanTimeMs: 0.062,
      rows: 200,
    },
  );
  assert.equal(
    my.statementFromRow({ digest: 'x', text: 't', db: null, calls: 1, total_ms: 1, mean_ms: 1, row_count: 0 })
      .schema,
    null,
  );
  assert.deepEqual(
    my.runningQueryFromRow({
      id: 42,
      user: 'app',
      client: '10.0.0.5:5000',
      db: null,
      state: 'User sleep',
      seconds: '3.2567',
      text: 'SELECT SLEEP(30)',
    }),
    {
      id: 42,
      user: 'app',
      client: '10.0.0.5:5000',
      database: null,
      state: 'User sleep',
      seconds: 3.3,
      text: 'SELECT SLEEP(30)',
    },
  );
});

test('MariaDB: ORDER BY comes from a fixed table; LIMIT is a parameter', () => {
  assert.match(my.topStatementsSql('totalTime'), /ORDER BY SUM_TIMER_WAIT DESC LIMIT \?$/);
  assert.match(my.topStatementsSql('calls'), /ORDER BY COUNT_STAR DESC LIMIT \?$/);
  assert.match(my.topStatementsSql('rows'), /ORDER BY SUM_ROWS_SENT \+ SUM_ROWS_AFFECTED DESC LIMIT \?$/);
  assert.match(my.RUNNING_QUERIES_SQL, /ID <> CONNECTION_ID\(\)/);
});

test('ids and limits must be positive safe integers', () => {
  assert.equal(my.checkedInteger('limit', 10, 1000), 10);
  for (const bad of [0, -1, 1.5, Number.NaN, 1001, Number.POSITIVE_INFINITY]) {
    assert.throws(
      () => my.checkedInteger('limit', bad, 1000),
      (e) => isNinesError(e, 'NINES_E_INVALID_ARGUMENT'),
    );
  }
});

test('PostgreSQL: pg_stat_statements and pg_stat_activity rows', () => {
  assert.deepEqual(
    pg.statementFromRow({
      digest: '-123',
      text: 'SELECT $1',
      db: 'postgres',
      calls: 5,
      total_ms: 1.00049,
      mean_ms: 0.2,
      rows: 5,
    }),
    {
      digest: '-123',
      text: 'SELECT $1',
      schema: 'postgres',
      calls: 5,
      totalTimeMs: 1,
      meanTimeMs: 0.2,
      rows: 5,
    },
  );
  assert.deepEqual(
    pg.runningQueryFromRow({
      id: 777,
      user: 'nines_admin',
      client: null,
      db: 'postgres',
      state: 'active',
      seconds: 2.04,
      text: 'SELECT pg_sleep(30)',
    }),
    {
      id: 777,
      user: 'nines_admin',
      client: null,
      database: 'postgres',
      state: 'active',
      seconds: 2,
      text: 'SELECT pg_sleep(30)',
    },
  );
  assert.match(pg.topStatementsSql('totalTime'), /ORDER BY s\.total_exec_time DESC LIMIT \$1$/);
  assert.match(pg.topStatementsSql('rows'), /ORDER BY s\.rows DESC LIMIT \$1$/);
  assert.match(pg.RUNNING_QUERIES_SQL, /backend_type = 'client backend'/);
  assert.match(pg.RUNNING_QUERIES_SQL, /pid <> pg_backend_pid\(\)/);
});
