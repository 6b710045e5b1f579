// HAProxy on a proxy host: write haproxy.cfg (validated with `haproxy -c` before it replaces the old file),
// start it through the ServiceManager (systemd unit `haproxy`, or a detached master-worker process), reload
// it when the config changed, and verify that it listens.
import { NinesError } from '../../core/errors.ts';
import type { Executor } from '../../hosts/executor.ts';
import { tail } from '../../hosts/output.ts';
import { createServiceManager } from '../../hosts/services.ts';
import type { ServiceManager, ServiceSpec } from '../../hosts/services.ts';
import { HAPROXY_ADMIN_SOCKET, HAPROXY_CONFIG_PATH, HAPROXY_PID_FILE } from './config.ts';
import { haproxyWorkerPid } from './runtime.ts';

export const HAPROXY_LOG_FILE = '/var/log/haproxy-nines.log';
const LISTEN_TIMEOUT_MS = 10_000;
const RELOAD_TIMEOUT_MS = 10_000;
const POLL_MS = 100;

export const HAPROXY_SERVICE: ServiceSpec = {
  name: 'haproxy',
  unit: 'haproxy.service',
  // Master-worker in the foreground: the master keeps its pid across reloads (SIGUSR2 re-executes it).
  argv: ['haproxy', '-W', '-f', HAPROXY_CONFIG_PATH],
  logFile: HAPROXY_LOG_FILE,
  pidFile: HAPROXY_PID_FILE,
  readyCheck: {
    argv: [
      'sh',
      '-c',
      'echo "show info" | socat stdio "UNIX-CONNECT:$0" | grep -q "^Pid:"',
      HAPROXY_ADMIN_SOCKET,
    ],
    timeoutMs: 10_000,
  },
};

export type HaproxyAction = 'started' | 'reloaded' | 'unchanged';

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function readText(proxy: Executor, path: string): Promise<string | undefined> {
  try {
    return (await proxy.getFile(path, { sudo: true })).toString('utf8');
  } catch {
    return undefined;
  }
}

/**
 * Writes haproxy.cfg if its content differs; `haproxy -c` checks the new file before it replaces the old one,
 * so a bad render never reaches a running or restarting HAProxy. Returns whether the file changed.
 */
export async function writeHaproxyConfig(proxy: Executor, content: string): Promise<boolean> {
  if ((await readText(proxy, HAPROXY_CONFIG_PATH)) === content) return false;
  await proxy.exec(['mkdir', '-p', '/etc/haproxy', '/run/haproxy'], { sudo: true });
  const candidate = `${HAPROXY_CONFIG_PATH}.nines-new`;
  await proxy.putFile(candidate, content, { mode: 0o640, sudo: true });
  const check = await proxy.exec(['haproxy', '-c', '-f', candidate], { sudo: true, check: false });
  if (check.exitCode !== 0) {
    await proxy.exec(['rm', '-f', candidate], { sudo: true, check: false });
    const output = tail(`${check.stdout}${check.stderr}`.trim(), 2000);
    throw new NinesError('NINES_E_PROXY_CONFIG_INVALID', `${proxy.host}: haproxy -c: ${output}`, {
      context: { host: proxy.host, path: HAPROXY_CONFIG_PATH, output },
    });
  }
  await proxy.exec(['mv', '-f', candidate, HAPROXY_CONFIG_PATH], { sudo: true });
  return true;
}

/** Seamless reload: the master re-reads the config and starts a new worker; waits until it answers. */
export async function reloadHaproxy(proxy: Executor, services: ServiceManager): Promise<void> {
  const before = await haproxyWorkerPid(proxy);
  if ((await services.mode()) === 'systemd') {
    await proxy.exec(['systemctl', 'reload', HAPROXY_SERVICE.unit ?? 'haproxy.service'], { sudo: true });
  } else {
    const status = await services.status(HAPROXY_SERVICE);
    if (status.pid === undefined)
      throw new NinesError('NINES_E_SERVICE', `${proxy.host}: haproxy is not running`);
    await proxy.exec(['kill', '-USR2', String(status.pid)], { sudo: true });
  }
  const deadline = Date.now() + RELOAD_TIMEOUT_MS;
  for (;;) {
    const now = await haproxyWorkerPid(proxy);
    if (now !== undefined && now !== before) return;
    if (Date.now() > deadline) {
      throw new NinesError('NINES_E_SERVICE', `${proxy.host}: haproxy did not finish its reload`, {
        context: { host: proxy.host, logFile: HAPROXY_LOG_FILE },
      });
    }
    await sleep(POLL_MS);
  }
}

/** TCP ports with a listening socket on the host (`ss -Hltn`). */
export function parseListeningPorts(ssOutput: string): Set<number> {
  const ports = new Set<number>();
  for (const line of ssOutput.split('\n')) {
    const local = line.trim().split(/\s+/)[3];
    const m = local ? /:(\d+)$/.exec(local) : null;
    if (m) ports.add(Number(m[1]));
  }
  return ports;
}

export async function waitListening(proxy: Executor, ports: readonly number[]): Promise<void> {
  const deadline = Date.now() + LISTEN_TIMEOUT_MS;
  for (;;) {
    const out = (await proxy.exec(['ss', '-H', '-l', '-t', '-n'], { sudo: true })).stdout;
    const listening = parseListeningPorts(out);
    const missing = ports.filter((p) => !listening.has(p));
    if (missing.length === 0) return;
    if (Date.now() > deadline) {
      throw new NinesError(
        'NINES_E_PROXY_NOT_LISTENING',
        `${proxy.host}: nothing listens on ${missing.join(', ')}`,
        {
          context: { host: proxy.host, missing, listening: [...listening] },
        },
      );
    }
    await sleep(POLL_MS);
  }
}

/** Config in place, HAProxy running it (started, or reloaded if the file changed), ports listening. */
export async function ensureHaproxy(
  proxy: Executor,
  content: string,
  ports: readonly number[],
): Promise<HaproxyAction> {
  const services = createServiceManager(proxy);
  const changed = await writeHaproxyConfig(proxy, content);
  let action: HaproxyAction = 'unchanged';
  if ((await services.status(HAPROXY_SERVICE)).state !== 'running') {
    await services.start(HAPROXY_SERVICE);
    action = 'started';
  } else if (changed) {
    await reloadHaproxy(proxy, services);
    action = 'reloaded';
  }
  await waitListening(proxy, ports);
  return action;
}

/** Stops HAProxy (tests and node teardown). */
export async function stopHaproxy(proxy: Executor): Promise<void> {
  await createServiceManager(proxy).stop(HAPROXY_SERVICE, { timeoutMs: 5000 });
}
