// nines job list|show|logs|cancel
import type { CommandGroup } from '../main.ts';
import { EXIT, UsageError, printJson, printTable } from '../output.ts';
import type { ApiClient } from '../client.ts';
import { CONNECTION_HELP, apiGroup } from '../client.ts';
import { exitCodeFor, followJob, type JobView } from '../job-progress.ts';

const help = `Usage: nines job <subcommand> [options]

  list [--cluster C] [--state S] [--limit N]   list jobs, newest first
  show ID                                      a job with its steps
  logs ID [--follow]                           its log; --follow streams until the job ends
                                               (exit 3 if it failed, 4 if cancelled)
  cancel ID                                    cancel a queued or running job

${CONNECTION_HELP}`;

function jobId(value: string | undefined): number {
  if (!value || !/^\d+$/.test(value)) throw new UsageError(`expected a job id, got '${value ?? ''}'`);
  return Number(value);
}

async function show(client: ApiClient, id: number, json: boolean): Promise<number> {
  const res = await client.get<{ job: JobView & Record<string, unknown>; steps: Record<string, unknown>[] }>(
    `/jobs/${id}`,
  );
  if (json) {
    printJson(res);
    return EXIT.OK;
  }
  const j = res.job;
  console.log(`job ${j.id} ${j.type} ${(j.cluster as string | null) ?? ''}: ${j.state} ${j.progress}%`);
  if (j.error) console.log(`error ${j.error.code}: ${j.error.message}\nhint: ${j.error.hint}`);
  console.log('');
  printTable(res.steps, ['seq', 'name', 'state', 'attempt', 'startedAt', 'finishedAt']);
  return EXIT.OK;
}

async function logs(client: ApiClient, id: number, follow: boolean, json: boolean): Promise<number> {
  if (follow) {
    const final = await followJob(client, id, { logs: true, quiet: json });
    if (json) printJson({ job: final });
    return exitCodeFor(final);
  }
  const res = await client.get<{ lines: { time: string; line: string }[] }>(`/jobs/${id}/logs`);
  if (json) printJson(res);
  else for (const l of res.lines) console.log(`${l.time}  ${l.line}`);
  return EXIT.OK;
}

export const group: CommandGroup = apiGroup({
  summary: 'list, show, follow and cancel jobs',
  help,
  options: {
    cluster: { type: 'string' },
    state: { type: 'string' },
    limit: { type: 'string' },
    follow: { type: 'boolean', short: 'f', default: false },
  },
  run: async ({ values, positionals, client, json }) => {
    const [sub, idArg] = positionals;
    switch (sub ?? '') {
      case 'list': {
        const q = new URLSearchParams();
        if (values.cluster) q.set('cluster', values.cluster);
        if (values.state) q.set('state', values.state);
        if (values.limit) q.set('limit', values.limit);
        const { jobs } = await client.get<{ jobs: Record<string, unknown>[] }>(`/jobs?${q.toString()}`);
        if (json) printJson({ jobs });
        else printTable(jobs, ['id', 'type', 'cluster', 'state', 'progress', 'createdAt', 'finishedAt']);
        return EXIT.OK;
      }
      case 'show':
        return show(client, jobId(idArg), json);
      case 'logs':
        return logs(client, jobId(idArg), values.follow, json);
      case 'cancel': {
        const { job } = await client.request<{ job: JobView }>('POST', `/jobs/${jobId(idArg)}/cancel`);
        if (json) printJson({ job });
        else console.log(`job ${job.id}: cancel requested (state ${job.state})`);
        return EXIT.OK;
      }
      default:
        throw new UsageError(`unknown subcommand 'job ${sub ?? ''}' (list, show, logs, cancel)`);
    }
  },
});
