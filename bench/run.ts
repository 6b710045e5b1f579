// The benchmarks' front door: `npm run bench` lists them (name and the first sentence of each file's header
// comment); `npm run bench -- NAME [ARGS...]` runs bench/NAME.ts with ARGS on this same Node (process.execPath,
// the project's Node 24: npm puts node_modules/.bin first on the PATH, and Debian's `node` cannot strip types),
// with --expose-gc (bench/monitor.ts measures memory after a collection).
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { basename, join } from 'node:path';

const dir = import.meta.dirname;
const MAX_SUMMARY = 100;

export interface Bench {
  readonly name: string;
  readonly file: string;
  readonly summary: string;
}

/** The first sentence of a file's leading `//` comment, on one line. */
export function summaryOf(text: string): string {
  const comment: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^\/\/ ?(.*)$/.exec(line);
    if (!m) break;
    const body = (m[1] ?? '').trim();
    if (body === '' || /^node |^npm /.test(body)) break; // the usage line ends the description
    comment.push(body);
  }
  const joined = comment.join(' ');
  const end = joined.search(/\.(\s|$)/);
  const sentence = end === -1 ? joined : joined.slice(0, end + 1);
  return sentence.length > MAX_SUMMARY ? `${sentence.slice(0, MAX_SUMMARY - 1)}…` : sentence;
}

export function listBenches(): Bench[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.ts') && f !== basename(import.meta.filename))
    .sort()
    .map((f) => ({
      name: f.slice(0, -3),
      file: join(dir, f),
      summary: summaryOf(readFileSync(join(dir, f), 'utf8')),
    }));
}

function usage(benches: readonly Bench[]): string {
  const width = Math.max(...benches.map((b) => b.name.length));
  return [
    'Usage: npm run bench -- NAME [ARGS...]   (arguments of each bench: see the header of bench/NAME.ts)',
    '',
    ...benches.map((b) => `  ${b.name.padEnd(width)}  ${b.summary}`),
  ].join('\n');
}

function main(argv: readonly string[]): void {
  const benches = listBenches();
  const [name, ...args] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'list') {
    console.log(usage(benches));
    return;
  }
  const bench = benches.find((b) => b.name === name || `${b.name}.ts` === name);
  if (!bench) {
    console.error(`unknown benchmark '${name}'\n\n${usage(benches)}`);
    process.exitCode = 2;
    return;
  }
  const child = spawn(
    process.execPath,
    ['--disable-warning=ExperimentalWarning', '--expose-gc', bench.file, ...args],
    { stdio: 'inherit' },
  );
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => child.kill(signal));
  }
  child.once('exit', (code, signal) => {
    process.exitCode = code ?? 128 + (signal ? constants.signals[signal] : 0);
  });
}

if (import.meta.main) main(process.argv.slice(2));
