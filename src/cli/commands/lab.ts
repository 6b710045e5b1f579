// `nines lab ...`: test hosts on this machine and fault injection (runs locally, as root; see docs/lab.md).
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';
import type { CommandGroup } from '../main.ts';
import { EXIT, printJson, printTable, UsageError } from '../output.ts';
import {
  DEFAULT_LAB_NAME,
  execInLabHost,
  FAULTS,
  isFaultName,
  labDown,
  labFault,
  labStatus,
  labUp,
  loadInventory,
  type LabInventory,
  type LabStatus,
} from '../../lab/index.ts';

const help = `nines lab — test hosts on this machine (network namespace + own sshd each) and fault injection

Usage:
  nines lab up --hosts N [--name NAME] [--json]
      Create a lab of N hosts (h1..hN) and wait until every host's sshd accepts connections.
      If the lab exists but its network is gone (machine rebooted), bring it back with its data.
  nines lab status [--name NAME] [--json]
      Hosts with address, state (up/down/frozen), link, sshd answering, active faults. Without --name: all labs.
  nines lab down [--name NAME] [--json]
      Remove the lab: processes, namespaces, links, bridge, iptables rule, cgroups, directory. Idempotent.
  nines lab fault HOST FAULT [OTHER] [--name NAME] [--include-controller] [--json]
      crash         SIGKILL the host's PID 1: every process dies, peers get "connection refused"
      poweroff      take the host's link down, then kill it: peers get timeouts
      restart       start the host again (link up, sshd back); data on disk survives, /run is empty
      partition     drop traffic between the host and every other lab host (the controller's path stays
                    unless --include-controller)
      isolate-from  drop traffic between HOST and OTHER only (both directions)
      cut-controller
                    drop traffic between the host and the controller (this machine, the lab's .1) only:
                    peers and proxies still reach it
      heal          remove the host's partition, cut-controller and the isolate-from rules involving it
                    (HOST may be "all")
      freeze        freeze every process of the host (cgroup freezer): it stops answering
      thaw          unfreeze it
  nines lab exec HOST [--name NAME] -- COMMAND [ARGS...]
      Run a command inside the host (its namespaces, via nsenter; no ssh).

Options:
  --name NAME   lab name (default "${DEFAULT_LAB_NAME}"); lab directory $NINES_LAB_DIR/NAME (default /var/lib/nines/labs)
  --json        machine-readable output
Needs root. Connect to a host with:
  ssh -i DIR/id_ed25519 -o UserKnownHostsFile=DIR/known_hosts -o StrictHostKeyChecking=yes root@ADDRESS`;

const common = {
  name: { type: 'string', default: DEFAULT_LAB_NAME },
  json: { type: 'boolean', default: false },
} as const;

function parse<T extends ParseArgsOptionsConfig>(args: readonly string[], options: T) {
  try {
    return parseArgs({ args: [...args], options, allowPositionals: true as const, strict: true as const });
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
}

function sshCommand(inv: LabInventory, address: string): string {
  return `ssh -i ${inv.privateKeyPath} -o UserKnownHostsFile=${inv.knownHostsPath} -o StrictHostKeyChecking=yes ${inv.sshUser}@${address}`;
}

async function up(args: readonly string[]): Promise<number> {
  const { values, positionals } = parse(args, { ...common, hosts: { type: 'string' } });
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0] ?? ''}'`);
  if (values.hosts === undefined) throw new UsageError('lab up needs --hosts N');
  const started = Date.now();
  const inv = await labUp({ name: values.name, hosts: Number(values.hosts) });
  if (values.json) {
    printJson(inv);
    return EXIT.OK;
  }
  const secs = ((Date.now() - started) / 1000).toFixed(2);
  console.log(
    `lab '${inv.name}' up in ${secs} s: ${inv.hosts.length} hosts on ${inv.subnet} (bridge ${inv.bridge})`,
  );
  printTable(inv.hosts.map((h) => ({ host: h.name, address: h.address, netns: h.netns, data: h.dataDir })));
  console.log(`inventory: ${inv.dir}/inventory.json`);
  console.log(`ssh:       ${sshCommand(inv, inv.hosts[0]?.address ?? 'ADDRESS')}`);
  return EXIT.OK;
}

function printStatus(lab: LabStatus): void {
  const net = lab.network ? '' : ' — network missing (machine rebooted?): "nines lab up" brings it back';
  console.log(
    `lab '${lab.name}' ${lab.subnet} bridge ${lab.bridge} controller ${lab.controllerAddress}${net}`,
  );
  printTable(
    lab.hosts.map((h) => ({
      host: h.name,
      address: h.address,
      state: h.state,
      link: h.link,
      sshd: h.sshd ? 'yes' : 'no',
      pid: h.initPid,
      faults: h.faults.length > 0 ? h.faults.join(', ') : '-',
    })),
  );
}

async function status(args: readonly string[]): Promise<number> {
  const { values } = parse(args, { name: { type: 'string' }, json: common.json });
  const labs = await labStatus(values.name);
  if (values.json) {
    printJson(values.name === undefined ? labs : labs[0]);
    return EXIT.OK;
  }
  if (labs.length === 0) console.log('(no labs)');
  labs.forEach((lab, i) => {
    if (i > 0) console.log('');
    printStatus(lab);
  });
  return EXIT.OK;
}

async function down(args: readonly string[]): Promise<number> {
  const { values } = parse(args, common);
  const started = Date.now();
  const result = await labDown(values.name);
  if (values.json) printJson(result);
  else if (!result.existed) console.log(`lab '${result.name}' does not exist (nothing to do)`);
  else console.log(`lab '${result.name}' removed in ${((Date.now() - started) / 1000).toFixed(2)} s`);
  return EXIT.OK;
}

async function fault(args: readonly string[]): Promise<number> {
  const { values, positionals } = parse(args, { ...common, 'include-controller': { type: 'boolean' } });
  const [host, name, other, extra] = positionals;
  if (host === undefined || name === undefined || extra !== undefined) {
    throw new UsageError('usage: nines lab fault HOST FAULT [OTHER] [--name NAME]');
  }
  if (!isFaultName(name)) throw new UsageError(`unknown fault '${name}' (one of: ${FAULTS.join(', ')})`);
  if ((name === 'isolate-from') !== (other !== undefined)) {
    throw new UsageError(
      name === 'isolate-from' ? 'isolate-from needs OTHER host' : `unexpected argument '${other}'`,
    );
  }
  const hosts =
    host === 'all' && name === 'heal' ? loadInventory(values.name).hosts.map((h) => h.name) : [host];
  const started = Date.now();
  for (const h of hosts) {
    await labFault(values.name, h, name, {
      ...(other !== undefined ? { other } : {}),
      includeController: values['include-controller'] ?? false,
    });
  }
  const ms = Date.now() - started;
  if (values.json) printJson({ lab: values.name, host, fault: name, other: other ?? null, ms });
  else console.log(`${host}: ${name}${other ? ` ${other}` : ''} done in ${ms} ms`);
  return EXIT.OK;
}

async function exec(args: readonly string[]): Promise<number> {
  const sep = args.indexOf('--');
  if (sep < 0) throw new UsageError('usage: nines lab exec HOST [--name NAME] -- COMMAND [ARGS...]');
  const { values, positionals } = parse(args.slice(0, sep), common);
  const [host] = positionals;
  const argv = args.slice(sep + 1);
  if (host === undefined || argv.length === 0)
    throw new UsageError('lab exec needs HOST and a command after --');
  const inv = loadInventory(values.name);
  const r = await execInLabHost(inv, host, argv, { check: false, timeoutMs: 3_600_000 });
  if (values.json) {
    printJson(r);
  } else {
    process.stdout.write(r.stdout);
    process.stderr.write(r.stderr);
  }
  return r.exitCode;
}

const SUBCOMMANDS: Record<string, (args: readonly string[]) => Promise<number>> = {
  up,
  status,
  down,
  fault,
  exec,
};

export const group: CommandGroup = {
  summary: 'test hosts on this machine and fault injection',
  help,
  async run(args) {
    const [sub, ...rest] = args;
    const fn = sub === undefined ? undefined : SUBCOMMANDS[sub];
    if (!fn)
      throw new UsageError(
        `unknown lab subcommand '${sub ?? ''}' (one of: ${Object.keys(SUBCOMMANDS).join(', ')})`,
      );
    const sep = rest.indexOf('--');
    const head = sep < 0 ? rest : rest.slice(0, sep);
    if (head.includes('--help') || head.includes('-h')) {
      console.log(help);
      return EXIT.OK;
    }
    return fn(rest);
  },
};
