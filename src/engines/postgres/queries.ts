// Query insight of a PostgreSQL node over the admin credentials: top statements from pg_stat_statements (the
// engine preloads it and creates the extension in the `postgres` database), running client statements from
// pg_stat_activity, and pg_cancel_backend / pg_terminate_backend. Nothing from the caller is concatenated into
// SQL: the order column comes from a fixed table, limit and pid are validated integers sent as parameters.
import { NinesError } from '../../core/errors.ts';
import type { ClusterSpec, NodeSpec } from '../../core/spec.ts';
import type { QueryInsight, RunningQuery, StatementStat } from '../engine.ts';
import { PG_USERS } from './config.ts';
import { connectSql, type SqlClient } from './sql.ts';

export type StatementOrder = 'totalTime' | 'calls' | 'rows';

const ORDER_COLUMNS: Readonly<Record<StatementOrder, string>> = {
  totalTime: 'total_exec_time',
  calls: 'calls',
  rows: 'rows',
};

export function topStatementsSql(orderBy: StatementOrder): string {
  return `SELECT s.queryid::text AS digest, s.query AS text, d.datname AS db, s.calls::float8 AS calls,
  s.total_exec_time AS total_ms, s.mean_exec_time AS mean_ms, s.rows::float8 AS rows
FROM pg_stat_statements s LEFT JOIN pg_database d ON d.oid = s.dbid
WHERE s.queryid IS NOT NULL
ORDER BY s.${ORDER_COLUMNS[orderBy]} DESC LIMIT $1`;
}

export const RUNNING_QUERIES_SQL = `SELECT pid AS id, usename AS user, host(client_addr) AS client, datname AS db, state,
  EXTRACT(EPOCH FROM now() - COALESCE(query_start, backend_start))::float8 AS seconds, query AS text
FROM pg_stat_activity
WHERE backend_type = 'client backend' AND state IS NOT NULL AND state <> 'idle' AND pid <> pg_backend_pid()
ORDER BY query_start NULLS LAST`;

interface StatementRow {
  digest: string;
  text: string | null;
  db: string | null;
  calls: number;
  total_ms: number;
  mean_ms: number;
  rows: number;
}

interface ActivityRow {
  id: number;
  user: string | null;
  client: string | null;
  db: string | null;
  state: string | null;
  seconds: number | null;
  text: string | null;
}

const round3 = (n: number): number => Math.round(n * 1000) / 1000;

export function statementFromRow(row: StatementRow): StatementStat {
  return {
    digest: row.digest,
    text: row.text ?? '',
    schema: row.db,
    calls: Number(row.calls),
    totalTimeMs: round3(Number(row.total_ms)),
    meanTimeMs: round3(Number(row.mean_ms)),
    rows: Number(row.rows),
  };
}

export function runningQueryFromRow(row: ActivityRow): RunningQuery {
  return {
    id: Number(row.id),
    user: row.user ?? '',
    client: row.client,
    database: row.db,
    state: row.state,
    seconds: Math.round(Math.max(0, Number(row.seconds ?? 0)) * 10) / 10,
    text: row.text ?? '',
  };
}

function checkedInteger(what: string, value: number, max: number): number {
  if (!Number.isSafeInteger(value) || value < 1 || value > max) {
    throw new NinesError('NINES_E_INVALID_ARGUMENT', `${what}: expected an integer 1-${max}, got ${value}`);
  }
  return value;
}

/** Query insight of one PostgreSQL node as the admin user, over one lazily opened connection. */
export function openPostgresQueryInsight(spec: ClusterSpec, node: NodeSpec): QueryInsight {
  const target = { host: node.host, port: node.port, user: PG_USERS.admin, password: spec.credentials.admin };
  let client: SqlClient | undefined;
  const conn = async (): Promise<SqlClient> => {
    if (client && !client.closed) return client;
    client = await connectSql(target, { statementTimeoutMs: 10_000, applicationName: 'nines-insight' });
    return client;
  };
  return {
    async topStatements({ limit, orderBy }) {
      const n = checkedInteger('limit', limit, 1000);
      const rows = await (await conn()).query<StatementRow>(topStatementsSql(orderBy), [n]);
      return rows.map(statementFromRow);
    },
    async runningQueries() {
      const rows = await (await conn()).query<ActivityRow>(RUNNING_QUERIES_SQL);
      return rows.map(runningQueryFromRow);
    },
    async killQuery(id, opts = {}) {
      // pids are 32-bit integers.
      const pid = checkedInteger('backend pid', id, 2 ** 31 - 1);
      const sql = opts.terminate
        ? 'SELECT pg_terminate_backend($1::int) AS ok'
        : 'SELECT pg_cancel_backend($1::int) AS ok';
      const [row] = await (await conn()).query<{ ok: boolean }>(sql, [pid]);
      if (row?.ok !== true) {
        throw new NinesError('NINES_E_NOT_FOUND', `no backend ${pid} on ${node.host}:${node.port}`, {
          context: { host: node.host, port: node.port, id: pid },
        });
      }
    },
    async close() {
      const c = client;
      client = undefined;
      if (c) await c.close();
    },
  };
}
