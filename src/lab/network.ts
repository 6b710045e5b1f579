// The lab's network on this machine: one bridge per lab (the controller's address .1), one network namespace
// and veth pair per host, and an iptables FORWARD rule so a FORWARD DROP policy (dockerd) does not cut the bridge.
import {
  closeSync,
  existsSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { NinesError } from '../core/errors.ts';
import { chooseSubnet, parseNetnsName, subnetSeed } from './names.ts';
import { run, sleep, type LabTools } from './sys.ts';

/** Machine-wide: subnet choice and bridge creation of concurrent `lab up`s are serialized by this lock. */
const SUBNET_LOCK = '/run/nines-lab-subnet.lock';

export function linkExists(name: string): boolean {
  return existsSync(`/sys/class/net/${name}`);
}

export function linkIsUp(name: string): boolean {
  try {
    return (parseInt(readFileSync(`/sys/class/net/${name}/flags`, 'utf8'), 16) & 1) === 1;
  } catch {
    return false;
  }
}

export function netnsExists(netns: string): boolean {
  return existsSync(`/run/netns/${netns}`);
}

/** Network namespaces of lab `name` that exist now (from /run/netns). */
export function labNetnsList(name: string): string[] {
  if (!existsSync('/run/netns')) return [];
  return readdirSync('/run/netns').filter((n) => parseNetnsName(n)?.lab === name);
}

interface IpRoute {
  dst?: string;
}
interface IpAddr {
  addr_info?: { family?: string; local?: string; prefixlen?: number }[];
}

/** Every IPv4 prefix in use on this machine: routes of all tables and interface addresses. */
export async function usedPrefixes(tools: LabTools): Promise<string[]> {
  const [routes, addrs] = await Promise.all([
    run([tools.ip, '-j', '-4', 'route', 'show', 'table', 'all']),
    run([tools.ip, '-j', '-4', 'addr', 'show']),
  ]);
  const out: string[] = [];
  for (const r of JSON.parse(routes.stdout || '[]') as IpRoute[]) {
    if (r.dst && r.dst !== 'default') out.push(r.dst);
  }
  for (const a of JSON.parse(addrs.stdout || '[]') as IpAddr[]) {
    for (const i of a.addr_info ?? []) {
      if (i.family === 'inet' && i.local) out.push(`${i.local}/${i.prefixlen ?? 32}`);
    }
  }
  return out;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A lock whose owner died, or that never got its owner's pid written (owner died right after creating it). */
function lockIsStale(owner: number): boolean {
  if (owner > 0) return !pidAlive(owner);
  try {
    return Date.now() - statSync(SUBNET_LOCK).mtimeMs > 2_000;
  } catch {
    return false;
  }
}

/** Runs fn while holding the machine-wide subnet lock (a file holding the owner's pid; stale locks are taken over). */
async function withSubnetLock<T>(fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      const fd = openSync(SUBNET_LOCK, 'wx', 0o644);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = Number(readFileSync(SUBNET_LOCK, { encoding: 'utf8', flag: 'a+' }).trim());
      if (lockIsStale(owner)) rmSync(SUBNET_LOCK, { force: true });
      if (Date.now() > deadline) {
        throw new NinesError('NINES_E_LAB_START', `the subnet lock ${SUBNET_LOCK} is held by pid ${owner}`);
      }
      await sleep(25);
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(SUBNET_LOCK, { force: true });
  }
}

/** Creates the lab's bridge with the controller's address on a free 10.77.X.0/24 (or the given one); returns X. */
export async function createBridge(
  tools: LabTools,
  name: string,
  bridge: string,
  wantedThird?: number,
): Promise<number> {
  return withSubnetLock(async () => {
    const used = await usedPrefixes(tools);
    const third = chooseSubnet(used, wantedThird ?? subnetSeed(name));
    if (third === undefined || (wantedThird !== undefined && third !== wantedThird)) {
      throw new NinesError('NINES_E_LAB_START', 'no free 10.77.X.0/24 subnet on this machine', {
        context: { wantedThird },
        hint: 'Take down labs that are no longer needed ("nines lab status" lists them).',
      });
    }
    const batch = [
      `link add ${bridge} type bridge`,
      `addr add 10.77.${third}.1/24 dev ${bridge}`,
      `link set ${bridge} up`,
    ];
    await run([tools.ip, '-batch', '-'], { stdin: `${batch.join('\n')}\n` });
    return third;
  });
}

export function forwardRuleArgs(bridge: string): string[] {
  return [
    'FORWARD',
    '-i',
    bridge,
    '-o',
    bridge,
    '-m',
    'comment',
    '--comment',
    `nines-lab ${bridge}`,
    '-j',
    'ACCEPT',
  ];
}

export async function addForwardRule(tools: LabTools, bridge: string): Promise<void> {
  const [chain, ...spec] = forwardRuleArgs(bridge);
  await run([tools.iptables, '-w', '5', '-I', chain ?? 'FORWARD', '1', ...spec]);
}

/** Deletes every copy of the lab's FORWARD rule (idempotent). */
export async function removeForwardRule(tools: LabTools, bridge: string): Promise<void> {
  for (let i = 0; i < 10; i++) {
    const r = await run([tools.iptables, '-w', '5', '-D', ...forwardRuleArgs(bridge)], { check: false });
    if (r.exitCode !== 0) return;
  }
}

export interface HostLink {
  readonly netns: string;
  readonly veth: string;
  readonly address: string;
}

/** Namespaces and veth pairs of the hosts, attached to the bridge, addresses set, links up. */
export async function createHostLinks(
  tools: LabTools,
  bridge: string,
  prefixLength: number,
  hosts: readonly HostLink[],
): Promise<void> {
  const root = hosts.flatMap((h) => [
    `netns add ${h.netns}`,
    `link add ${h.veth} type veth peer name eth0 netns ${h.netns}`,
    `link set ${h.veth} master ${bridge} up`,
  ]);
  await run([tools.ip, '-batch', '-'], { stdin: `${root.join('\n')}\n` });
  await Promise.all(
    hosts.map((h) => {
      const inner = ['link set lo up', `addr add ${h.address}/${prefixLength} dev eth0`, 'link set eth0 up'];
      return run([tools.ip, '-n', h.netns, '-batch', '-'], { stdin: `${inner.join('\n')}\n` });
    }),
  );
}

export async function setLink(tools: LabTools, veth: string, up: boolean): Promise<void> {
  await run([tools.ip, 'link', 'set', veth, up ? 'up' : 'down']);
}

/** Removes veths, namespaces and the bridge that exist (idempotent). */
export async function removeNetwork(
  tools: LabTools,
  bridge: string,
  vethList: readonly string[],
  netnsList: readonly string[],
): Promise<void> {
  const cmds = [
    ...vethList.filter(linkExists).map((v) => `link del ${v}`),
    ...netnsList.filter(netnsExists).map((n) => `netns del ${n}`),
    ...(linkExists(bridge) ? [`link del ${bridge}`] : []),
  ];
  if (cmds.length === 0) return;
  // -force: carry on after an error (e.g. a veth already gone with its namespace) so the rest is removed.
  await run([tools.ip, '-force', '-batch', '-'], { stdin: `${cmds.join('\n')}\n`, check: false });
}
