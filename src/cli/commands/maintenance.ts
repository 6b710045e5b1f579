// nines maintenance on|off CLUSTER [--node H] [--until 2h] [--reason TEXT]  |  nines maintenance list CLUSTER
import type { CommandGroup } from '../main.ts';
import { EXIT, UsageError, printJson, printTable } from '../output.ts';
import type { ApiClient } from '../client.ts';
import { CONNECTION_HELP, apiGroup } from '../client.ts';

const help = `Usage: nines maintenance on CLUSTER [--node H] [--until 2h|ISO-TIME] [--reason TEXT]
       nines maintenance off CLUSTER [--node H]
       nines maintenance list CLUSTER

Maintenance of a cluster (or of one node with --node) suppresses new alarms for its scope until the window
ends (--until: a duration like 30m, 2h, 1d or an ISO time; default 1h). The window ends by itself; "off" ends
it now. The failover logic reads it too: no automatic failover for a cluster in maintenance.

${CONNECTION_HELP}`;

interface Window extends Record<string, unknown> {
  cluster: string;
  node: string | null;
  until: number;
  reason?: string;
  setBy: string | null;
}

interface Opts {
  node?: string | undefined;
  until?: string | undefined;
  reason?: string | undefined;
}

async function on(
  client: ApiClient,
  path: string,
  scope: string,
  values: Opts,
  json: boolean,
): Promise<number> {
  const until = values.until ?? '1h';
  const duration = /^\d+[smhd]?$/.test(until);
  const res = await client.request<{ maintenance: Window }>('POST', path, {
    ...(values.node ? { node: values.node } : {}),
    ...(duration ? { duration: until } : { until }),
    ...(values.reason ? { reason: values.reason } : {}),
  });
  if (json) printJson(res);
  else console.log(`maintenance of ${scope} until ${new Date(res.maintenance.until).toISOString()}`);
  return EXIT.OK;
}

export const group: CommandGroup = apiGroup({
  summary: 'maintenance windows of clusters and nodes',
  help,
  options: {
    node: { type: 'string' },
    until: { type: 'string' },
    reason: { type: 'string' },
  },
  run: async ({ values, positionals, client, json }) => {
    const [sub, cluster] = positionals;
    if (!cluster) throw new UsageError(`maintenance ${sub ?? '<on|off|list>'} needs CLUSTER`);
    const path = `/clusters/${encodeURIComponent(cluster)}/maintenance`;
    const scope = values.node ? `node ${values.node}` : `cluster ${cluster}`;
    switch (sub ?? '') {
      case 'on':
        return on(client, path, scope, values, json);
      case 'off': {
        const q = values.node ? `?node=${encodeURIComponent(values.node)}` : '';
        const res = await client.request<{ ended: boolean }>('DELETE', `${path}${q}`);
        if (json) printJson(res);
        else console.log(res.ended ? `maintenance of ${scope} ended` : `${scope} was not in maintenance`);
        return EXIT.OK;
      }
      case 'list': {
        const res = await client.get<{ maintenance: Window[] }>(path);
        if (json) printJson(res);
        else
          printTable(
            res.maintenance.map((m) => ({
              scope: m.node ?? 'cluster',
              until: new Date(m.until).toISOString(),
              reason: m.reason ?? '-',
              by: m.setBy ?? '-',
            })),
          );
        return EXIT.OK;
      }
      default:
        throw new UsageError(`unknown subcommand 'maintenance ${sub ?? ''}' (on, off, list)`);
    }
  },
});
