// Deploy tests through the real controller: an in-process Controller with the HTTP API listening on a random
// port (so the CLI can be used against it too), specs for lab hosts, SQL through the endpoint and directly
// on each node for the three cluster types, and HAProxy's view of its servers.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { poll as pollScaled } from '../../support/poll.ts';
import { promisify } from 'node:util';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../../src/api/app.ts';
import { loadConfig } from '../../../src/controller/config.ts';
import { Controller } from '../../../src/controller/controller.ts';
import type { JobRecord } from '../../../src/controller/store/job-repo.ts';
import { validateSpec, type ClusterSpec, type ClusterType } from '../../../src/core/spec.ts';
import { ensureAppUser, type AppUser } from '../../../src/engines/registry.ts';
import type { Topology } from '../../../src/engines/engine.ts';
import { withSql as withMysql, sqlErrno } from '../../../src/engines/mysql/index.ts';
import { withSql as withPg } from '../../../src/engines/postgres/index.ts';
import type { LabInventory } from '../../../src/lab/index.ts';
import { readBackendStates } from '../../../src/proxies/index.ts';
import { labHostAccess, TIMEOUT_SCALE } from '../../support/lab-engine.ts';

export const ms = (n: number): number => Math.round(n * TIMEOUT_SCALE);
export const LOGS = join(import.meta.dirname, '..', '..', '..', '.lab', 'logs');
export const MAIN = join(import.meta.dirname, '..', '..', '..', 'src', 'cli', 'main.ts');
export const APP: AppUser = { user: 'app', password: 'app-password-42', database: 'app' };

export interface TestController {
  readonly controller: Controller;
  readonly app: FastifyInstance;
  readonly url: string;
  readonly token: string;
  readonly dir: string;
  /** The API through app.inject, as the admin; throws on an error status. */
  api<T>(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<T>;
  /** The nines CLI as a process against this controller. */
  cli(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  waitJob(id: number, timeoutMs?: number): Promise<JobRecord>;
  /** The job's log lines (for assertion messages). */
  jobLog(id: number): string;
  /** Stops the controller; removes its directory unless keepDir (then startTestController can reopen it). */
  close(options?: { keepDir?: boolean }): Promise<void>;
}

const run = promisify(execFile);

/**
 * `env`: extra controller environment (e.g. NINES_RECOVERY_COOLDOWN_MS). `reuseDir`: the `dir` of a closed
 * TestController (`close({ keepDir: true })`): the same store and data directory, as a restarted controller.
 */
export async function startTestController(
  env: Record<string, string> = {},
  reuseDir?: string,
): Promise<TestController> {
  const dir = reuseDir ?? mkdtempSync(join(tmpdir(), 'nines-deploy-'));
  const config = loadConfig({
    env: { NINES_LOG_LEVEL: process.env.NINES_TEST_VERBOSE === '1' ? 'info' : 'warn', ...env },
    overrides: { dataDir: join(dir, 'data'), listen: '127.0.0.1:0' },
  });
  const controller = Controller.open({ config });
  const app = buildApp(controller);
  controller.start();
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  const token = readFileSync(controller.adminTokenFile, 'utf8').trim();
  const headers = { authorization: `Bearer ${token}` };
  const t: TestController = {
    controller,
    app,
    url,
    token,
    dir,
    async api<T>(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<T> {
      const res = await app.inject({
        method,
        url: `/api/v1${path}`,
        headers,
        ...(body === undefined ? {} : { payload: body as Record<string, unknown> }),
      });
      if (res.statusCode >= 400) throw new Error(`${method} ${path}: ${res.statusCode} ${res.body}`);
      return res.json<T>();
    },
    async cli(args) {
      try {
        const { stdout, stderr } = await run(
          process.execPath,
          ['--disable-warning=ExperimentalWarning', MAIN, ...args],
          { env: { ...process.env, NINES_URL: url, NINES_TOKEN: token }, timeout: ms(300_000) },
        );
        return { code: 0, stdout, stderr };
      } catch (err) {
        const e = err as { code: number; stdout: string; stderr: string };
        return { code: e.code, stdout: e.stdout, stderr: e.stderr };
      }
    },
    async waitJob(id, timeoutMs = 180_000) {
      const deadline = Date.now() + ms(timeoutMs);
      for (;;) {
        const job = controller.store.jobs.mustGet(id);
        if (['succeeded', 'failed', 'cancelled'].includes(job.state)) return job;
        if (Date.now() > deadline)
          throw new Error(`job ${id} not finished within ${timeoutMs} ms:\n${t.jobLog(id)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    jobLog(id) {
      return controller.store.jobs
        .logs(id, 0)
        .map((l) => l.line)
        .join('\n');
    },
    async close(options) {
      await app.close();
      await controller.close(0);
      if (options?.keepDir !== true) rmSync(dir, { recursive: true, force: true });
    },
  };
  return t;
}

/** The name the lab's SSH key is registered under (labSpec names it). */
export const LAB_KEY = 'lab';

/** Registers the lab's private key with the controller, as a user would: `nines key add` or POST /keys. */
export async function registerLabKey(
  t: TestController,
  inv: LabInventory,
  via: 'api' | 'cli' = 'api',
): Promise<void> {
  if (via === 'cli') {
    const r = await t.cli(['key', 'add', LAB_KEY, '--file', inv.privateKeyPath]);
    if (r.code !== 0) throw new Error(`nines key add: exit ${r.code}\n${r.stdout}\n${r.stderr}`);
    return;
  }
  await t.api('POST', '/keys', { name: LAB_KEY, privateKey: readFileSync(inv.privateKeyPath, 'utf8') });
}

export function address(inv: LabInventory, name: string): string {
  const h = inv.hosts.find((x) => x.name === name);
  if (!h) throw new Error(`lab ${inv.name} has no host ${name}`);
  return h.address;
}

/** A spec for lab hosts: nodes on `nodes`, HAProxy on `proxies` (+ VIP when given). */
export function labSpec(
  inv: LabInventory,
  o: {
    name: string;
    type: ClusterType;
    nodes: readonly string[];
    proxies?: readonly string[];
    virtualIp?: string;
    options?: Record<string, unknown>;
  },
): Record<string, unknown> {
  return {
    name: o.name,
    type: o.type,
    nodes: o.nodes.map((h, i) => ({
      host: address(inv, h),
      ...(i === 0 && o.type !== 'galera' ? { role: 'primary' } : {}),
    })),
    ssh: { user: inv.sshUser, key: LAB_KEY },
    credentials: { admin: 'admin-password-1', replication: 'repl-password-1', monitor: 'monitor-password-1' },
    ...(o.options ? { options: o.options } : {}),
    ...(o.proxies
      ? {
          endpoint: {
            proxies: o.proxies.map((h) => address(inv, h)),
            ...(o.virtualIp ? { virtualIp: o.virtualIp } : {}),
          },
        }
      : {}),
  };
}

export function writeSpecFile(t: TestController, spec: Record<string, unknown>): string {
  const file = join(t.dir, `${String(spec.name)}.json`);
  writeFileSync(file, JSON.stringify(spec, null, 2));
  return file;
}

export function fullSpec(spec: Record<string, unknown>): ClusterSpec {
  return validateSpec(spec).spec;
}

/** The stored topology of a cluster as "host:port role" lines, sorted. */
export function storedRoles(t: TestController, cluster: string): string[] {
  return t.controller.store.inventory
    .listNodes(cluster)
    .map((n) => `${n.host}:${n.port} ${n.role ?? '-'}`)
    .sort();
}

export function storedTopology(t: TestController, spec: ClusterSpec): Topology {
  return {
    type: spec.type,
    nodes: t.controller.store.inventory.listNodes(spec.name).map((n) => ({
      host: n.host,
      port: n.port,
      role: (n.role ?? 'unknown') as Topology['nodes'][number]['role'],
    })),
  };
}

export async function createAppUser(inv: LabInventory, spec: ClusterSpec, topology: Topology): Promise<void> {
  const hosts = labHostAccess(inv);
  try {
    await ensureAppUser(hosts, spec, topology, APP);
  } finally {
    await hosts.close();
  }
}

/** SQL as the application user, MariaDB or PostgreSQL alike: rows as plain objects. */
export async function appQuery(
  type: ClusterType,
  host: string,
  port: number,
  sql: string,
): Promise<Record<string, unknown>[]> {
  if (type === 'postgres-streaming') {
    return withPg(
      { host, port, user: APP.user, password: APP.password, database: APP.database },
      { connectTimeoutMs: ms(5000) },
      (c) => c.query<Record<string, unknown>>(sql),
    );
  }
  return withMysql(
    { host, port, user: APP.user, password: APP.password },
    async (c) => {
      await c.execute(`USE ${APP.database}`);
      return c.query<Record<string, unknown>>(sql);
    },
    { connectTimeoutMs: ms(5000) },
  );
}

/**
 * SQL directly on one node: MariaDB as the app user (a network user without SUPER, so read_only applies);
 * PostgreSQL as nines_admin (pg_hba lets the app user in only through the proxies) on the app database.
 */
export async function nodeQuery(
  spec: ClusterSpec,
  host: string,
  port: number,
  sql: string,
): Promise<Record<string, unknown>[]> {
  if (spec.type !== 'postgres-streaming') return appQuery(spec.type, host, port, sql);
  return withPg(
    { host, port, user: 'nines_admin', password: spec.credentials.admin, database: APP.database },
    { connectTimeoutMs: ms(5000) },
    (c) => c.query<Record<string, unknown>>(sql),
  );
}

/** A write as the app user that the server refuses because the node is read-only; returns the error. */
export async function refusedWrite(spec: ClusterSpec, host: string, port: number): Promise<string> {
  try {
    await nodeQuery(spec, host, port, "INSERT INTO t (id, v) VALUES (999, 'must fail')");
  } catch (err) {
    const errno = sqlErrno(err);
    const state = (err as { context?: { sqlState?: string } }).context?.sqlState;
    return errno !== undefined ? `errno ${errno}` : `sqlstate ${state ?? '?'}: ${(err as Error).message}`;
  }
  throw new Error(`${host}:${port} accepted a write`);
}

/** The server host name that answers a connection (MariaDB @@hostname, PostgreSQL inet_server_addr()). */
export async function whoAnswers(type: ClusterType, host: string, port: number): Promise<string> {
  const sql =
    type === 'postgres-streaming' ? 'SELECT host(inet_server_addr()) AS who' : 'SELECT @@report_host AS who';
  const rows = await appQuery(type, host, port, sql);
  return String(rows[0]?.who);
}

/** HAProxy's servers on a proxy host: "backend/server admin" lines. */
export async function haproxyServers(inv: LabInventory, proxy: string): Promise<string[]> {
  const hosts = labHostAccess(inv);
  try {
    const states = await readBackendStates(hosts.executor(proxy));
    return states.map((s) => `${s.backend}/${s.server} ${s.admin}`).sort();
  } finally {
    await hosts.close();
  }
}

/** poll() with the timeout scaled by NINES_TIMEOUT_SCALE. */
export function poll<T>(what: string, timeoutMs: number, fn: () => Promise<T | undefined>): Promise<T> {
  return pollScaled(what, ms(timeoutMs), fn);
}
