// What the failover tests measure with: a write workload through the endpoint that logs every acknowledged write
// (id and time), and a sampler that asks every node directly, again and again, whether it accepts writes. Both
// are bounded (maxMs) and stop by themselves; stop() returns what they saw.
import type { ClusterSpec, ClusterType } from '../../src/core/spec.ts';
import { connectSql as connectMysql, type SqlClient as MysqlClient } from '../../src/engines/mysql/index.ts';
import { connectSql as connectPg, type SqlClient as PgClient } from '../../src/engines/postgres/index.ts';

export interface Endpoint {
  readonly type: ClusterType;
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  readonly database: string;
}

export interface Ack {
  readonly id: number;
  readonly at: number;
}

export interface LoadResult {
  readonly acked: readonly Ack[];
  readonly errors: number;
  /** ids sent whose outcome is unknown (error or timeout after sending). */
  readonly unknown: readonly number[];
}

interface Conn {
  exec(sql: string, params: readonly unknown[]): Promise<void>;
  rows(sql: string): Promise<Record<string, unknown>[]>;
  close(): Promise<void>;
  readonly usable: boolean;
}

async function connect(e: Endpoint, timeoutMs: number): Promise<Conn> {
  if (e.type === 'postgres-streaming') {
    const c: PgClient = await connectPg(
      { host: e.host, port: e.port, user: e.user, password: e.password, database: e.database },
      { connectTimeoutMs: timeoutMs, statementTimeoutMs: timeoutMs, applicationName: 'nines-test-load' },
    );
    return {
      exec: async (sql, params) => {
        await c.query(sql, params);
      },
      rows: (sql) => c.query(sql),
      close: () => c.close(),
      get usable() {
        return !c.closed;
      },
    };
  }
  const c: MysqlClient = await connectMysql(
    { host: e.host, port: e.port, user: e.user, password: e.password },
    { connectTimeoutMs: timeoutMs, queryTimeoutMs: timeoutMs },
  );
  await c.execute(`USE \`${e.database}\``);
  return {
    exec: async (sql, params) => {
      await c.execute(sql, params);
    },
    rows: (sql) => c.query(sql),
    close: () => c.close(),
    get usable() {
      return c.usable;
    },
  };
}

const ph = (type: ClusterType): string => (type === 'postgres-streaming' ? '$1, $2' : '?, ?');

export async function createLoadTable(e: Endpoint): Promise<void> {
  const c = await connect(e, 5000);
  try {
    await c.exec('CREATE TABLE IF NOT EXISTS load_log (id BIGINT PRIMARY KEY, at BIGINT NOT NULL)', []);
  } finally {
    await c.close();
  }
}

/** Ids present in load_log (read on one node). */
export async function presentIds(e: Endpoint): Promise<Set<number>> {
  const c = await connect(e, 5000);
  try {
    const rows = await c.rows('SELECT id FROM load_log');
    return new Set(rows.map((r) => Number(r.id)));
  } finally {
    await c.close();
  }
}

export interface WriteLoad {
  stop(): Promise<LoadResult>;
  /** Acknowledged so far. */
  readonly acked: readonly Ack[];
}

/**
 * INSERTs of increasing ids through `e` at about `rate` per second, one at a time, each bounded by timeoutMs; a
 * fresh connection after any error. Ids start at `firstId` (distinct per run when a table is reused).
 */
export function startWriteLoad(
  e: Endpoint,
  o: { rate: number; maxMs: number; firstId: number; timeoutMs?: number },
): WriteLoad {
  const acked: Ack[] = [];
  const unknown: number[] = [];
  let errors = 0;
  let stopped = false;
  const timeout = o.timeoutMs ?? 1000;
  const deadline = Date.now() + o.maxMs;
  const loop = async (): Promise<void> => {
    let conn: Conn | undefined;
    let id = o.firstId;
    const gap = 1000 / o.rate;
    let next = Date.now();
    while (!stopped && Date.now() < deadline) {
      const wait = next - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      next += gap;
      try {
        if (!conn?.usable) {
          await conn?.close().catch(() => undefined);
          conn = await connect(e, timeout);
        }
      } catch {
        errors++;
        conn = undefined;
        next = Date.now() + 50;
        continue;
      }
      const mine = id++;
      try {
        await conn.exec(`INSERT INTO load_log (id, at) VALUES (${ph(e.type)})`, [mine, Date.now()]);
        acked.push({ id: mine, at: Date.now() });
      } catch {
        errors++;
        unknown.push(mine);
        await conn.close().catch(() => undefined);
        conn = undefined;
        next = Date.now() + 50;
      }
    }
    await conn?.close().catch(() => undefined);
  };
  const running = loop();
  return {
    acked,
    async stop() {
      stopped = true;
      await running;
      return { acked, errors, unknown };
    },
  };
}

/** The longest time between two acknowledged writes (the outage a client saw), and when it started. */
export function longestGap(acked: readonly Ack[]): { ms: number; from: number } {
  let best = { ms: 0, from: 0 };
  for (let i = 1; i < acked.length; i++) {
    const a = acked[i - 1] as Ack;
    const b = acked[i] as Ack;
    if (b.at - a.at > best.ms) best = { ms: b.at - a.at, from: a.at };
  }
  return best;
}

export interface WritableSample {
  readonly at: number;
  /** Nodes (host:port) that answered as writable at that round. */
  readonly writable: readonly string[];
}

/**
 * Asks every node, every `everyMs`, whether it accepts writes (MariaDB @@read_only, PostgreSQL
 * pg_is_in_recovery()), as the admin user; a node that does not answer within the bound counts as not writable
 * in that round (it cannot take a write either).
 */
export function startWritableSampler(
  spec: ClusterSpec,
  o: { everyMs: number; maxMs: number },
): { stop(): Promise<WritableSample[]> } {
  const samples: WritableSample[] = [];
  let stopped = false;
  const deadline = Date.now() + o.maxMs;
  const conns = new Map<string, Conn | undefined>();
  const ask = async (n: ClusterSpec['nodes'][number]): Promise<boolean> => {
    const k = `${n.host}:${n.port}`;
    const pg = spec.type === 'postgres-streaming';
    try {
      let c = conns.get(k);
      if (!c?.usable) {
        c = await connect(
          {
            type: spec.type,
            host: n.host,
            port: n.port,
            user: pg ? 'nines_admin' : 'nines_admin',
            password: spec.credentials.admin,
            database: pg ? 'postgres' : 'mysql',
          },
          Math.max(200, o.everyMs * 2),
        );
        conns.set(k, c);
      }
      const rows = await Promise.race([
        c.rows(pg ? 'SELECT NOT pg_is_in_recovery() AS w' : 'SELECT @@global.read_only = 0 AS w'),
        new Promise<never>((_r, reject) => setTimeout(() => reject(new Error('slow')), o.everyMs * 3)),
      ]);
      const w = rows[0]?.w;
      return w === true || w === 1 || w === '1' || w === 't';
    } catch {
      await conns
        .get(k)
        ?.close()
        .catch(() => undefined);
      conns.set(k, undefined);
      return false;
    }
  };
  const loop = async (): Promise<void> => {
    while (!stopped && Date.now() < deadline) {
      const at = Date.now();
      const answers = await Promise.all(
        spec.nodes.map(async (n) => [`${n.host}:${n.port}`, await ask(n)] as const),
      );
      samples.push({ at, writable: answers.filter(([, w]) => w).map(([k]) => k) });
      const wait = at + o.everyMs - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
    await Promise.all(
      [...conns.values()].map((c) => (c ? c.close().catch(() => undefined) : Promise.resolve())),
    );
  };
  const running = loop();
  return {
    async stop() {
      stopped = true;
      await running;
      return samples;
    },
  };
}
