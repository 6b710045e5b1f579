// nines notify list | add -f CHANNEL.json|yaml | remove NAME | deliveries [--channel N] [--state S]
import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import { NinesError } from '../../core/errors.ts';
import type { CommandGroup } from '../main.ts';
import { EXIT, UsageError, printJson, printTable } from '../output.ts';
import type { ApiClient } from '../client.ts';
import { CONNECTION_HELP, apiGroup } from '../client.ts';

const help = `Usage: nines notify list
       nines notify add -f CHANNEL.yaml        (webhook, slack or email; see docs/monitoring.md)
       nines notify remove NAME
       nines notify deliveries [--channel NAME] [--state pending|delivered|failed] [--limit N]

Channels receive alarm changes (raised, escalated, cleared). Their secrets (URL tokens, header values, SMTP
password) are stored encrypted and never shown again.

${CONNECTION_HELP}`;

function readChannel(file: string | undefined): unknown {
  if (!file) throw new UsageError('notify add needs -f FILE');
  let text: string;
  try {
    text = readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (err) {
    throw new NinesError('NINES_E_INVALID_ARGUMENT', `cannot read ${file}`, { cause: err });
  }
  const doc = parseDocument(text);
  if (doc.errors[0]) throw new NinesError('NINES_E_INVALID_ARGUMENT', `${file}: ${doc.errors[0].message}`);
  return doc.toJS() as unknown;
}

async function deliveries(
  client: ApiClient,
  values: { channel?: string | undefined; state?: string | undefined; limit?: string | undefined },
  json: boolean,
): Promise<number> {
  const q = new URLSearchParams();
  if (values.channel) q.set('channel', values.channel);
  if (values.state) q.set('state', values.state);
  if (values.limit) q.set('limit', values.limit);
  const res = await client.get<{ deliveries: Record<string, unknown>[] }>(
    `/notify/deliveries?${q.toString()}`,
  );
  if (json) printJson(res);
  else
    printTable(
      res.deliveries.map((d) => ({
        id: d.id,
        channel: d.channel,
        state: d.state,
        attempts: d.attempts,
        created: new Date(Number(d.createdAt)).toISOString().slice(0, 19),
        summary: d.summary,
        error: (d.lastError as { message?: string } | null)?.message ?? '-',
      })),
    );
  return EXIT.OK;
}

export const group: CommandGroup = apiGroup({
  summary: 'notification channels and deliveries',
  help,
  options: {
    file: { type: 'string', short: 'f' },
    channel: { type: 'string' },
    state: { type: 'string' },
    limit: { type: 'string' },
  },
  run: async ({ values, positionals, client, json }) => {
    const [sub, name] = positionals;
    switch (sub ?? '') {
      case 'list': {
        const res = await client.get<{ channels: Record<string, unknown>[] }>('/notify/channels');
        if (json) printJson(res);
        else printTable(res.channels, ['name', 'kind', 'target', 'minSeverity', 'clusters']);
        return EXIT.OK;
      }
      case 'add': {
        const res = await client.request<{ channel: Record<string, unknown> }>(
          'POST',
          '/notify/channels',
          readChannel(values.file),
        );
        if (json) printJson(res);
        else console.log(`channel ${String(res.channel.name)} saved (${String(res.channel.target)})`);
        return EXIT.OK;
      }
      case 'remove': {
        if (!name) throw new UsageError('notify remove needs NAME');
        const res = await client.request('DELETE', `/notify/channels/${encodeURIComponent(name)}`);
        if (json) printJson(res);
        else console.log(`channel ${name} deleted`);
        return EXIT.OK;
      }
      case 'deliveries':
        return deliveries(client, values, json);
      default:
        throw new UsageError(`unknown subcommand 'notify ${sub ?? ''}' (list, add, remove, deliveries)`);
    }
  },
});
