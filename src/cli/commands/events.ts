// nines events [--follow] [--cluster C] [--type T] [--limit N]
import { isNinesError } from '../../core/errors.ts';
import type { CommandGroup } from '../main.ts';
import { EXIT, UsageError, printJson } from '../output.ts';
import type { ApiClient } from '../client.ts';
import { CONNECTION_HELP, apiGroup } from '../client.ts';

const help = `Usage: nines events [--cluster C] [--type T] [--limit N] [--follow]

Prints recent events (oldest first); --follow keeps streaming new ones (Ctrl-C to stop).
--type takes an exact type (job.failed) or a prefix ending in "." (job.).

${CONNECTION_HELP}`;

interface EventView {
  id: number;
  time: string;
  cluster: string | null;
  type: string;
  severity: string;
  message: string;
}

function print(e: EventView, json: boolean): void {
  if (json) console.log(JSON.stringify(e));
  else
    console.log(
      `${e.id}  ${e.time}  ${e.severity.padEnd(7)}  ${(e.cluster ?? '-').padEnd(12)}  ${e.message}`,
    );
}

async function follow(client: ApiClient, q: URLSearchParams, since: number, json: boolean): Promise<number> {
  let lastId = since;
  for (;;) {
    q.set('since', String(lastId));
    try {
      for await (const frame of client.stream(`/events/stream?${q.toString()}`)) {
        const e = frame.data as EventView;
        lastId = e.id;
        print(e, json);
      }
    } catch (err) {
      if (!isNinesError(err, 'NINES_E_CONTROLLER_UNREACHABLE')) throw err;
    }
    await new Promise((r) => setTimeout(r, 1000)); // stream closed (controller restart): resume from lastId
  }
}

export const group: CommandGroup = apiGroup({
  summary: 'show and follow events',
  help,
  options: {
    cluster: { type: 'string' },
    type: { type: 'string' },
    limit: { type: 'string' },
    follow: { type: 'boolean', short: 'f', default: false },
  },
  run: async ({ values, positionals, client, json }) => {
    if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0] ?? ''}'`);
    const q = new URLSearchParams();
    if (values.cluster) q.set('cluster', values.cluster);
    if (values.type) q.set('type', values.type);
    const list = new URLSearchParams(q);
    list.set('limit', values.limit ?? '50');
    const { events } = await client.get<{ events: EventView[] }>(`/events?${list.toString()}`);
    if (!values.follow) {
      if (json) printJson({ events });
      else for (const e of events) print(e, false);
      return EXIT.OK;
    }
    for (const e of events) print(e, json);
    return follow(client, q, events.at(-1)?.id ?? 0, json);
  },
});
