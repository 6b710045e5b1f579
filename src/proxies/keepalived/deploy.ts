// Keepalived on the proxy hosts: find each host's address on the VIP's network, write keepalived.conf and the
// HAProxy check script (the config validated with `keepalived -t` first), start it through the ServiceManager
// (systemd unit `keepalived`, or a detached `keepalived -n` logging to /var/log/keepalived.log), reload it
// when the config changed, and verify that exactly one proxy holds the VIP.
import { NinesError, isNinesError } from '../../core/errors.ts';
import type { Executor } from '../../hosts/executor.ts';
import { tail } from '../../hosts/output.ts';
import { createServiceManager } from '../../hosts/services.ts';
import type { ServiceSpec } from '../../hosts/services.ts';
import {
  KEEPALIVED_CHECK_SCRIPT_PATH,
  KEEPALIVED_CONFIG_PATH,
  parseProxyNetwork,
  renderCheckScript,
} from './config.ts';
import type { ProxyNetwork } from './config.ts';

export const KEEPALIVED_LOG_FILE = '/var/log/keepalived.log';
const VIP_TIMEOUT_MS = 20_000;
const POLL_MS = 200;

export const KEEPALIVED_SERVICE: ServiceSpec = {
  name: 'keepalived',
  unit: 'keepalived.service',
  // Foreground (-n), logging to the console (-l, detailed -D, no syslog -G) which the service log keeps.
  // keepalived's own pidfile differs from the ServiceManager's: it refuses to start when its pidfile names a
  // live process, and the manager writes its pidfile before exec'ing the daemon.
  argv: ['keepalived', '-n', '-l', '-D', '-G', '-f', KEEPALIVED_CONFIG_PATH, '-p', '/run/keepalived.pid'],
  logFile: KEEPALIVED_LOG_FILE,
  pidFile: '/run/nines/keepalived.pid',
};

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The proxy host's address, interface and prefix on the VIP's network. */
export async function proxyNetwork(proxy: Executor, host: string, vip: string): Promise<ProxyNetwork> {
  const out = (await proxy.exec(['ip', '-o', '-4', 'addr', 'show'])).stdout;
  const net = parseProxyNetwork(host, vip, out);
  if (!net) {
    throw new NinesError('NINES_E_VIP_NOT_HELD', `${host} has no address on the network of ${vip}`, {
      context: { host, vip, addresses: out },
      hint: 'endpoint.virtualIp must be a free address in the subnet the proxy hosts share (keepalived moves it between their interfaces).',
    });
  }
  return net;
}

async function readText(proxy: Executor, path: string): Promise<string | undefined> {
  try {
    return (await proxy.getFile(path, { sudo: true })).toString('utf8');
  } catch {
    return undefined;
  }
}

/** Writes the check script and keepalived.conf (validated first); returns whether anything changed. */
export async function writeKeepalivedConfig(proxy: Executor, content: string): Promise<boolean> {
  await proxy.exec(['mkdir', '-p', '/etc/keepalived'], { sudo: true });
  let changed = false;
  const script = renderCheckScript();
  if ((await readText(proxy, KEEPALIVED_CHECK_SCRIPT_PATH)) !== script) {
    await proxy.putFile(KEEPALIVED_CHECK_SCRIPT_PATH, script, {
      mode: 0o755,
      owner: 'root:root',
      sudo: true,
    });
    changed = true;
  }
  if ((await readText(proxy, KEEPALIVED_CONFIG_PATH)) === content) return changed;
  const candidate = `${KEEPALIVED_CONFIG_PATH}.nines-new`;
  await proxy.putFile(candidate, content, { mode: 0o640, owner: 'root:root', sudo: true });
  const check = await proxy.exec(['keepalived', '-t', '-f', candidate], { sudo: true, check: false });
  if (check.exitCode !== 0) {
    await proxy.exec(['rm', '-f', candidate], { sudo: true, check: false });
    const output = tail(`${check.stdout}${check.stderr}`.trim(), 2000);
    throw new NinesError('NINES_E_PROXY_CONFIG_INVALID', `${proxy.host}: keepalived -t: ${output}`, {
      context: { host: proxy.host, path: KEEPALIVED_CONFIG_PATH, output },
    });
  }
  await proxy.exec(['mv', '-f', candidate, KEEPALIVED_CONFIG_PATH], { sudo: true });
  return true;
}

/** Config in place and keepalived running it (started, or reloaded with SIGHUP when it changed). */
export async function ensureKeepalived(
  proxy: Executor,
  content: string,
): Promise<'started' | 'reloaded' | 'unchanged'> {
  const services = createServiceManager(proxy);
  const changed = await writeKeepalivedConfig(proxy, content);
  const status = await services.status(KEEPALIVED_SERVICE);
  if (status.state !== 'running') {
    await services.start(KEEPALIVED_SERVICE);
    return 'started';
  }
  if (!changed) return 'unchanged';
  if (status.mode === 'systemd') {
    await proxy.exec(['systemctl', 'reload', KEEPALIVED_SERVICE.unit ?? 'keepalived.service'], {
      sudo: true,
    });
  } else if (status.pid !== undefined) {
    await proxy.exec(['kill', '-HUP', String(status.pid)], { sudo: true });
  }
  return 'reloaded';
}

export async function stopKeepalived(proxy: Executor): Promise<void> {
  await createServiceManager(proxy).stop(KEEPALIVED_SERVICE, { timeoutMs: 5000 });
}

/** Does this host hold the VIP? undefined when the host cannot be asked (down, unreachable). */
export async function holdsVip(proxy: Executor, vip: string): Promise<boolean | undefined> {
  try {
    const out = await proxy.exec(['ip', '-o', '-4', 'addr', 'show'], { timeoutMs: 5000 });
    return out.stdout.split('\n').some((l) => l.includes(` inet ${vip}/`));
  } catch (err) {
    if (isNinesError(err)) return undefined;
    throw err;
  }
}

/** Waits until exactly one of the proxies holds the VIP and returns it. */
export async function waitVipHolder(
  proxies: readonly Executor[],
  vip: string,
  timeoutMs = VIP_TIMEOUT_MS,
): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const held = await Promise.all(proxies.map((p) => holdsVip(p, vip)));
    const holders = proxies.filter((_, i) => held[i] === true).map((p) => p.host);
    if (holders.length === 1 && holders[0] !== undefined) return holders[0];
    if (Date.now() > deadline) {
      throw new NinesError(
        'NINES_E_VIP_NOT_HELD',
        `${vip} is held by ${holders.length === 0 ? 'no proxy' : holders.join(' and ')}`,
        {
          context: { vip, holders, hosts: proxies.map((p) => p.host) },
        },
      );
    }
    await sleep(POLL_MS);
  }
}
