// The nines CLI entry: thin wiring from the first word to a command group in commands/.
// Each group exports `help` (its usage text) and `run(args)` returning an exit code.
import { EXIT, reportError } from './output.ts';

export interface CommandGroup {
  readonly summary: string;
  readonly help: string;
  run(args: readonly string[]): Promise<number>;
}

// Loaded lazily so `nines lab ...` does not pay for the HTTP client and vice versa.
const GROUPS: Record<string, () => Promise<{ group: CommandGroup }>> = {
  lab: () => import('./commands/lab.ts'),
  demo: () => import('./commands/demo.ts'),
  controller: () => import('./commands/controller.ts'),
  cluster: () => import('./commands/cluster.ts'),
  key: () => import('./commands/key.ts'),
  node: () => import('./commands/node.ts'),
  drill: () => import('./commands/drill.ts'),
  job: () => import('./commands/job.ts'),
  events: () => import('./commands/events.ts'),
  alarms: () => import('./commands/alarms.ts'),
  queries: () => import('./commands/queries.ts'),
  maintenance: () => import('./commands/maintenance.ts'),
  notify: () => import('./commands/notify.ts'),
  recovery: () => import('./commands/recovery.ts'),
  spec: () => import('./commands/spec.ts'),
};

async function mainHelp(): Promise<string> {
  const names = Object.keys(GROUPS);
  const width = Math.max(...names.map((n) => n.length));
  const lines = await Promise.all(
    names.map(async (name) => {
      const load = GROUPS[name];
      const summary = load ? (await load()).group.summary : '';
      return `  ${name.padEnd(width)}  ${summary}`;
    }),
  );
  return [
    'nines — database operations controller for MariaDB (replication, Galera) and PostgreSQL',
    '',
    'Usage: nines <command> [subcommand] [options]',
    '',
    'Commands:',
    ...lines,
    '',
    'Run "nines <command> --help" for the options of a command.',
    'Global options: --json (machine-readable output), --help',
  ].join('\n');
}

async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(await mainHelp());
    return name === undefined ? EXIT.USAGE : EXIT.OK;
  }
  if (name === '--version') {
    console.log('nines 0.1.0');
    return EXIT.OK;
  }
  const load = GROUPS[name];
  if (!load) {
    console.error(`usage error: unknown command '${name}'\n\n${await mainHelp()}`);
    return EXIT.USAGE;
  }
  const { group } = await load();
  if (rest[0] === '--help' || rest[0] === '-h' || rest[0] === 'help') {
    console.log(group.help);
    return EXIT.OK;
  }
  return group.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.exitCode = reportError(err, process.argv.includes('--json'));
  },
);
