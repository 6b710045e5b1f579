// nines cluster create|import|list|show|delete|recover — clusters through the controller API.
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline/promises';
import { NinesError } from '../../core/errors.ts';
import { parseSpecText } from '../../core/spec.ts';
import type { CommandGroup } from '../main.ts';
import { EXIT, UsageError, printJson, printTable } from '../output.ts';
import { ApiClient, CONNECTION_HELP, CONNECTION_OPTIONS, parseCommand, runCommand } from '../client.ts';
import { waitOrPrint, type JobView } from '../job-progress.ts';

const help = `Usage: nines cluster <subcommand> [options]

  create -f SPEC [--wait]   deploy a cluster from a spec file (YAML or JSON) on its hosts over SSH, with
                            its endpoint (HAProxy, Keepalived VIP) when the spec has one. Running it again
                            with the same spec for a cluster whose deploy failed finishes the deploy
                            (steps are idempotent; omitted credentials come from the first attempt).
  import -f SPEC [--wait]   import a running cluster: reads its topology with the spec's credentials and
                            stores it; nothing is changed on the hosts
  list                      list clusters (state deploying, healthy, degraded, failed, deleting)
  show NAME                 show a cluster (spec with credentials as ***, nodes, endpoint)
  status [NAME] [--watch]   live state with its reason and each node's role, state, lag, connections,
                            qps, galera status ("nines cluster status --help")
  delete NAME [--yes]       delete a cluster from the controller (asks unless --yes) [--wait]; the
                            databases and proxies on the hosts are left running
  switchover NAME [--to HOST] [--no-wait]
                            planned switchover: the primary stops taking writes, HOST (default: the
                            best replica) receives everything and is promoted, the endpoint moves,
                            the old primary follows it; zero loss
  failover NAME [--to HOST] [--force] [--no-wait]
                            fail over now: fence the primary, promote HOST (default: the best
                            replica), repoint the others, switch the endpoint; refused when no loss
                            bound can be proven unless --force (the bound is then reported)
  failovers NAME [ID]       the failover history (phase, candidate, duration, reason), or one with its log
  recover NAME [--force]    Galera with no member serving (full crash, power loss): examine every node,
                            bootstrap the most advanced one with its position (same cluster UUID), rejoin
                            the others by IST. Refused when half the nodes or more cannot be examined, or
                            when servers run without a Primary component; --force accepts either (a
                            minority may miss transactions; pc.bootstrap on the most advanced running
                            node). nines does this by itself when automatic recovery is on.

--wait follows the job: each step and log line as it happens, then the final state.

Exit codes: 0 ok, 1 error, 2 usage, 3 job failed, 4 job cancelled, 5 token refused.

${CONNECTION_HELP}`;

interface ClusterSummary extends Record<string, unknown> {
  name: string;
  type: string;
  version: string;
  state: string;
  nodes: number;
  createdAt: string;
}

interface ShowResponse {
  cluster: ClusterSummary & { observed: { error?: { code: string; message: string; hint?: string } | null } };
  nodes: Record<string, unknown>[];
  endpoint: { proxies: string[]; writePort: number; readPort: number; virtualIp: string | null } | null;
}

function printCluster(res: ShowResponse): void {
  const c = res.cluster;
  console.log(`${c.name}: ${c.type} ${c.version}, ${c.state}, created ${c.createdAt}`);
  const err = c.observed.error;
  if (c.state === 'failed' && err) {
    console.log(`last deploy failed: ${err.code}: ${err.message}`);
    console.log('retry: nines cluster create -f SPEC (the same spec) finishes the deploy');
  }
  const ep = res.endpoint;
  if (ep) {
    const hosts = ep.virtualIp ? [ep.virtualIp] : ep.proxies;
    console.log(
      `endpoint: writes ${hosts.map((h) => `${h}:${ep.writePort}`).join(', ')}; reads ${hosts.map((h) => `${h}:${ep.readPort}`).join(', ')}${ep.virtualIp ? ` (VIP over ${ep.proxies.join(', ')})` : ''}`,
    );
  }
  console.log('');
  printTable(res.nodes, ['host', 'port', 'role', 'datacenter', 'priority', 'state']);
}

async function confirm(name: string): Promise<boolean> {
  if (!process.stdin.isTTY)
    throw new UsageError(`deleting cluster ${name} needs --yes when not run interactively`);
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  const answer = await rl.question(`Delete cluster ${name} from the controller? Type its name to confirm: `);
  rl.close();
  return answer.trim() === name;
}

async function create(
  client: ApiClient,
  file: string | undefined,
  wait: boolean,
  json: boolean,
  what: 'create' | 'import' = 'create',
): Promise<number> {
  if (!file) throw new UsageError(`cluster ${what} needs -f SPEC`);
  let text: string;
  try {
    text = readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (err) {
    throw new NinesError('NINES_E_INVALID_ARGUMENT', `cannot read ${file}`, { cause: err });
  }
  const spec = parseSpecText(text, file); // syntax errors with this file's name, line and column
  const path = what === 'import' ? '/clusters/import' : '/clusters';
  const res = await client.request<{ job: JobView; warnings: string[]; retry?: boolean }>('POST', path, spec);
  if (!json) for (const w of res.warnings) console.error(`warning: ${w}`);
  if (!json && res.retry) console.error('the cluster exists from a failed deploy: deploying it again');
  return waitOrPrint(client, res.job, wait, json);
}

export const group: CommandGroup = {
  summary: 'create (deploy), import, list, show and delete clusters',
  help,
  run: (args) => {
    if (args[0] === 'status') return import('./status.ts').then((m) => m.clusterStatus(args.slice(1)));
    if (['switchover', 'failover', 'failovers', 'recover'].includes(args[0] ?? '')) {
      return import('./recovery.ts').then((m) => m.clusterFailover(args));
    }
    const json = args.includes('--json');
    return runCommand(json, async () => {
      const { values, positionals } = parseCommand(args, {
        ...CONNECTION_OPTIONS,
        file: { type: 'string', short: 'f' },
        wait: { type: 'boolean', default: false },
        yes: { type: 'boolean', short: 'y', default: false },
      });
      if (values.help) {
        console.log(help);
        return EXIT.OK;
      }
      const client = new ApiClient({ url: values.url, token: values.token, ca: values.ca });
      const [sub, name] = positionals;
      switch (sub ?? '') {
        case 'create':
          return create(client, values.file, values.wait, json);
        case 'import':
          return create(client, values.file, values.wait, json, 'import');
        case 'list': {
          const { clusters } = await client.get<{ clusters: ClusterSummary[] }>('/clusters');
          if (json) printJson({ clusters });
          else printTable(clusters, ['name', 'type', 'version', 'state', 'nodes', 'createdAt']);
          return EXIT.OK;
        }
        case 'show': {
          if (!name) throw new UsageError('cluster show needs NAME');
          const res = await client.get<ShowResponse>(`/clusters/${encodeURIComponent(name)}`);
          if (json) printJson(res);
          else printCluster(res);
          return EXIT.OK;
        }
        case 'delete': {
          if (!name) throw new UsageError('cluster delete needs NAME');
          if (!values.yes && !(await confirm(name))) throw new UsageError('not confirmed; nothing deleted');
          const { job } = await client.request<{ job: JobView }>(
            'DELETE',
            `/clusters/${encodeURIComponent(name)}?confirm=${encodeURIComponent(name)}`,
          );
          return waitOrPrint(client, job, values.wait, json);
        }
        default:
          throw new UsageError(
            `unknown subcommand 'cluster ${sub ?? ''}' (create, import, list, show, status, delete, switchover, failover, failovers, recover)`,
          );
      }
    });
  },
};
