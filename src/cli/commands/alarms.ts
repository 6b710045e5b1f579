// nines alarms [--cluster C] [--all]  |  nines alarms ack ID [--comment TEXT]  |  nines alarms thresholds ...
import type { CommandGroup } from '../main.ts';
import { EXIT, UsageError, printJson, printTable } from '../output.ts';
import type { ApiClient } from '../client.ts';
import { CONNECTION_HELP, apiGroup } from '../client.ts';

const help = `Usage: nines alarms [--cluster C] [--all] [--limit N]
       nines alarms ack ID [--comment TEXT]
       nines alarms thresholds CLUSTER [--set JSON] [--disable RULE,...]

  (no subcommand)   active alarms, newest first; --all adds cleared ones (history)
  ack ID            acknowledge an active alarm (it stays active until its condition clears; an escalation
                    to critical removes the acknowledgement)
  thresholds        show a cluster's thresholds; --set '{"lagSeconds":{"warning":10}}' overrides levels,
                    --disable cpu-high,disk-high disables rules (--disable '' enables all again)

${CONNECTION_HELP}`;

interface AlarmView extends Record<string, unknown> {
  id: number;
  cluster: string;
  rule: string;
  node?: string;
  severity: string;
  state: string;
  reason: string;
  raisedAt: number;
  clearedAt: number | null;
  acknowledged?: { by: string; at: number; comment?: string };
}

const time = (t: number | null | undefined): string => (t ? new Date(t).toISOString().slice(0, 19) : '-');

async function ack(
  client: ApiClient,
  arg: string | undefined,
  comment: string | undefined,
  json: boolean,
): Promise<number> {
  if (!arg || !/^\d+$/.test(arg)) throw new UsageError(`alarms ack needs an alarm ID, got '${arg ?? ''}'`);
  const res = await client.request<{ alarm: AlarmView }>('POST', `/alarms/${arg}/ack`, {
    ...(comment ? { comment: comment } : {}),
  });
  if (json) printJson(res);
  else
    console.log(
      `alarm ${res.alarm.id} (${res.alarm.rule}) acknowledged by ${res.alarm.acknowledged?.by ?? '?'}`,
    );
  return EXIT.OK;
}

interface Opts {
  cluster?: string | undefined;
  all?: boolean | undefined;
  limit?: string | undefined;
  set?: string | undefined;
  disable?: string | undefined;
}

async function thresholds(
  client: ApiClient,
  arg: string | undefined,
  values: Opts,
  json: boolean,
): Promise<number> {
  if (!arg) throw new UsageError('alarms thresholds needs CLUSTER');
  const path = `/clusters/${encodeURIComponent(arg)}/monitor-settings`;
  if (values.set !== undefined || values.disable !== undefined) {
    let thresholds: unknown;
    try {
      thresholds = values.set === undefined ? undefined : JSON.parse(values.set);
    } catch {
      throw new UsageError(`--set: expected JSON such as '{"lagSeconds":{"warning":10}}'`);
    }
    const disabledRules =
      values.disable === undefined ? undefined : values.disable.split(',').filter(Boolean);
    await client.request('POST', path, {
      ...(thresholds !== undefined ? { thresholds } : {}),
      ...(disabledRules ? { disabledRules } : {}),
    });
  }
  const res = await client.get<Record<string, unknown>>(path);
  if (json) printJson(res);
  else {
    console.log(`overrides: ${JSON.stringify(res.thresholds)}`);
    console.log(`disabled rules: ${(res.disabledRules as string[]).join(', ') || '(none)'}`);
    console.log(`resolved: ${JSON.stringify(res.resolved, null, 2)}`);
  }
  return EXIT.OK;
}

async function list(client: ApiClient, values: Opts, json: boolean): Promise<number> {
  const q = new URLSearchParams();
  if (values.cluster) q.set('cluster', values.cluster);
  if (values.all) q.set('all', '1');
  if (values.limit) q.set('limit', values.limit);
  const { alarms } = await client.get<{ alarms: AlarmView[] }>(`/alarms?${q.toString()}`);
  if (json) printJson({ alarms });
  else
    printTable(
      alarms.map((a) => ({
        id: a.id,
        cluster: a.cluster,
        severity: a.severity,
        rule: a.rule,
        node: a.node ?? '-',
        state: a.state,
        raised: time(a.raisedAt),
        cleared: time(a.clearedAt),
        acked: a.acknowledged
          ? `${a.acknowledged.by}${a.acknowledged.comment ? `: ${a.acknowledged.comment}` : ''}`
          : '-',
        reason: a.reason,
      })),
    );
  return EXIT.OK;
}

export const group: CommandGroup = apiGroup({
  summary: 'list, acknowledge and configure alarms',
  help,
  options: {
    cluster: { type: 'string' },
    all: { type: 'boolean', default: false },
    limit: { type: 'string' },
    comment: { type: 'string' },
    set: { type: 'string' },
    disable: { type: 'string' },
  },
  run: async ({ values, positionals, client, json }) => {
    const [sub, arg] = positionals;
    if (sub === 'ack') return ack(client, arg, values.comment, json);
    if (sub === 'thresholds') return thresholds(client, arg, values, json);
    if (sub !== undefined) throw new UsageError(`unknown subcommand 'alarms ${sub}' (ack, thresholds)`);
    return list(client, values, json);
  },
});
