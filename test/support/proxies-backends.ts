// Test support for the endpoint (proxies) integration tests: real MariaDB servers on lab hosts, started with a
// minimal setup (mariadb-install-db + mariadbd through the ServiceManager, an application user created over
// the unix socket) while the engines are written elsewhere; and per-host /etc/haproxy and /etc/keepalived.
import mariadb from 'mariadb';
import type { Connection } from 'mariadb';
import type { LabInventory } from '../../src/lab/index.ts';
import type { Executor } from '../../src/hosts/executor.ts';
import { createServiceManager } from '../../src/hosts/services.ts';
import { TIMEOUT_SCALE } from './lab-engine.ts';

export const APP_USER = 'app';
export const APP_PASSWORD = 'app-secret-42';

export function labAddress(inv: LabInventory, name: string): string {
  const h = inv.hosts.find((x) => x.name === name);
  if (!h) throw new Error(`lab ${inv.name} has no host ${name}`);
  return h.address;
}

/**
 * Lab hosts share this machine's /etc except a few bind-mounted directories (src/lab/host-init.ts); give each
 * proxy host its own /etc/haproxy and /etc/keepalived (backed by the host's private /root) so two proxy hosts
 * do not write one file. Mounted in the host's mount namespace, so it lasts until the host restarts.
 */
export async function privateProxyEtc(ex: Executor): Promise<void> {
  const script = [
    'set -e',
    'for d in haproxy keepalived; do',
    '  mkdir -p "/root/nines-etc-$d" "/etc/$d"',
    '  if ! mountpoint -q "/etc/$d"; then mount --bind "/root/nines-etc-$d" "/etc/$d"; fi',
    'done',
  ].join('\n');
  await ex.exec(['sh', '-c', script]);
}

const MARIADB_SERVICE = 'nines-test-mariadb';

/** Starts a fresh MariaDB on the host (server_id = serverId) and creates the application user. */
export async function startMariadb(ex: Executor, serverId: number): Promise<void> {
  await ex.exec(
    [
      'sh',
      '-c',
      'if [ ! -d /var/lib/mysql/mysql ]; then mariadb-install-db --no-defaults --user=mysql --datadir=/var/lib/mysql --skip-test-db >/var/log/mysql/install.log 2>&1; fi',
    ],
    { timeoutMs: 60_000 * TIMEOUT_SCALE },
  );
  await createServiceManager(ex).start({
    name: MARIADB_SERVICE,
    argv: [
      'mariadbd',
      '--no-defaults',
      '--user=mysql',
      '--datadir=/var/lib/mysql',
      '--bind-address=0.0.0.0',
      '--port=3306',
      '--socket=/run/mysqld/mysqld.sock',
      '--pid-file=/run/mysqld/mysqld.pid',
      `--server-id=${serverId}`,
      '--log-error=/var/log/mysql/error.log',
      '--innodb-buffer-pool-size=16M',
      '--skip-name-resolve',
    ],
    logFile: '/var/log/mysql/nines-test-mariadb.log',
    readyCheck: {
      argv: ['mariadb', '--no-defaults', '--socket=/run/mysqld/mysqld.sock', '-e', 'SELECT 1'],
      timeoutMs: 30_000 * TIMEOUT_SCALE,
    },
  });
  const sql = [
    `CREATE OR REPLACE USER '${APP_USER}'@'%' IDENTIFIED BY '${APP_PASSWORD}'`,
    `GRANT ALL ON *.* TO '${APP_USER}'@'%'`,
  ].join('; ');
  await ex.exec(['mariadb', '--no-defaults', '--socket=/run/mysqld/mysqld.sock', '-e', sql], {
    secrets: [APP_PASSWORD],
  });
}

export async function stopMariadb(ex: Executor): Promise<void> {
  await createServiceManager(ex).stop(MARIADB_SERVICE, { timeoutMs: 10_000 });
}

/** Opens a connection to host:port as the application user. */
export function connectApp(host: string, port: number): Promise<Connection> {
  return mariadb.createConnection({
    host,
    port,
    user: APP_USER,
    password: APP_PASSWORD,
    connectTimeout: 2000 * TIMEOUT_SCALE,
  });
}

/** The @@hostname of the server a fresh connection to host:port reaches (one connection, then closed). */
export async function hostnameVia(host: string, port: number): Promise<string> {
  const conn = await connectApp(host, port);
  try {
    const rows = await conn.query<{ h: string }[]>('SELECT @@hostname AS h');
    return rows[0]?.h ?? '';
  } finally {
    await conn.end().catch(() => undefined);
  }
}

/** hostnameVia, or the error code when the connection or query fails. */
export async function tryHostnameVia(host: string, port: number): Promise<string> {
  try {
    return await hostnameVia(host, port);
  } catch (err) {
    return `error:${(err as { code?: string }).code ?? String(err)}`;
  }
}

/** Polls fn until it returns true, or throws after timeoutMs (scaled). Returns the elapsed ms. */
export async function pollUntil(
  what: string,
  fn: () => Promise<boolean>,
  timeoutMs: number,
  intervalMs = 50,
): Promise<number> {
  const started = Date.now();
  const deadline = started + timeoutMs * TIMEOUT_SCALE;
  for (;;) {
    if (await fn()) return Date.now() - started;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${Date.now() - started} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
