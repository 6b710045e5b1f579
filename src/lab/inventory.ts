// The lab's inventory: a JSON file in the lab directory that tells clients (tests, the demo, the controller)
// how to reach the lab's hosts. Written once by `up`; runtime state (pids, faults) is observed, not stored.
import { existsSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NinesError } from '../core/errors.ts';

export const INVENTORY_VERSION = 1;
export const DEFAULT_LAB_BASE_DIR = '/var/lib/nines/labs';

export interface LabHost {
  /** h1, h2, ... (also the host's hostname and its name in every host's /etc/hosts). */
  readonly name: string;
  readonly address: string;
  readonly netns: string;
  /** Host-side end of the host's veth pair (the host sees its end as eth0). */
  readonly veth: string;
  /** The host's private directories on this machine (bind-mounted inside the host, see host-init.ts). */
  readonly dataDir: string;
  /** The host's /var/log as seen from this machine (sshd.log, mysql/, postgresql/). */
  readonly logDir: string;
  /** Output of the host's init script. */
  readonly initLog: string;
  /** The host's ssh host key, "ssh-ed25519 AAAA...". */
  readonly hostKeyPublic: string;
}

export interface CgroupInfo {
  /** v2: cgroup.freeze; v1: the freezer controller's freezer.state. */
  readonly kind: 'v2' | 'v1';
  /** Where the hierarchy is mounted on this machine, e.g. /sys/fs/cgroup/unified. */
  readonly root: string;
  /** This lab's cgroup directory; each host has a child directory named after it. */
  readonly path: string;
}

export interface LabInventory {
  readonly version: number;
  readonly name: string;
  readonly createdAt: string;
  readonly dir: string;
  readonly subnet: string;
  readonly bridge: string;
  /** The bridge's address: where the controller (this machine) is seen from the hosts. */
  readonly controllerAddress: string;
  readonly sshUser: string;
  readonly sshPort: number;
  readonly privateKeyPath: string;
  readonly publicKeyPath: string;
  /** OpenSSH known_hosts with every host's key, for StrictHostKeyChecking=yes. */
  readonly knownHostsPath: string;
  readonly cgroup: CgroupInfo;
  readonly hosts: readonly LabHost[];
}

export function labBaseDir(baseDir?: string): string {
  return baseDir ?? process.env.NINES_LAB_DIR ?? DEFAULT_LAB_BASE_DIR;
}

export function labDir(name: string, baseDir?: string): string {
  return join(labBaseDir(baseDir), name);
}

export function inventoryPath(dir: string): string {
  return join(dir, 'inventory.json');
}

export function saveInventory(inv: LabInventory): void {
  const file = inventoryPath(inv.dir);
  writeFileSync(`${file}.tmp`, `${JSON.stringify(inv, null, 2)}\n`, { mode: 0o644 });
  renameSync(`${file}.tmp`, file);
}

export function findInventory(name: string, baseDir?: string): LabInventory | undefined {
  const file = inventoryPath(labDir(name, baseDir));
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as LabInventory;
  } catch (err) {
    throw new NinesError('NINES_E_LAB_NOT_FOUND', `${file} is not a readable lab inventory`, {
      cause: err,
      hint: `Remove the lab with "nines lab down --name ${name}" and create it again.`,
    });
  }
}

/** The inventory of lab `name`; throws NINES_E_LAB_NOT_FOUND. */
export function loadInventory(name: string, baseDir?: string): LabInventory {
  const inv = findInventory(name, baseDir);
  if (!inv) throw new NinesError('NINES_E_LAB_NOT_FOUND', `'${name}' (in ${labBaseDir(baseDir)})`);
  return inv;
}

/** Names of the labs that have an inventory under the base dir. */
export function listLabNames(baseDir?: string): string[] {
  const base = labBaseDir(baseDir);
  if (!existsSync(base)) return [];
  return readdirSync(base)
    .filter((n) => existsSync(inventoryPath(join(base, n))))
    .sort();
}

export function findHost(inv: LabInventory, host: string): LabHost {
  const h = inv.hosts.find((x) => x.name === host);
  if (!h) {
    throw new NinesError('NINES_E_LAB_HOST_UNKNOWN', `'${host}' in lab '${inv.name}'`, {
      context: { hosts: inv.hosts.map((x) => x.name) },
      hint: `Hosts of lab '${inv.name}': ${inv.hosts.map((x) => x.name).join(', ')}.`,
    });
  }
  return h;
}
