// Preparing a host for a MariaDB server and running it: reachability, packages, the port, option files, the
// data directory and the mariadbd service. Each function is idempotent (a retried deploy runs it again).
import { NinesError, isNinesError } from '../../core/errors.ts';
import type { Executor } from '../../hosts/executor.ts';
import { createServiceManager, type ServiceManager, type ServiceSpec } from '../../hosts/services.ts';
import type { ConfigFile } from '../engine.ts';
import { PATHS, SERVICE_NAME } from './config.ts';

const managers = new WeakMap<Executor, ServiceManager>();

/** One ServiceManager per executor (it caches the host's mode: systemd or direct). */
export function serviceManager(executor: Executor): ServiceManager {
  let sm = managers.get(executor);
  if (!sm) {
    sm = createServiceManager(executor);
    managers.set(executor, sm);
  }
  return sm;
}

export async function checkReachable(executor: Executor, signal?: AbortSignal): Promise<void> {
  await executor.exec(['true'], { timeoutMs: 20_000, signal });
}

/** Installed state of each package (dpkg-query). */
async function missingPackages(executor: Executor, packages: readonly string[]): Promise<string[]> {
  const r = await executor.exec(['dpkg-query', '-W', '-f=${Package} ${Status}\\n', ...packages], {
    check: false,
    timeoutMs: 20_000,
  });
  const installed = new Set(
    r.stdout
      .split('\n')
      .filter((l) => l.endsWith(' install ok installed'))
      .map((l) => l.split(' ')[0]),
  );
  return packages.filter((p) => !installed.has(p));
}

/** Installs missing packages with apt-get when the host has it; otherwise NINES_E_PACKAGE_MISSING. */
export async function ensurePackages(
  executor: Executor,
  packages: readonly string[],
  log: (line: string) => void,
): Promise<void> {
  const missing = await missingPackages(executor, packages);
  if (missing.length === 0) return;
  const apt = await executor.exec(['sh', '-c', 'command -v apt-get'], { check: false });
  if (apt.exitCode !== 0) {
    throw new NinesError('NINES_E_PACKAGE_MISSING', `${executor.host}: ${missing.join(', ')}`, {
      context: { host: executor.host, packages: missing },
    });
  }
  log(`${executor.host}: installing ${missing.join(' ')} with apt-get`);
  const install = ['apt-get', 'install', '-y', '--no-install-recommends', ...missing];
  const env = { DEBIAN_FRONTEND: 'noninteractive' };
  const first = await executor.exec(install, { check: false, env, sudo: true, timeoutMs: 600_000 });
  if (first.exitCode !== 0) {
    await executor.exec(['apt-get', 'update'], { check: false, env, sudo: true, timeoutMs: 300_000 });
    await executor.exec(install, { env, sudo: true, timeoutMs: 600_000 });
  }
  const still = await missingPackages(executor, packages);
  if (still.length > 0) {
    throw new NinesError(
      'NINES_E_PACKAGE_MISSING',
      `${executor.host}: ${still.join(', ')} (apt-get install ran)`,
      {
        context: { host: executor.host, packages: still },
      },
    );
  }
}

/** Whether nines' mariadbd service runs on the host. */
export async function serverRunning(executor: Executor): Promise<boolean> {
  return (await serviceManager(executor).status(SERVICE_NAME)).state === 'running';
}

/**
 * The port must be free, unless our own mariadbd is what listens there. Returns true when our server already
 * runs (the deploy then leaves it running).
 */
export async function checkPort(executor: Executor, port: number): Promise<boolean> {
  if (await serverRunning(executor)) return true;
  const r = await executor.exec(['ss', '-Hltnp', `sport = :${port}`], { check: false, sudo: true });
  const listeners = r.stdout.trim();
  if (r.exitCode === 0 && listeners.length > 0) {
    const program = /users:\(\("([^"]+)"/.exec(listeners)?.[1] ?? 'another program';
    throw new NinesError('NINES_E_PORT_IN_USE', `${executor.host}:${port} is used by ${program}`, {
      context: { host: executor.host, port, listeners },
    });
  }
  return false;
}

/** Writes the option files (atomically) and makes sure the error log exists and belongs to mysql. */
export async function writeConfigFiles(executor: Executor, files: readonly ConfigFile[]): Promise<void> {
  for (const f of files) {
    await executor.putFile(f.path, f.content, { mode: f.mode, owner: f.owner, sudo: true });
  }
  await executor.exec(
    ['sh', '-c', 'touch -- "$1" && chown mysql:mysql -- "$1" && chmod 0640 -- "$1"', 'nines', PATHS.errorLog],
    { sudo: true },
  );
}

/** Removes a file if it exists (e.g. a stale SST credentials file). */
export async function removeFile(executor: Executor, path: string): Promise<void> {
  await executor.exec(['rm', '-f', '--', path], { sudo: true });
}

/** Initialises the data directory unless it already holds the system tables. Returns true if it did. */
export async function initDatadir(executor: Executor, signal?: AbortSignal): Promise<boolean> {
  const probe = await executor.exec(['test', '-d', `${PATHS.datadir}/mysql`], { check: false, sudo: true });
  if (probe.exitCode === 0) return false;
  await executor.exec(
    [
      'mariadb-install-db',
      '--user=mysql',
      `--datadir=${PATHS.datadir}`,
      '--skip-test-db',
      '--auth-root-authentication-method=socket',
    ],
    { sudo: true, timeoutMs: 180_000, signal },
  );
  return true;
}

export function serverServiceSpec(extraArgs: readonly string[], readyTimeoutMs: number): ServiceSpec {
  return {
    name: SERVICE_NAME,
    // mariadbd itself (not mysqld_safe, which loses the error log and does not restart wsrep nodes well);
    // it drops to the mysql user itself.
    argv: ['mariadbd', '--user=mysql', ...extraArgs],
    // mariadbd writes to log_error; what it prints before opening that file lands there too.
    logFile: PATHS.errorLog,
    readyCheck: {
      argv: ['mariadb-admin', '--no-defaults', `--socket=${PATHS.socket}`, '--connect-timeout=2', 'ping'],
      timeoutMs: readyTimeoutMs,
      intervalMs: 200,
    },
  };
}

/** Starts mariadbd unless it runs; waits until it answers on its socket. */
export async function startServer(
  executor: Executor,
  options: { readonly extraArgs?: readonly string[]; readonly readyTimeoutMs?: number } = {},
): Promise<void> {
  await serviceManager(executor).start(
    serverServiceSpec(options.extraArgs ?? [], options.readyTimeoutMs ?? 60_000),
  );
}

/** Stops mariadbd cleanly (TERM, then KILL after the timeout). */
export async function stopServer(executor: Executor, timeoutMs = 60_000): Promise<void> {
  await serviceManager(executor).stop(SERVICE_NAME, { timeoutMs });
}

/**
 * SIGKILL of the server, no shutdown: what a crash does, verified stopped within timeoutMs. Fences a former primary
 * whose commits wait for a semi-sync ACK: a shutdown or a killed session completes them in InnoDB (the node then
 * holds transactions no replica has); killed, they stay prepared, and a start with --init-rpl-role=SLAVE rolls
 * them back. Resolves false when the server was not running.
 */
export async function killServer(executor: Executor, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  const sm = serviceManager(executor);
  const st = await sm.status(SERVICE_NAME);
  if (st.state !== 'running') return false;
  if (st.pid === undefined) {
    throw new NinesError('NINES_E_SERVICE', `${executor.host}: mariadbd runs but its process id is unknown`);
  }
  await executor.exec(['kill', '-KILL', String(st.pid)], {
    sudo: true,
    check: false,
    timeoutMs: Math.max(100, end - Date.now()),
  });
  while ((await sm.status(SERVICE_NAME)).state === 'running') {
    if (Date.now() >= end) {
      throw new NinesError('NINES_E_SERVICE', `${executor.host}: mariadbd still runs after SIGKILL`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}

/** The last lines of the server's error log ('' if it cannot be read). */
export async function errorLogTail(executor: Executor, lines = 20): Promise<string> {
  try {
    const r = await executor.exec(['tail', '-n', String(lines), '--', PATHS.errorLog], {
      check: false,
      sudo: true,
      timeoutMs: 10_000,
    });
    return r.stdout.trim();
  } catch (err) {
    if (isNinesError(err)) return '';
    throw err;
  }
}
