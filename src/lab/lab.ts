// Lab lifecycle: up (network, keys, host dirs, hosts started in parallel), down (idempotent, by namespace and
// recorded names, never by process name) and status.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NinesError, isNinesError } from '../core/errors.ts';
import { detectCgroup, isFrozen, removeLabCgroup } from './cgroup.ts';
import { labFaultRules } from './faults.ts';
import { renderEtcHosts, renderKnownHosts, renderSshdConfig } from './host-init.ts';
import { hostInitPid, killHostProcesses, netnsPids, prepareHostDirs, sshAnswers, startHost } from './host.ts';
import {
  findInventory,
  INVENTORY_VERSION,
  labDir,
  listLabNames,
  saveInventory,
  type CgroupInfo,
  type LabHost,
  type LabInventory,
} from './inventory.ts';
import {
  bridgeName,
  DEFAULT_LAB_NAME,
  hostNames,
  labAddresses,
  netnsName,
  parseNetnsName,
  validateHostCount,
  validateLabName,
  vethName,
} from './names.ts';
import {
  addForwardRule,
  createBridge,
  createHostLinks,
  labNetnsList,
  linkExists,
  linkIsUp,
  removeForwardRule,
  removeNetwork,
} from './network.ts';
import { labTools, requireRoot, run, type LabTools } from './sys.ts';

export interface LabUpOptions {
  readonly name?: string;
  readonly hosts: number;
  /** Parent of the lab directory; default $NINES_LAB_DIR or /var/lib/nines/labs. */
  readonly baseDir?: string;
}

async function keygen(tools: LabTools, file: string, comment: string): Promise<string> {
  await run([tools['ssh-keygen'], '-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', file]);
  return readFileSync(`${file}.pub`, 'utf8').trim();
}

function refuseLeftovers(name: string, bridge: string): void {
  const leftovers = [...labNetnsList(name), ...(linkExists(bridge) ? [bridge] : [])];
  if (leftovers.length > 0) {
    throw new NinesError(
      'NINES_E_LAB_EXISTS',
      `'${name}': ${leftovers.join(', ')} exist without an inventory`,
      {
        context: { leftovers },
        hint: `Remove the leftovers with "nines lab down --name ${name}", or choose another --name.`,
      },
    );
  }
}

/**
 * Creates lab `name` with `hosts` hosts and waits until every host's sshd accepts connections.
 * If the lab's inventory exists but its network is gone (the machine rebooted), the lab is brought back instead:
 * same subnet, keys and data, hosts started again. If it is running, NINES_E_LAB_EXISTS.
 */
export async function labUp(options: LabUpOptions): Promise<LabInventory> {
  requireRoot();
  const tools = labTools();
  const name = validateLabName(options.name ?? DEFAULT_LAB_NAME);
  const count = validateHostCount(options.hosts);
  const existing = findInventory(name, options.baseDir);
  if (existing) {
    if (linkExists(existing.bridge)) {
      throw new NinesError('NINES_E_LAB_EXISTS', `'${name}' (${existing.dir})`, {
        context: { dir: existing.dir },
      });
    }
    return reviveLab(tools, existing);
  }
  refuseLeftovers(name, bridgeName(name));
  const dir = labDir(name, options.baseDir);
  rmSync(dir, { recursive: true, force: true }); // a directory without inventory: an `up` that died half-way
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  try {
    return await buildLab(tools, name, count, dir);
  } catch (err) {
    await labDown(name, { baseDir: options.baseDir }).catch(() => undefined);
    throw err;
  }
}

async function buildLab(tools: LabTools, name: string, count: number, dir: string): Promise<LabInventory> {
  const bridge = bridgeName(name);
  const cgroup = detectCgroup(name);
  const privateKeyPath = join(dir, 'id_ed25519');
  const [third, clientKey] = await Promise.all([
    createBridge(tools, name, bridge),
    keygen(tools, privateKeyPath, `nines-lab-${name}`),
  ]);
  const addr = labAddresses(third, count);
  const draft: LabHost[] = hostNames(count).map((host, i) => {
    const dataDir = join(dir, 'hosts', host);
    return {
      name: host,
      address: addr.hosts[i] ?? '',
      netns: netnsName(name, host),
      veth: vethName(name, host),
      dataDir,
      logDir: join(dataDir, 'var-log'),
      initLog: join(dataDir, 'init.log'),
      hostKeyPublic: '',
    };
  });
  const base: LabInventory = {
    version: INVENTORY_VERSION,
    name,
    createdAt: new Date().toISOString(),
    dir,
    subnet: addr.subnet,
    bridge,
    controllerAddress: addr.controller,
    sshUser: 'root',
    sshPort: 22,
    privateKeyPath,
    publicKeyPath: `${privateKeyPath}.pub`,
    knownHostsPath: join(dir, 'known_hosts'),
    cgroup,
    hosts: draft,
  };
  const etcHosts = renderEtcHosts(draft);
  const [, , hostKeys] = await Promise.all([
    addForwardRule(tools, bridge),
    createHostLinks(tools, bridge, addr.prefixLength, draft),
    Promise.all(
      draft.map(async (h) => {
        const files = { sshdConfig: renderSshdConfig(h.address), etcHosts, authorizedKeys: `${clientKey}\n` };
        await prepareHostDirs(tools, base, h, files);
        return keygen(tools, join(h.dataDir, 'etc-ssh', 'ssh_host_ed25519_key'), `${name}-${h.name}`);
      }),
    ),
  ]);
  const inv: LabInventory = {
    ...base,
    hosts: draft.map((h, i) => ({ ...h, hostKeyPublic: hostKeys[i] ?? '' })),
  };
  writeFileSync(inv.knownHostsPath, renderKnownHosts(inv.hosts));
  saveInventory(inv);
  await Promise.all(inv.hosts.map((h) => startHost(tools, inv, h)));
  return inv;
}

async function reviveLab(tools: LabTools, inv: LabInventory): Promise<LabInventory> {
  refuseLeftovers(inv.name, inv.bridge);
  const third = Number(inv.subnet.split('.')[2]);
  await createBridge(tools, inv.name, inv.bridge, third);
  await Promise.all([addForwardRule(tools, inv.bridge), createHostLinks(tools, inv.bridge, 24, inv.hosts)]);
  await Promise.all(inv.hosts.map((h) => startHost(tools, inv, h)));
  return inv;
}

/** The lab's bridge exists: its subnet is routed to its hosts on this machine (false after a reboot). */
export function labNetworkUp(inv: LabInventory): boolean {
  return linkExists(inv.bridge);
}

export interface LabDownResult {
  readonly name: string;
  /** False when nothing of the lab existed (down is idempotent). */
  readonly existed: boolean;
}

function readableInventory(name: string, baseDir?: string): LabInventory | undefined {
  try {
    return findInventory(name, baseDir);
  } catch (err) {
    if (isNinesError(err)) return undefined;
    throw err;
  }
}

function safeCgroup(inv: LabInventory | undefined, name: string): CgroupInfo | undefined {
  if (inv) return inv.cgroup;
  try {
    return detectCgroup(name);
  } catch {
    return undefined;
  }
}

/** Removes lab `name` entirely: processes, namespaces, links, bridge, iptables rule, cgroups, directory. */
export async function labDown(name: string, options: { baseDir?: string } = {}): Promise<LabDownResult> {
  requireRoot();
  const tools = labTools();
  validateLabName(name);
  const dir = labDir(name, options.baseDir);
  const inv = readableInventory(name, options.baseDir);
  const netnsSet = new Set([...labNetnsList(name), ...(inv?.hosts.map((h) => h.netns) ?? [])]);
  const hosts = [...netnsSet].map((netns) => parseNetnsName(netns)?.host ?? '').filter(Boolean);
  const bridge = inv?.bridge ?? bridgeName(name);
  const cgroup = safeCgroup(inv, name);
  const existed = netnsSet.size > 0 || linkExists(bridge) || existsSync(dir);
  await Promise.all(hosts.map((host) => killHostProcesses(cgroup, host, netnsName(name, host))));
  await removeNetwork(
    tools,
    bridge,
    hosts.map((h) => vethName(name, h)),
    [...netnsSet],
  );
  await removeForwardRule(tools, bridge);
  if (cgroup) removeLabCgroup(cgroup, hosts);
  removeLabDir(dir);
  return { name, existed };
}

function removeLabDir(dir: string): void {
  if (!existsSync(dir)) return;
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((m) => m === dir || m.startsWith(`${dir}/`));
  if (mounts.length > 0) {
    throw new NinesError(
      'NINES_E_LAB_START',
      `${dir} still has mounts (${mounts.join(', ')}); not removing it`,
      {
        hint: `Unmount them (umount ${mounts[0] ?? ''}) and run "nines lab down" again.`,
      },
    );
  }
  rmSync(dir, { recursive: true, force: true });
}

// --- status ---

export type HostState = 'up' | 'down' | 'frozen';

export interface LabHostStatus {
  readonly name: string;
  readonly address: string;
  readonly state: HostState;
  /** The host's PID 1 as seen from this machine. */
  readonly initPid: number | null;
  readonly processes: number;
  /** The host's veth (its "cable") is up. */
  readonly link: 'up' | 'down';
  /** sshd answered with its banner within 500 ms. */
  readonly sshd: boolean;
  /** Active network faults inside the host, e.g. "partition", "isolate-from h2". */
  readonly faults: readonly string[];
}

export interface LabStatus {
  readonly name: string;
  readonly dir: string;
  readonly subnet: string;
  readonly bridge: string;
  readonly controllerAddress: string;
  /** False when the bridge is missing (the machine rebooted: "nines lab up" brings the lab back). */
  readonly network: boolean;
  readonly hosts: readonly LabHostStatus[];
}

async function hostStatus(tools: LabTools, inv: LabInventory, h: LabHost): Promise<LabHostStatus> {
  const initPid = hostInitPid(inv, h.name) ?? null;
  const frozen = initPid !== null && isFrozen(inv.cgroup, h.name);
  const state: HostState = initPid === null ? 'down' : frozen ? 'frozen' : 'up';
  const [sshd, faults] = await Promise.all([
    initPid === null ? Promise.resolve(false) : sshAnswers(h.address, inv.sshPort, 500),
    labFaultRules(tools, h),
  ]);
  return {
    name: h.name,
    address: h.address,
    state,
    initPid,
    processes: netnsPids(h.netns).length,
    link: linkIsUp(h.veth) ? 'up' : 'down',
    sshd,
    faults,
  };
}

/** Status of lab `name`, or of every lab under the base dir when no name is given. */
export async function labStatus(name?: string, options: { baseDir?: string } = {}): Promise<LabStatus[]> {
  requireRoot();
  const tools = labTools();
  const names = name === undefined ? listLabNames(options.baseDir) : [validateLabName(name)];
  return Promise.all(
    names.map(async (n) => {
      const inv = findInventory(n, options.baseDir);
      if (!inv) throw new NinesError('NINES_E_LAB_NOT_FOUND', `'${n}'`);
      const network = linkExists(inv.bridge);
      return {
        name: inv.name,
        dir: inv.dir,
        subnet: inv.subnet,
        bridge: inv.bridge,
        controllerAddress: inv.controllerAddress,
        network,
        hosts: await Promise.all(inv.hosts.map((h) => hostStatus(tools, inv, h))),
      };
    }),
  );
}
