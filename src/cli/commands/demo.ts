// `nines demo`: the README's main job. Brings up lab hosts on this machine (or reuses a running demo lab) and
// shows how to reach them.
import { parseArgs } from 'node:util';
import type { CommandGroup } from '../main.ts';
import { EXIT, printTable, UsageError } from '../output.ts';
import { findInventory, labStatus, labUp, type LabInventory } from '../../lab/index.ts';

const DEMO_LAB = 'demo';

const help = `nines demo — bring up a demo lab on this machine and show it

Usage:
  nines demo [--hosts N] [--name NAME]

Creates lab NAME (default "${DEMO_LAB}") of N hosts (default 3) with "nines lab up", or reuses it when it is
already up, then prints its hosts and how to reach them. Needs root. Remove it with "nines lab down --name NAME".`;

async function ensureLab(name: string, hosts: number): Promise<LabInventory> {
  const existing = findInventory(name);
  if (existing) {
    const [status] = await labStatus(name);
    if (status && status.hosts.every((h) => h.state === 'up')) {
      console.log(`lab '${name}' is already up; reusing it`);
      return existing;
    }
  }
  console.log(`bringing up lab '${name}' with ${hosts} hosts ...`);
  return labUp({ name, hosts });
}

async function run(args: readonly string[]): Promise<number> {
  let values: { hosts?: string; name?: string };
  try {
    ({ values } = parseArgs({
      args: [...args],
      options: { hosts: { type: 'string', default: '3' }, name: { type: 'string', default: DEMO_LAB } },
      strict: true,
    }));
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  const name = values.name ?? DEMO_LAB;
  const inv = await ensureLab(name, Number(values.hosts));
  const [status] = await labStatus(name);
  printTable(
    (status?.hosts ?? []).map((h) => ({ host: h.name, address: h.address, state: h.state, sshd: h.sshd })),
  );
  console.log('');
  console.log(
    `Reach a host:  ssh -i ${inv.privateKeyPath} -o UserKnownHostsFile=${inv.knownHostsPath} root@${inv.hosts[0]?.address ?? ''}`,
  );
  console.log(`Inject faults: bin/nines lab fault h1 crash --name ${name}   (see bin/nines lab --help)`);
  console.log(`Remove it:     bin/nines lab down --name ${name}`);
  return EXIT.OK;
}

export const group: CommandGroup = { summary: 'bring up a demo lab and show it', help, run };
