// nines cluster status [NAME] [--watch]  and  nines node stats CLUSTER [--node H]
// A live topology view: the cluster state with its reason, then one line per node (role, state, lag, connections,
// qps, galera status). With --watch it polls the status route every --interval and redraws in place on a TTY, or
// prints one snapshot per line (JSON with --json) when stdout is not a terminal.
import { EXIT, UsageError, printJson, printTable } from '../output.ts';
import { ApiClient, CONNECTION_HELP, CONNECTION_OPTIONS, parseCommand, runCommand } from '../client.ts';

export const statusHelp = `Usage: nines cluster status [NAME] [--watch] [--interval SECONDS]

Without NAME: one line per cluster (state, reason, nodes up, alarms).
With NAME: the cluster's state and reason, and per node: role, state, lag, connections, qps, galera status,
active alarms and maintenance windows.
  --watch            keep refreshing (redraw in place on a terminal; one snapshot per line otherwise)
  --interval S       refresh period with --watch (default 1)

${CONNECTION_HELP}`;

export const statsHelp = `Usage: nines node stats CLUSTER [--node HOST[:PORT]]

Per node figures of the latest probe: state, role, connections (of max), qps, tps, replication lag, oldest
running query, galera queue / flow control, host CPU, memory, disk and load.

${CONNECTION_HELP}`;

interface NodeView {
  node: string;
  state: string;
  role: string;
  reason: string;
  maintenance: boolean;
  lagSeconds: number | null;
  connections: number | null;
  maxConnections: number | null;
  qps: number | null;
  tps: number | null;
  longestQuerySeconds: number | null;
  galera: {
    clusterStatus?: string;
    localState?: string;
    clusterSize?: number;
    recvQueue?: number;
    flowControlPaused?: number;
  } | null;
  hostStats: { cpuPct?: number; memPct?: number; diskPct?: number; load1?: number } | null;
  error: { code: string; message: string } | null;
}

interface StatusView {
  cluster: string;
  type: string;
  state: string;
  reason: string;
  time: string | null;
  nodes: NodeView[];
  alarms: {
    id: number;
    severity: string;
    rule: string;
    node?: string;
    reason: string;
    acknowledged?: unknown;
  }[];
  maintenance: { node: string | null; until: number; reason?: string }[];
  recovery?: {
    enabled: boolean;
    plan: string | null;
    detection: { action: string; reason: string } | null;
    running: { id: number; kind: string; phase: string } | null;
    nodes: { node: string; state: string; reason: string }[];
  } | null;
}

const fmt = (v: number | null | undefined, unit = ''): string =>
  v === null || v === undefined ? '-' : `${Math.round(v * 10) / 10}${unit}`;

function galeraText(g: NodeView['galera']): string {
  if (!g) return '-';
  return `${g.clusterStatus ?? '?'}/${g.localState ?? '?'} size ${g.clusterSize ?? '?'}`;
}

/** Automatic recovery in a few lines: on/off, the live failover plan, a running failover, fenced nodes. */
function recoveryLines(r: StatusView['recovery']): string[] {
  if (!r) return [];
  const out = ['', `Recovery: automatic ${r.enabled ? 'on' : 'OFF (nines recovery on NAME)'}`];
  if (r.plan) out.push(`  ${r.plan}`);
  if (r.detection && r.detection.action !== 'healthy') out.push(`  now: ${r.detection.reason}`);
  if (r.running) out.push(`  running: ${r.running.kind} ${r.running.id}, phase ${r.running.phase}`);
  for (const n of r.nodes) out.push(`  ${n.node} ${n.state}: ${n.reason}`);
  return out;
}

/** The lines of the topology view of one cluster. */
export function renderStatus(s: StatusView): string[] {
  const lines = [`${s.cluster} (${s.type}): ${s.reason}${s.time ? `   [${s.time}]` : ''}`, ''];
  const rows = s.nodes.map((n) => ({
    node: n.node,
    role: n.role,
    state: `${n.state}${n.maintenance ? ' (maint)' : ''}`,
    lag: fmt(n.lagSeconds, ' s'),
    conns: fmt(n.connections),
    qps: fmt(n.qps),
    galera: galeraText(n.galera),
    detail: n.state === 'up' ? '' : n.reason,
  }));
  const cols = ['node', 'role', 'state', 'lag', 'conns', 'qps', 'galera', 'detail'] as const;
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => r[c].length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((v, i) => v.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  lines.push(line(cols.map((c) => c.toUpperCase())), ...rows.map((r) => line(cols.map((c) => r[c]))));
  if (s.alarms.length > 0) {
    lines.push('', 'Alarms:');
    for (const a of s.alarms) {
      lines.push(
        `  #${a.id} ${a.severity.padEnd(8)} ${a.rule}${a.node ? ` ${a.node}` : ''}: ${a.reason}${a.acknowledged ? ' (acked)' : ''}`,
      );
    }
  }
  for (const m of s.maintenance) {
    lines.push(
      `Maintenance: ${m.node ?? 'cluster'} until ${new Date(m.until).toISOString()}${m.reason ? ` (${m.reason})` : ''}`,
    );
  }
  lines.push(...recoveryLines(s.recovery));
  return lines;
}

interface Summary {
  cluster: string;
  type: string;
  state: string;
  reason: string;
  nodes: number;
  nodesUp: number;
  alarms: number;
}

function renderSummary(clusters: Summary[]): string[] {
  if (clusters.length === 0) return ['(no clusters)'];
  return clusters.map(
    (c) =>
      `${c.cluster.padEnd(16)} ${c.state.padEnd(11)} ${c.nodesUp}/${c.nodes} up  ${c.alarms} alarms  ${c.reason}`,
  );
}

async function fetchLines(
  client: ApiClient,
  name: string | undefined,
): Promise<{ data: unknown; lines: string[] }> {
  if (name) {
    const s = await client.get<StatusView>(`/clusters/${encodeURIComponent(name)}/status`);
    return { data: s, lines: renderStatus(s) };
  }
  const { clusters } = await client.get<{ clusters: Summary[] }>('/status');
  return { data: { clusters }, lines: renderSummary(clusters) };
}

async function watch(
  client: ApiClient,
  name: string | undefined,
  intervalMs: number,
  json: boolean,
): Promise<number> {
  const tty = process.stdout.isTTY === true;
  let stop = false;
  process.once('SIGINT', () => {
    stop = true;
  });
  while (!stop) {
    const started = Date.now();
    try {
      const { data, lines } = await fetchLines(client, name);
      if (json) console.log(JSON.stringify(data));
      else if (tty)
        process.stdout.write(
          `\x1b[H\x1b[2J${lines.join('\n')}\n\n(refreshing every ${intervalMs / 1000} s; Ctrl-C to stop)\n`,
        );
      else console.log(`${new Date().toISOString()} ${lines.filter(Boolean).join(' | ')}`);
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      if (tty && !json) process.stdout.write(`\x1b[H\x1b[2Jcontroller not answering: ${msg}\n`);
      else console.error(`controller not answering: ${msg}`);
    }
    await new Promise((r) => setTimeout(r, Math.max(0, started + intervalMs - Date.now())));
  }
  return EXIT.OK;
}

export function clusterStatus(args: readonly string[]): Promise<number> {
  const json = args.includes('--json');
  return runCommand(json, async () => {
    const { values, positionals } = parseCommand(args, {
      ...CONNECTION_OPTIONS,
      watch: { type: 'boolean', short: 'w', default: false },
      interval: { type: 'string' },
    });
    if (values.help) {
      console.log(statusHelp);
      return EXIT.OK;
    }
    if (positionals.length > 1) throw new UsageError(`unexpected argument '${positionals[1] ?? ''}'`);
    const client = new ApiClient({ url: values.url, token: values.token, ca: values.ca });
    const seconds = Number(values.interval ?? '1');
    if (!(seconds > 0))
      throw new UsageError(`--interval: expected seconds > 0, got '${values.interval ?? ''}'`);
    if (values.watch) return watch(client, positionals[0], seconds * 1000, json);
    const { data, lines } = await fetchLines(client, positionals[0]);
    if (json) printJson(data);
    else console.log(lines.join('\n'));
    return EXIT.OK;
  });
}

export function nodeStats(args: readonly string[]): Promise<number> {
  const json = args.includes('--json');
  return runCommand(json, async () => {
    const { values, positionals } = parseCommand(args, { ...CONNECTION_OPTIONS, node: { type: 'string' } });
    if (values.help) {
      console.log(statsHelp);
      return EXIT.OK;
    }
    const cluster = positionals[0];
    if (!cluster) throw new UsageError('node stats needs CLUSTER');
    const client = new ApiClient({ url: values.url, token: values.token, ca: values.ca });
    const s = await client.get<StatusView>(`/clusters/${encodeURIComponent(cluster)}/status`);
    const want = values.node;
    const nodes = s.nodes.filter((n) => !want || n.node === want || n.node.startsWith(`${want}:`));
    if (want && nodes.length === 0) throw new UsageError(`cluster ${cluster} has no node ${want}`);
    if (json) {
      printJson({ cluster, time: s.time, nodes });
      return EXIT.OK;
    }
    printTable(
      nodes.map((n) => ({
        node: n.node,
        state: n.state,
        role: n.role,
        conns: n.maxConnections ? `${fmt(n.connections)}/${n.maxConnections}` : fmt(n.connections),
        qps: fmt(n.qps),
        tps: fmt(n.tps),
        lag: fmt(n.lagSeconds, ' s'),
        longestQuery: fmt(n.longestQuerySeconds, ' s'),
        galeraQueue: n.galera ? fmt(n.galera.recvQueue) : '-',
        flowCtl: n.galera ? fmt(n.galera.flowControlPaused) : '-',
        cpu: fmt(n.hostStats?.cpuPct, '%'),
        mem: fmt(n.hostStats?.memPct, '%'),
        disk: fmt(n.hostStats?.diskPct, '%'),
        load1: fmt(n.hostStats?.load1),
      })),
    );
    return EXIT.OK;
  });
}
