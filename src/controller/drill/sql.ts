// The drill's SQL, per cluster type: the drill user's writes through the endpoint, and the admin user's
// writability poll and id read-back directly on each node. A table keyed by type (data, like
// engines/registry.ts): the drill itself never branches on the engine. Every call is bounded; a connection that
// missed its bound is closed in the background and never used again.
//
// This belongs behind the Engine interface one day (a "workload client" per engine); it lives here because the
// drill is its only user so far.
import { NinesError, toNinesError } from '../../core/errors.ts';
import type { ClusterSpec, ClusterType, NodeSpec } from '../../core/spec.ts';
import type { AppUser } from '../../engines/registry.ts';
import { adminEndpoint, connectSql as connectMysql } from '../../engines/mysql/index.ts';
import { connectSql as connectPg } from '../../engines/postgres/index.ts';
import { adminTarget } from '../../engines/postgres/common.ts';

/** The drill's table, in the drill user's own database. */
export const DRILL_TABLE = 'writes';

export interface DrillConnection {
  /** False once closed, broken or timed out: open a new one. */
  readonly usable: boolean;
  /** Never throws; does not wait for a server that does not answer. */
  close(): void;
}

export interface AppConnection extends DrillConnection {
  /** Inserts `id`, bounded by timeoutMs (default: the connection's timeout). */
  insert(id: number, timeoutMs?: number): Promise<void>;
}

export interface AdminConnection extends DrillConnection {
  /** Whether the node accepts writes now (MariaDB read_only=OFF; PostgreSQL not in recovery). */
  writable(): Promise<boolean>;
  /** Ids of the drill table in [from, to] (the drill database). */
  ids(from: number, to: number): Promise<number[]>;
}

export interface DrillSql {
  /** As the drill user, through `target` (the endpoint's write port), into its database. */
  openApp(target: { host: string; port: number }, app: AppUser, timeoutMs: number): Promise<AppConnection>;
  /** As the cluster's admin user, directly on `node` (in `database` when given). */
  openAdmin(
    spec: ClusterSpec,
    node: NodeSpec,
    timeoutMs: number,
    database?: string,
  ): Promise<AdminConnection>;
  /** Drops and creates the drill table, as the drill user through the endpoint. */
  createTable(target: { host: string; port: number }, app: AppUser, timeoutMs: number): Promise<void>;
}

class Timeout extends Error {}

/** Runs work within ms; on timeout calls `giveUp` (close the connection) and throws NINES_E_DB_UNREACHABLE. */
export async function within<T>(work: Promise<T>, ms: number, what: string, giveUp: () => void): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Timeout()), ms);
  });
  try {
    return await Promise.race([work, deadline]);
  } catch (err) {
    if (err instanceof Timeout) {
      giveUp();
      work.catch(() => undefined); // its late failure has nobody to tell
      throw new NinesError('NINES_E_DB_UNREACHABLE', `${what}: no answer within ${ms} ms`);
    }
    throw toNinesError(err);
  } finally {
    clearTimeout(timer);
  }
}

/** A connect that may resolve after we gave up on it: the late connection is closed at once. */
async function connectWithin<C extends { close(): Promise<void> }>(
  open: Promise<C>,
  ms: number,
  what: string,
): Promise<C> {
  let abandoned = false;
  void open.then(
    (c) => {
      if (abandoned) void c.close().catch(() => undefined);
    },
    () => undefined,
  );
  return within(open, ms, what, () => {
    abandoned = true;
  });
}

/** Shared shape of both dialects: a connection that turns unusable on the first failure. */
function guarded<T extends object>(
  address: string,
  live: () => boolean,
  closeClient: () => Promise<void>,
  make: (run: <R>(work: () => Promise<R>, ms: number, what: string) => Promise<R>) => T,
): T & DrillConnection {
  let dead = false;
  const close = (): void => {
    dead = true;
    void closeClient().catch(() => undefined);
  };
  const run = async <R>(work: () => Promise<R>, ms: number, what: string): Promise<R> => {
    try {
      return await within(work(), ms, `${address}: ${what}`, close);
    } catch (err) {
      close();
      throw err;
    }
  };
  return Object.assign(make(run), {
    get usable() {
      return !dead && live();
    },
    close,
  });
}

const mysqlIdent = (name: string): string => `\`${name.replaceAll('`', '``')}\``;

const mysqlDialect: DrillSql = {
  async openApp(target, app, timeoutMs) {
    const endpoint = { host: target.host, port: target.port, user: app.user, password: app.password };
    const address = `${target.host}:${target.port}`;
    const c = await connectWithin(
      connectMysql(endpoint, { connectTimeoutMs: timeoutMs, queryTimeoutMs: timeoutMs }),
      timeoutMs,
      `${address}: connect`,
    );
    const table = `${mysqlIdent(app.database)}.${mysqlIdent(DRILL_TABLE)}`;
    return guarded(
      address,
      () => c.usable,
      () => c.close(),
      (run) => ({
        insert: async (id: number, ms = timeoutMs) => {
          await run(
            () => c.execute(`INSERT INTO ${table} (id) VALUES (?)`, [id], { timeoutMs: ms }),
            ms,
            'insert',
          );
        },
      }),
    );
  },
  async openAdmin(spec, node, timeoutMs, database) {
    const address = `${node.host}:${node.port}`;
    const c = await connectWithin(
      connectMysql(adminEndpoint(spec, node), { connectTimeoutMs: timeoutMs, queryTimeoutMs: timeoutMs }),
      timeoutMs,
      `${address}: connect`,
    );
    const table = `${mysqlIdent(database ?? '')}.${mysqlIdent(DRILL_TABLE)}`;
    return guarded(
      address,
      () => c.usable,
      () => c.close(),
      (run) => ({
        writable: async () => {
          const rows = await run(() => c.query('SELECT @@global.read_only AS ro'), timeoutMs, 'read_only');
          return Number(rows[0]?.ro) === 0;
        },
        ids: async (from: number, to: number) => {
          const rows = await run(
            () => c.query(`SELECT id FROM ${table} WHERE id BETWEEN ? AND ?`, [from, to]),
            timeoutMs,
            'read ids',
          );
          return rows.map((r) => Number(r.id));
        },
      }),
    );
  },
  async createTable(target, app, timeoutMs) {
    const endpoint = { host: target.host, port: target.port, user: app.user, password: app.password };
    const c = await connectMysql(endpoint, { connectTimeoutMs: timeoutMs, queryTimeoutMs: timeoutMs });
    try {
      const table = `${mysqlIdent(app.database)}.${mysqlIdent(DRILL_TABLE)}`;
      await c.execute(`DROP TABLE IF EXISTS ${table}`);
      await c.execute(`CREATE TABLE ${table} (id BIGINT NOT NULL PRIMARY KEY) ENGINE=InnoDB`);
    } finally {
      await c.close();
    }
  },
};

const pgIdent = (name: string): string => `"${name.replaceAll('"', '""')}"`;

const postgresDialect: DrillSql = {
  async openApp(target, app, timeoutMs) {
    const address = `${target.host}:${target.port}`;
    const c = await connectWithin(
      connectPg(
        { ...target, user: app.user, password: app.password, database: app.database },
        { connectTimeoutMs: timeoutMs, statementTimeoutMs: timeoutMs, applicationName: 'nines-drill' },
      ),
      timeoutMs,
      `${address}: connect`,
    );
    return guarded(
      address,
      () => !c.closed,
      () => c.close(),
      (run) => ({
        insert: async (id: number, ms = timeoutMs) => {
          await run(
            () => c.query(`INSERT INTO ${pgIdent(DRILL_TABLE)} (id) VALUES ($1)`, [id]),
            ms,
            'insert',
          );
        },
      }),
    );
  },
  async openAdmin(spec, node, timeoutMs, database) {
    const address = `${node.host}:${node.port}`;
    const c = await connectWithin(
      connectPg(
        { ...adminTarget(spec, node), ...(database !== undefined ? { database } : {}) },
        { connectTimeoutMs: timeoutMs, statementTimeoutMs: timeoutMs, applicationName: 'nines-drill' },
      ),
      timeoutMs,
      `${address}: connect`,
    );
    return guarded(
      address,
      () => !c.closed,
      () => c.close(),
      (run) => ({
        writable: async () => {
          const rows = await run(
            () => c.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r'),
            timeoutMs,
            'pg_is_in_recovery',
          );
          return rows[0]?.r === false;
        },
        ids: async (from: number, to: number) => {
          const rows = await run(
            () =>
              c.query<{ id: string | number }>(
                `SELECT id FROM ${pgIdent(DRILL_TABLE)} WHERE id BETWEEN $1 AND $2`,
                [from, to],
              ),
            timeoutMs,
            'read ids',
          );
          return rows.map((r) => Number(r.id));
        },
      }),
    );
  },
  async createTable(target, app, timeoutMs) {
    const c = await connectPg(
      { ...target, user: app.user, password: app.password, database: app.database },
      { connectTimeoutMs: timeoutMs, statementTimeoutMs: timeoutMs, applicationName: 'nines-drill' },
    );
    try {
      await c.query(`DROP TABLE IF EXISTS ${pgIdent(DRILL_TABLE)}`);
      await c.query(`CREATE TABLE ${pgIdent(DRILL_TABLE)} (id bigint PRIMARY KEY)`);
    } finally {
      await c.close();
    }
  },
};

/** The drill SQL of each cluster type (Galera has it too, though the drill refuses clusters without a single primary). */
export const DRILL_SQL: Readonly<Record<ClusterType, DrillSql>> = {
  'mariadb-replication': mysqlDialect,
  galera: mysqlDialect,
  'postgres-streaming': postgresDialect,
};
