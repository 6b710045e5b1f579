// Fault injection on lab hosts. Network faults are iptables rules inside the host's own network namespace, in a
// dedicated chain (NINES_FAULT, jumped to from INPUT and OUTPUT), each rule tagged with a comment naming the
// fault so `status` can report it and `heal` can remove exactly it. Rules live in the namespace, so they survive
// a crash/restart of the host (like a switch port would).
import { NinesError } from '../core/errors.ts';
import { freezeHost, thawHost } from './cgroup.ts';
import { hostPids, killHostProcesses, netnsInitPid, startHost } from './host.ts';
import { findHost, loadInventory, type LabHost, type LabInventory } from './inventory.ts';
import { setLink } from './network.ts';
import { labTools, requireRoot, run, type LabTools } from './sys.ts';

export const FAULTS = [
  'crash',
  'poweroff',
  'restart',
  'partition',
  'heal',
  'freeze',
  'thaw',
  'isolate-from',
  'cut-controller',
] as const;
export type LabFaultName = (typeof FAULTS)[number];

export const FAULT_CHAIN = 'NINES_FAULT';
const TAG = 'nines:';

export function isFaultName(value: string): value is LabFaultName {
  return (FAULTS as readonly string[]).includes(value);
}

export interface LabFaultOptions {
  /** For isolate-from: the other host. */
  readonly other?: string;
  /** For partition: also cut the controller's path (.1) to the host. */
  readonly includeController?: boolean;
  readonly baseDir?: string;
}

function iptablesIn(tools: LabTools, h: LabHost, args: readonly string[]): string[] {
  return [tools.nsenter, `--net=/run/netns/${h.netns}`, '--', tools.iptables, '-w', '5', ...args];
}

async function ensureChain(tools: LabTools, h: LabHost): Promise<void> {
  const probe = await run(iptablesIn(tools, h, ['-S', FAULT_CHAIN]), { check: false });
  if (probe.exitCode === 0) return;
  await run(iptablesIn(tools, h, ['-N', FAULT_CHAIN]));
  await run(iptablesIn(tools, h, ['-I', 'INPUT', '1', '-j', FAULT_CHAIN]));
  await run(iptablesIn(tools, h, ['-I', 'OUTPUT', '1', '-j', FAULT_CHAIN]));
}

/** Rule specs (without -A/-D and chain) that drop traffic to and from `address`, tagged with `tag`. */
export function dropRules(address: string, tag: string): string[][] {
  const comment = ['-m', 'comment', '--comment', `${TAG}${tag}`];
  return [
    ['-s', `${address}/32`, ...comment, '-j', 'DROP'],
    ['-d', `${address}/32`, ...comment, '-j', 'DROP'],
  ];
}

async function addRules(tools: LabTools, h: LabHost, rules: readonly string[][]): Promise<void> {
  await ensureChain(tools, h);
  for (const rule of rules) await run(iptablesIn(tools, h, ['-A', FAULT_CHAIN, ...rule]));
}

/** Deletes every copy of each rule (idempotent). */
async function deleteRules(tools: LabTools, h: LabHost, rules: readonly string[][]): Promise<void> {
  for (const rule of rules) {
    for (let i = 0; i < 10; i++) {
      const r = await run(iptablesIn(tools, h, ['-D', FAULT_CHAIN, ...rule]), { check: false });
      if (r.exitCode !== 0) break;
    }
  }
}

/** The fault tags active in the host's chain, e.g. ["partition", "isolate-from h2"]. */
export async function labFaultRules(tools: LabTools, h: LabHost): Promise<string[]> {
  const r = await run(iptablesIn(tools, h, ['-S', FAULT_CHAIN]), { check: false });
  if (r.exitCode !== 0) return [];
  const tags = [...r.stdout.matchAll(/--comment "?nines:([^"\s]+)"?/g)].map((m) =>
    (m[1] ?? '').replace(':', ' '),
  );
  return [...new Set(tags)];
}

function partitionRules(inv: LabInventory, h: LabHost, includeController: boolean): string[][] {
  const tag = includeController ? 'partition+controller' : 'partition';
  const peers = inv.hosts.filter((x) => x.name !== h.name).map((x) => x.address);
  if (includeController) peers.push(inv.controllerAddress);
  return peers.flatMap((a) => dropRules(a, tag));
}

/** Drops traffic between the host and the controller's address only: peers and proxies still reach it. */
function cutControllerRules(inv: LabInventory): string[][] {
  return dropRules(inv.controllerAddress, 'cut-controller');
}

/** Heal: flush the host's chain and remove the isolate-from rules other hosts hold against it. */
async function heal(tools: LabTools, inv: LabInventory, h: LabHost): Promise<void> {
  await run(iptablesIn(tools, h, ['-F', FAULT_CHAIN]), { check: false }); // fails only when there is no chain
  await Promise.all(
    inv.hosts
      .filter((x) => x.name !== h.name)
      .map((x) => deleteRules(tools, x, dropRules(h.address, `isolate-from:${h.name}`))),
  );
}

async function restart(tools: LabTools, inv: LabInventory, h: LabHost): Promise<void> {
  await thawHost(inv.cgroup, h.name); // else the new init would join a frozen cgroup
  if (netnsInitPid(h.netns) !== undefined) await killHostProcesses(inv.cgroup, h.name, h.netns);
  await setLink(tools, h.veth, true);
  await startHost(tools, inv, h);
}

function otherHost(inv: LabInventory, h: LabHost, other: string | undefined): LabHost {
  if (other === undefined) {
    throw new NinesError('NINES_E_INVALID_ARGUMENT', 'isolate-from needs the other host', {
      hint: 'Usage: nines lab fault h1 isolate-from h2',
    });
  }
  const o = findHost(inv, other);
  if (o.name === h.name)
    throw new NinesError('NINES_E_INVALID_ARGUMENT', 'a host cannot be isolated from itself');
  return o;
}

/** Applies `fault` to `host` of lab `name`. See docs/lab.md for what each fault looks like from the peers. */
export async function labFault(
  name: string,
  host: string,
  fault: LabFaultName,
  options: LabFaultOptions = {},
): Promise<void> {
  requireRoot();
  const tools = labTools();
  const inv = loadInventory(name, options.baseDir);
  const h = findHost(inv, host);
  await applyFault(tools, inv, h, fault, options);
}

async function applyFault(
  tools: LabTools,
  inv: LabInventory,
  h: LabHost,
  fault: LabFaultName,
  options: LabFaultOptions,
): Promise<void> {
  switch (fault) {
    case 'crash':
      return killHostProcesses(inv.cgroup, h.name, h.netns);
    case 'poweroff':
      await setLink(tools, h.veth, false);
      return killHostProcesses(inv.cgroup, h.name, h.netns);
    case 'restart':
      return restart(tools, inv, h);
    case 'partition':
      return addRules(tools, h, partitionRules(inv, h, options.includeController ?? false));
    case 'heal':
      return heal(tools, inv, h);
    case 'freeze':
      if (netnsInitPid(h.netns) === undefined) {
        throw new NinesError('NINES_E_LAB_START', `host ${h.name} is down; nothing to freeze`);
      }
      return freezeHost(inv.cgroup, h.name, hostPids(inv, h.name));
    case 'thaw':
      return thawHost(inv.cgroup, h.name);
    case 'cut-controller':
      return addRules(tools, h, cutControllerRules(inv));
    case 'isolate-from': {
      const o = otherHost(inv, h, options.other);
      await addRules(tools, h, dropRules(o.address, `isolate-from:${o.name}`));
      return addRules(tools, o, dropRules(h.address, `isolate-from:${h.name}`));
    }
  }
}
