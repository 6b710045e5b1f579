// nines cluster create|list|show|delete — clusters through the controller API.
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline/promises';
import { NinesError } from '../../core/errors.ts';
import { parseSpecText } from '../../core/spec.ts';
import type { CommandGroup } from '../main.ts';
import { EXIT, UsageError, printJson, printTable } from '../output.ts';
import { ApiClient, CONNECTION_HELP, CONNECTION_OPTIONS, parseCommand, runCommand } from '../client.ts';
import { exitCodeFor, followJob, type JobView } from '../job-progress.ts';

const help = `Usage: nines cluster <subcommand> [options]

  create -f SPEC [--wait]   create a cluster from a spec file (YAML or JSON); --wait follows the job
  list                      list clusters
  show NAME                 show a cluster (spec with credentials as ***, nodes, endpoint)
  status [NAME] [--watch]   live state with its reason and each node's role, state, lag, connections,
                            qps, galera status ("nines cluster status --help")
  delete NAME [--yes]       delete a cluster from the controller (asks unless --yes) [--wait]

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

async function waitOrPrint(client: ApiClient, job: JobView, wait: boolean, json: boolean): Promise<number> {
  if (!wait) {
    if (json) printJson({ job });
    else console.log(`job ${job.id} ${job.type} queued; follow it with: nines job logs ${job.id} --follow`);
    return EXIT.OK;
  }
  const final = await followJob(client, job.id, { quiet: json });
  if (json) printJson({ job: final });
  else {
    console.log(`job ${final.id} ${final.type} ${final.state}`);
    if (final.error)
      console.log(`error ${final.error.code}: ${final.error.message}\nhint: ${final.error.hint}`);
  }
  return exitCodeFor(final);
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
): Promise<number> {
  if (!file) throw new UsageError('cluster create needs -f SPEC');
  let text: string;
  try {
    text = readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (err) {
    throw new NinesError('NINES_E_INVALID_ARGUMENT', `cannot read ${file}`, { cause: err });
  }
  const spec = parseSpecText(text, file); // syntax errors with this file's name, line and column
  const res = await client.request<{ job: JobView; warnings: string[] }>('POST', '/clusters', spec);
  if (!json) for (const w of res.warnings) console.error(`warning: ${w}`);
  return waitOrPrint(client, res.job, wait, json);
}

export const group: CommandGroup = {
  summary: 'create, list, show and delete clusters',
  help,
  run: (args) => {
    if (args[0] === 'status') return import('./status.ts').then((m) => m.clusterStatus(args.slice(1)));
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
      const client = new ApiClient({ url: values.url, token: values.token });
      const [sub, name] = positionals;
      switch (sub ?? '') {
        case 'create':
          return create(client, values.file, values.wait, json);
        case 'list': {
          const { clusters } = await client.get<{ clusters: ClusterSummary[] }>('/clusters');
          if (json) printJson({ clusters });
          else printTable(clusters, ['name', 'type', 'version', 'state', 'nodes', 'createdAt']);
          return EXIT.OK;
        }
        case 'show': {
          if (!name) throw new UsageError('cluster show needs NAME');
          const res = await client.get<{ cluster: ClusterSummary; nodes: Record<string, unknown>[] }>(
            `/clusters/${encodeURIComponent(name)}`,
          );
          if (json) printJson(res);
          else {
            const c = res.cluster;
            console.log(`${c.name}: ${c.type} ${c.version}, ${c.state}, created ${c.createdAt}\n`);
            printTable(res.nodes, ['host', 'port', 'role', 'datacenter', 'priority', 'state']);
          }
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
          throw new UsageError(`unknown subcommand 'cluster ${sub ?? ''}' (create, list, show, delete)`);
      }
    });
  },
};
