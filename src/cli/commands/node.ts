// nines node list|add|remove|rebuild|lock|unlock — the nodes of clusters through the controller API.
import type { CommandGroup } from '../main.ts';
import { EXIT, UsageError, printJson, printTable } from '../output.ts';
import { ApiClient, CONNECTION_HELP, CONNECTION_OPTIONS, parseCommand, runCommand } from '../client.ts';
import { waitOrPrint, type JobView } from '../job-progress.ts';

const help = `Usage: nines node <subcommand> [options]

  list [--cluster NAME]                    list the nodes of every cluster, or of one
  stats CLUSTER [--node H]                 figures of the latest probe per node (connections, qps, lag,
                                           galera queue, host CPU/memory/disk)
  add CLUSTER --host H [--port P] [--datacenter DC] [--priority N] [--wait]
                                           add a node to a running cluster: the database is installed
                                           and configured on H over SSH (same ssh settings as the
                                           cluster), joins as a replica (Galera: a member), and the
                                           endpoint's HAProxy learns it
  remove CLUSTER --host H [--port P] [--force] [--wait]
                                           stop a node and take it out of the cluster and the endpoint;
                                           removing the primary, a node others replicate from, or a
                                           Galera node whose loss breaks quorum is refused without --force
  rebuild CLUSTER --host H [--port P] [--wait]
                                           discard H's data, copy the primary's and replicate from it: the
                                           way back for a former primary that diverged (it wrote what the
                                           new primary never had) or a broken replica
  lock CLUSTER --host H [--port P] [--reason TEXT]
                                           self-healing leaves H alone (never starts, repairs or reopens
                                           it) while you work on it by hand; shown in nines recovery status
  unlock CLUSTER --host H [--port P]       self-healing looks after H again

--wait follows the job (each step and log line), then prints the final state.
Exit codes: 0 ok, 1 error, 2 usage, 3 job failed, 4 job cancelled, 5 token refused.

${CONNECTION_HELP}`;

function parsePort(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535)
    throw new UsageError(`--port: expected 1-65535, got '${value}'`);
  return n;
}

function parsePriority(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 1000)
    throw new UsageError(`--priority: expected 0-1000, got '${value}'`);
  return n;
}

interface Target {
  readonly cluster: string;
  readonly host: string;
  readonly port: number | undefined;
}

async function addNode(
  client: ApiClient,
  t: Target,
  datacenter: string | undefined,
  priority: number | undefined,
): Promise<JobView> {
  const res = await client.request<{ job: JobView }>(
    'POST',
    `/clusters/${encodeURIComponent(t.cluster)}/nodes`,
    {
      host: t.host,
      ...(t.port !== undefined ? { port: t.port } : {}),
      ...(datacenter !== undefined ? { datacenter } : {}),
      ...(priority !== undefined ? { priority } : {}),
    },
  );
  return res.job;
}

async function removeNode(client: ApiClient, t: Target, force: boolean): Promise<JobView> {
  const query = new URLSearchParams({
    ...(t.port !== undefined ? { port: String(t.port) } : {}),
    ...(force ? { force: '1' } : {}),
  }).toString();
  const path = `/clusters/${encodeURIComponent(t.cluster)}/nodes/${encodeURIComponent(t.host)}`;
  const res = await client.request<{ job: JobView }>('DELETE', `${path}${query ? `?${query}` : ''}`);
  return res.job;
}

async function rebuildNode(client: ApiClient, t: Target): Promise<JobView> {
  const res = await client.request<{ job: JobView }>(
    'POST',
    `/clusters/${encodeURIComponent(t.cluster)}/nodes/rebuild`,
    { host: t.host, ...(t.port !== undefined ? { port: t.port } : {}) },
  );
  return res.job;
}

async function lockNode(
  client: ApiClient,
  t: Target,
  lock: boolean,
  reason: string | undefined,
  json: boolean,
) {
  const res = await client.request<{ locks: { node: string; reason: string | null; at: string }[] }>(
    'POST',
    `/clusters/${encodeURIComponent(t.cluster)}/nodes/${lock ? 'lock' : 'unlock'}`,
    {
      host: t.host,
      ...(t.port !== undefined ? { port: t.port } : {}),
      ...(reason !== undefined ? { reason } : {}),
    },
  );
  if (json) printJson(res);
  else if (res.locks.length === 0) console.log(`no node of ${t.cluster} is locked`);
  else printTable(res.locks, ['node', 'at', 'reason']);
  return EXIT.OK;
}

function nodeTarget(
  sub: string | undefined,
  cluster: string | undefined,
  host: string | undefined,
  port: string | undefined,
): Target {
  if (!['add', 'remove', 'rebuild', 'lock', 'unlock'].includes(sub ?? '')) {
    throw new UsageError(
      `unknown subcommand 'node ${sub ?? ''}' (list, stats, add, remove, rebuild, lock, unlock)`,
    );
  }
  if (!cluster) throw new UsageError(`node ${sub ?? ''} needs CLUSTER`);
  if (!host) throw new UsageError(`node ${sub ?? ''} needs --host HOST`);
  return { cluster, host, port: parsePort(port) };
}

export const group: CommandGroup = {
  summary: 'list, add, remove, rebuild, lock and unlock nodes',
  help,
  run: (args) => {
    if (args[0] === 'stats') return import('./status.ts').then((m) => m.nodeStats(args.slice(1)));
    const json = args.includes('--json');
    return runCommand(json, async () => {
      const { values, positionals } = parseCommand(args, {
        ...CONNECTION_OPTIONS,
        cluster: { type: 'string' },
        host: { type: 'string' },
        port: { type: 'string' },
        datacenter: { type: 'string' },
        priority: { type: 'string' },
        force: { type: 'boolean', default: false },
        wait: { type: 'boolean', default: false },
        reason: { type: 'string' },
      });
      if (values.help) {
        console.log(help);
        return EXIT.OK;
      }
      const [sub, cluster] = positionals;
      const client = new ApiClient({ url: values.url, token: values.token, ca: values.ca });
      if (sub === 'list') {
        const q = values.cluster ? `?cluster=${encodeURIComponent(values.cluster)}` : '';
        const { nodes } = await client.get<{ nodes: Record<string, unknown>[] }>(`/nodes${q}`);
        if (json) printJson({ nodes });
        else printTable(nodes, ['cluster', 'host', 'port', 'role', 'datacenter', 'priority', 'state']);
        return EXIT.OK;
      }
      const target = nodeTarget(sub, cluster, values.host, values.port);
      if (sub === 'lock' || sub === 'unlock') {
        return lockNode(client, target, sub === 'lock', values.reason, json);
      }
      const job =
        sub === 'add'
          ? await addNode(client, target, values.datacenter, parsePriority(values.priority))
          : sub === 'rebuild'
            ? await rebuildNode(client, target)
            : await removeNode(client, target, values.force);
      return waitOrPrint(client, job, values.wait, json);
    });
  },
};
