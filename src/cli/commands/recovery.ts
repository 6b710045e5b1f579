// nines recovery on|off|status CLUSTER, and nines cluster switchover|failover|failovers — failover through the
// controller API. A requested failover or switchover is followed until it ends (done or aborted) unless
// --no-wait; the exit code says which.
import type { CommandGroup } from '../main.ts';
import { EXIT, UsageError, printJson, printTable } from '../output.ts';
import {
  ApiClient,
  CONNECTION_HELP,
  CONNECTION_OPTIONS,
  apiGroup,
  parseCommand,
  runCommand,
} from '../client.ts';

const help = `Usage: nines recovery <on|off|status> CLUSTER [options]

  status CLUSTER   automatic recovery on or off, the live failover plan (what nines would do if the
                   primary failed now, or why it would not), the current detection, the cooldown,
                   fenced or diverged nodes, and the last failover
  off CLUSTER      suspend automatic failover and rejoin of the cluster (monitoring and alarms go on;
                   a failed primary is then only alarmed, with the reason nothing was done)
  on CLUSTER       resume it

Failover by hand: nines cluster failover|switchover NAME (nines cluster --help).

Exit codes: 0 ok, 1 error, 2 usage, 5 token refused.

${CONNECTION_HELP}`;

interface FailoverView {
  id: number;
  kind: string;
  trigger: string;
  oldPrimary: string;
  candidate: string | null;
  phase: string;
  forced: boolean;
  reason: string;
  data: Record<string, unknown>;
  log: { time: string; line: string }[];
  error: { code: string; message: string; hint?: string } | null;
  startedAt: string;
  finishedAt: string | null;
}

interface StatusView {
  cluster: string;
  supported: boolean;
  enabled: boolean;
  primary: string | null;
  detection: { action: string; reason: string } | null;
  plan: { action: string; reason: string } | null;
  cooldownUntil: string | null;
  running: FailoverView | null;
  last: FailoverView | null;
  nodes: { node: string; state: string; reason: string; since: string }[];
  locks?: { node: string; reason: string | null; by: string | null; at: string }[];
}

function printLocks(s: StatusView): void {
  for (const l of s.locks ?? []) {
    console.log(
      `${l.node}: locked since ${l.at}${l.by ? ` by ${l.by}` : ''}${l.reason ? `: ${l.reason}` : ''}`,
    );
  }
}

function printStatus(s: StatusView): void {
  printLocks(s);
  if (!s.supported) {
    console.log(`${s.cluster}: no failover for this cluster type (every Galera member takes writes)`);
    return;
  }
  console.log(
    `${s.cluster}: automatic recovery ${s.enabled ? 'on' : 'OFF'}; primary ${s.primary ?? 'none known'}`,
  );
  if (s.plan) console.log(s.plan.reason);
  if (s.detection && s.detection.action !== 'healthy')
    console.log(`now: ${s.detection.action}: ${s.detection.reason}`);
  if (s.cooldownUntil)
    console.log(`cooldown: a second automatic failover is refused until ${s.cooldownUntil}`);
  if (s.running) console.log(`running: ${s.running.kind} ${s.running.id}, phase ${s.running.phase}`);
  if (s.last && s.last !== s.running) {
    console.log(
      `last: ${s.last.kind} ${s.last.id} ${s.last.phase} (${s.last.startedAt}): ${s.last.error?.message ?? s.last.reason}`,
    );
  }
  for (const n of s.nodes) console.log(`${n.node}: ${n.state} since ${n.since}: ${n.reason}`);
}

function durationOf(f: FailoverView): string {
  const ms = f.data.durationMs;
  return typeof ms === 'number' ? `${ms} ms` : '';
}

function printFailover(f: FailoverView): void {
  console.log(
    `${f.kind} ${f.id} (${f.trigger}${f.forced ? ', forced' : ''}): ${f.phase}; ${f.oldPrimary} -> ${f.candidate ?? '?'} ${durationOf(f)}`,
  );
  console.log(`reason: ${f.reason}`);
  if (f.error)
    console.log(`${f.error.code}: ${f.error.message}${f.error.hint ? `\nhint: ${f.error.hint}` : ''}`);
  for (const l of f.log) console.log(`  ${l.time}  ${l.line}`);
}

const FINAL = new Set(['done', 'aborted']);

async function follow(client: ApiClient, cluster: string, f: FailoverView, json: boolean): Promise<number> {
  const path = `/clusters/${encodeURIComponent(cluster)}/failovers/${f.id}`;
  let current = f;
  let printed = 0;
  const deadline = Date.now() + 10 * 60_000;
  while (!FINAL.has(current.phase) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
    current = (await client.get<{ failover: FailoverView }>(path)).failover;
    if (!json) {
      for (const l of current.log.slice(printed)) console.log(`  ${l.time}  ${l.line}`);
      printed = current.log.length;
    }
  }
  if (json) printJson({ failover: current });
  else
    console.log(
      `${current.kind} ${current.id}: ${current.phase}${current.error ? `: ${current.error.message}` : ''}`,
    );
  return current.phase === 'done' ? EXIT.OK : EXIT.JOB_FAILED;
}

async function history(
  client: ApiClient,
  base: string,
  id: string | undefined,
  json: boolean,
): Promise<number> {
  if (id !== undefined) {
    if (!/^[1-9][0-9]{0,15}$/.test(id)) throw new UsageError(`expected a failover id, got '${id}'`);
    const { failover } = await client.get<{ failover: FailoverView }>(`${base}/failovers/${id}`);
    if (json) printJson({ failover });
    else printFailover(failover);
    return EXIT.OK;
  }
  const { failovers } = await client.get<{ failovers: FailoverView[] }>(`${base}/failovers`);
  if (json) printJson({ failovers });
  else
    printTable(
      failovers.map((f) => ({
        ...f,
        to: f.candidate,
        duration: durationOf(f),
        why: f.error?.message ?? f.reason,
      })),
      ['id', 'kind', 'trigger', 'phase', 'oldPrimary', 'to', 'duration', 'startedAt', 'why'],
    );
  return EXIT.OK;
}

interface RecoverView {
  action: string;
  reason: string;
  bootstrapped?: string;
  position?: string;
  joined?: string[];
  unexamined?: string[];
}

/** nines cluster recover NAME [--force]: exit 0 when the cluster serves (recovered or already), 1 otherwise. */
async function recover(client: ApiClient, base: string, force: boolean, json: boolean): Promise<number> {
  const { recovery } = await client.request<{ recovery: RecoverView }>('POST', `${base}/recover`, {
    ...(force ? { force: true } : {}),
  });
  if (json) printJson({ recovery });
  else {
    console.log(`${recovery.action}: ${recovery.reason}`);
    if (recovery.bootstrapped)
      console.log(
        `bootstrapped ${recovery.bootstrapped}${recovery.position ? ` at ${recovery.position}` : ''}`,
      );
    if (recovery.joined?.length) console.log(`rejoined: ${recovery.joined.join(', ')}`);
    if (recovery.unexamined?.length)
      console.log(`not examined (host down): ${recovery.unexamined.join(', ')}`);
  }
  return recovery.action === 'recovered' || recovery.action === 'serving' ? EXIT.OK : EXIT.FAILURE;
}

/** nines cluster switchover|failover|failovers|recover ... */
export function clusterFailover(args: readonly string[]): Promise<number> {
  const json = args.includes('--json');
  return runCommand(json, async () => {
    const { values, positionals } = parseCommand([...args], {
      ...CONNECTION_OPTIONS,
      to: { type: 'string' },
      force: { type: 'boolean', default: false },
      'no-wait': { type: 'boolean', default: false },
    });
    const [sub, name, id] = positionals;
    if (!name) throw new UsageError(`cluster ${sub ?? ''} needs NAME`);
    const client = new ApiClient({ url: values.url, token: values.token, ca: values.ca });
    const base = `/clusters/${encodeURIComponent(name)}`;
    if (sub === 'failovers') return history(client, base, id, json);
    if (sub === 'recover') return recover(client, base, values.force, json);
    const body =
      sub === 'failover'
        ? { ...(values.to ? { to: values.to } : {}), ...(values.force ? { force: true } : {}) }
        : { ...(values.to ? { to: values.to } : {}) };
    if (sub === 'switchover' && values.force)
      throw new UsageError('switchover has no --force (it never loses writes)');
    const { failover } = await client.request<{ failover: FailoverView }>('POST', `${base}/${sub}`, body);
    if (!json) console.log(`${failover.kind} ${failover.id} of ${name} started: ${failover.reason}`);
    if (values['no-wait']) {
      if (json) printJson({ failover });
      return EXIT.OK;
    }
    return follow(client, name, failover, json);
  });
}

export const group: CommandGroup = apiGroup({
  summary: 'automatic recovery on/off and the live failover plan',
  help,
  options: {},
  async run({ positionals, client, json }) {
    const [sub, name] = positionals;
    if (!name || !['on', 'off', 'status'].includes(sub ?? '')) {
      throw new UsageError('usage: nines recovery on|off|status CLUSTER');
    }
    const path = `/clusters/${encodeURIComponent(name)}/recovery`;
    const status =
      sub === 'status'
        ? await client.get<StatusView>(path)
        : await client.request<StatusView>('POST', path, { enabled: sub === 'on' });
    if (json) printJson(status);
    else printStatus(status);
    return EXIT.OK;
  },
});
