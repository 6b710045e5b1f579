// nines queries top|running CLUSTER [--node H]  |  nines queries kill CLUSTER --node H ID [--terminate] [--wait]
import type { CommandGroup } from '../main.ts';
import { EXIT, UsageError, printJson, printTable } from '../output.ts';
import type { ApiClient } from '../client.ts';
import { CONNECTION_HELP, apiGroup } from '../client.ts';
import { exitCodeFor, followJob, type JobView } from '../job-progress.ts';

const help = `Usage: nines queries top CLUSTER [--node H] [--limit N] [--order-by totalTime|calls|rows]
       nines queries running CLUSTER [--node H]
       nines queries kill CLUSTER --node H ID [--terminate] [--wait]

  top       statements with the most total time (or calls, rows) per node
  running   client statements running now, oldest first (ID is the connection id / backend pid)
  kill      cancel statement ID on node H (--terminate ends the whole session); runs as the audited
            query.kill job (who, node and query id are recorded)

${CONNECTION_HELP}`;

interface NodeResult<T> {
  node: string;
  rows: T[];
  error?: { code: string; message: string };
}

const short = (s: string, n = 80): string =>
  (s.length > n ? `${s.slice(0, n - 1)}…` : s).replace(/\s+/g, ' ');

function printNodes<T>(nodes: NodeResult<T>[], row: (node: string, r: T) => Record<string, unknown>): void {
  const rows = nodes.flatMap((n) => n.rows.map((r) => row(n.node, r)));
  printTable(rows);
  for (const n of nodes) if (n.error) console.error(`${n.node}: error ${n.error.code}: ${n.error.message}`);
}

interface Opts {
  node?: string | undefined;
  limit?: string | undefined;
  'order-by'?: string | undefined;
  terminate?: boolean | undefined;
  wait?: boolean | undefined;
}

async function top(
  client: ApiClient,
  base: string,
  q: URLSearchParams,
  values: Opts,
  json: boolean,
): Promise<number> {
  if (values.limit) q.set('limit', values.limit);
  if (values['order-by']) q.set('orderBy', values['order-by']);
  const res = await client.get<{ nodes: NodeResult<Record<string, unknown>>[] }>(
    `${base}/top?${q.toString()}`,
  );
  if (json) printJson(res);
  else
    printNodes(res.nodes, (node, r) => ({
      node,
      calls: r.calls,
      totalMs: Math.round(Number(r.totalTimeMs)),
      meanMs: Math.round(Number(r.meanTimeMs) * 100) / 100,
      rows: r.rows,
      statement: short(String(r.text)),
    }));
  return EXIT.OK;
}

async function running(client: ApiClient, base: string, q: URLSearchParams, json: boolean): Promise<number> {
  const res = await client.get<{ nodes: NodeResult<Record<string, unknown>>[] }>(
    `${base}/running?${q.toString()}`,
  );
  if (json) printJson(res);
  else
    printNodes(res.nodes, (node, r) => ({
      node,
      id: r.id,
      user: r.user,
      seconds: r.seconds,
      state: r.state,
      query: short(String(r.text)),
    }));
  return EXIT.OK;
}

async function kill(
  client: ApiClient,
  base: string,
  id: string | undefined,
  values: Opts,
  json: boolean,
): Promise<number> {
  if (!values.node) throw new UsageError('queries kill needs --node H');
  if (!id || !/^\d+$/.test(id)) throw new UsageError(`queries kill needs a query ID, got '${id ?? ''}'`);
  const { job } = await client.request<{ job: JobView }>('POST', `${base}/kill`, {
    node: values.node,
    id: Number(id),
    ...(values.terminate ? { terminate: true } : {}),
  });
  if (!values.wait) {
    if (json) printJson({ job });
    else console.log(`job ${job.id} query.kill queued; follow it with: nines job logs ${job.id} --follow`);
    return EXIT.OK;
  }
  const final = await followJob(client, job.id, { quiet: json, logs: !json });
  if (json) printJson({ job: final });
  else console.log(`job ${final.id} query.kill ${final.state}`);
  return exitCodeFor(final);
}

export const group: CommandGroup = apiGroup({
  summary: 'top statements, running queries, kill a query',
  help,
  options: {
    node: { type: 'string' },
    limit: { type: 'string' },
    'order-by': { type: 'string' },
    terminate: { type: 'boolean', default: false },
    wait: { type: 'boolean', default: false },
  },
  run: async ({ values, positionals, client, json }) => {
    const [sub, cluster, id] = positionals;
    if (!cluster) throw new UsageError(`queries ${sub ?? '<top|running|kill>'} needs CLUSTER`);
    const base = `/clusters/${encodeURIComponent(cluster)}/queries`;
    const q = new URLSearchParams();
    if (values.node) q.set('node', values.node);
    switch (sub ?? '') {
      case 'top':
        return top(client, base, q, values, json);
      case 'running':
        return running(client, base, q, json);
      case 'kill':
        return kill(client, base, id, values, json);
      default:
        throw new UsageError(`unknown subcommand 'queries ${sub ?? ''}' (top, running, kill)`);
    }
  },
});
