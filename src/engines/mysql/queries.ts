// Query insight of a MariaDB node (replication and Galera) over the admin credentials: top statements from
// performance_schema.events_statements_summary_by_digest (the engines' config enables performance_schema; the
// statements_digest consumer and statement instruments are on by default), running client statements from
// information_schema.PROCESSLIST, and KILL [QUERY] by connection id. Nothing from the caller is concatenated into
// SQL: the order column comes from a fixed table, limit and id are validated integers sent as parameters.
import { NinesError, isNinesError } from '../../core/errors.ts';
import type { NodeSpec } from '../../core/spec.ts';
import type { QueryInsight, RunningQuery, StatementStat } from '../engine.ts';
import { USERS } from './config.ts';
import { CLIENT_RUNNING_FILTER } from './probe.ts';
import { connectSql, sqlErrno, stringOf, type SqlClient, type SqlRow } from './sql.ts';

export type StatementOrder = 'totalTime' | 'calls' | 'rows';

const ORDER_COLUMNS: Readonly<Record<StatementOrder, string>> = {
  totalTime: 'SUM_TIMER_WAIT',
  calls: 'COUNT_STAR',
  rows: 'SUM_ROWS_SENT + SUM_ROWS_AFFECTED',
};

/** Timer columns are in picoseconds. */
export function topStatementsSql(orderBy: StatementOrder): string {
  const order = ORDER_COLUMNS[orderBy];
  return `SELECT DIGEST AS digest, DIGEST_TEXT AS text, SCHEMA_NAME AS db, COUNT_STAR AS calls, SUM_TIMER_WAIT / 1000000000 AS total_ms, AVG_TIMER_WAIT / 1000000000 AS mean_ms, SUM_ROWS_SENT + SUM_ROWS_AFFECTED AS row_count FROM performance_schema.events_statements_summary_by_digest WHERE DIGEST IS NOT NULL ORDER BY ${order} DESC LIMIT ?`;
}

export const RUNNING_QUERIES_SQL = `SELECT ID AS id, USER AS user, HOST AS client, DB AS db, STATE AS state, TIME_MS / 1000 AS seconds, INFO AS text FROM information_schema.PROCESSLIST WHERE ${CLIENT_RUNNING_FILTER} ORDER BY TIME_MS DESC`;

const UNKNOWN_THREAD = 1094;

function num(value: unknown): number {
  const n = Number(stringOf(value));
  return Number.isFinite(n) ? n : 0;
}

function textOrNull(value: unknown): string | null {
  const text = stringOf(value);
  return text === '' ? null : text;
}

export function statementFromRow(row: SqlRow): StatementStat {
  return {
    digest: stringOf(row.digest),
    text: stringOf(row.text),
    schema: textOrNull(row.db),
    calls: num(row.calls),
    totalTimeMs: Math.round(num(row.total_ms) * 1000) / 1000,
    meanTimeMs: Math.round(num(row.mean_ms) * 1000) / 1000,
    rows: num(row.row_count),
  };
}

export function runningQueryFromRow(row: SqlRow): RunningQuery {
  return {
    id: num(row.id),
    user: stringOf(row.user),
    client: textOrNull(row.client),
    database: textOrNull(row.db),
    state: textOrNull(row.state),
    seconds: Math.round(num(row.seconds) * 10) / 10,
    text: stringOf(row.text),
  };
}

/** A positive integer within max, or NINES_E_INVALID_ARGUMENT. */
export function checkedInteger(what: string, value: number, max: number): number {
  if (!Number.isSafeInteger(value) || value < 1 || value > max) {
    throw new NinesError('NINES_E_INVALID_ARGUMENT', `${what}: expected an integer 1-${max}, got ${value}`);
  }
  return value;
}

export interface MariadbInsightOptions {
  readonly galera: boolean;
  /** Per statement. Default 10 s. */
  readonly timeoutMs?: number;
}

/** Query insight of one MariaDB node as the admin user, over one lazily opened connection. */
export function openMariadbQueryInsight(
  node: Pick<NodeSpec, 'host' | 'port'>,
  adminPassword: string,
  options: MariadbInsightOptions,
): QueryInsight {
  const endpoint = { host: node.host, port: node.port, user: USERS.admin, password: adminPassword };
  const timeoutMs = options.timeoutMs ?? 10_000;
  let client: SqlClient | undefined;
  const conn = async (): Promise<SqlClient> => {
    if (client?.usable) return client;
    const c = await connectSql(endpoint, { connectTimeoutMs: timeoutMs, queryTimeoutMs: timeoutMs });
    // Galera: reads keep working on a node outside the Primary component.
    if (options.galera) await c.execute('SET SESSION wsrep_dirty_reads = ON');
    client = c;
    return c;
  };
  return {
    async topStatements({ limit, orderBy }) {
      const n = checkedInteger('limit', limit, 1000);
      const rows = await (await conn()).query(topStatementsSql(orderBy), [n]);
      return rows.map(statementFromRow);
    },
    async runningQueries() {
      const rows = await (await conn()).query(RUNNING_QUERIES_SQL);
      return rows.map(runningQueryFromRow);
    },
    async killQuery(id, opts = {}) {
      const thread = checkedInteger('connection id', id, Number.MAX_SAFE_INTEGER);
      const sql = opts.terminate ? 'KILL CONNECTION ?' : 'KILL QUERY ?';
      try {
        await (await conn()).execute(sql, [thread]);
      } catch (err) {
        if (sqlErrno(err) === UNKNOWN_THREAD) {
          throw new NinesError('NINES_E_NOT_FOUND', `no session ${thread} on ${node.host}:${node.port}`, {
            cause: err,
            context: { host: node.host, port: node.port, id: thread },
          });
        }
        throw isNinesError(err) ? err : new NinesError('NINES_E_DB_QUERY', String(err), { cause: err });
      }
    },
    async close() {
      const c = client;
      client = undefined;
      if (c) await c.close();
    },
  };
}
