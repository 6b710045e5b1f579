// nines node list [--cluster C]
import type { CommandGroup } from '../main.ts';
import { EXIT, UsageError, printJson, printTable } from '../output.ts';
import { ApiClient, CONNECTION_HELP, CONNECTION_OPTIONS, parseCommand, runCommand } from '../client.ts';

const help = `Usage: nines node list [--cluster NAME]
       nines node stats CLUSTER [--node H]

list: the nodes of every cluster, or of one. stats: figures of the latest probe per node (connections, qps,
lag, galera queue, host CPU/memory/disk).

${CONNECTION_HELP}`;

export const group: CommandGroup = {
  summary: 'list nodes',
  help,
  run: (args) => {
    if (args[0] === 'stats') return import('./status.ts').then((m) => m.nodeStats(args.slice(1)));
    const json = args.includes('--json');
    return runCommand(json, async () => {
      const { values, positionals } = parseCommand(args, {
        ...CONNECTION_OPTIONS,
        cluster: { type: 'string' },
      });
      if (values.help) {
        console.log(help);
        return EXIT.OK;
      }
      if (positionals[0] !== 'list')
        throw new UsageError(`unknown subcommand 'node ${positionals[0] ?? ''}' (list)`);
      const client = new ApiClient({ url: values.url, token: values.token });
      const q = values.cluster ? `?cluster=${encodeURIComponent(values.cluster)}` : '';
      const { nodes } = await client.get<{ nodes: Record<string, unknown>[] }>(`/nodes${q}`);
      if (json) printJson({ nodes });
      else printTable(nodes, ['cluster', 'host', 'port', 'role', 'datacenter', 'priority', 'state']);
      return EXIT.OK;
    });
  },
};
