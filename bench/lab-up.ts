// Wall time of `nines lab up --hosts 3` (until every sshd accepts connections) and `nines lab down`, through the
// real CLI (Node start-up included), over a few runs.
//   npm run bench -- lab-up [runs=5] [hosts=3]
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { randomLabName } from '../src/lab/testing.ts';

const runs = Number(process.argv[2] ?? 5);
const hosts = Number(process.argv[3] ?? 3);
const nines = join(import.meta.dirname, '..', 'bin', 'nines');

function timed(args: readonly string[]): number {
  const started = process.hrtime.bigint();
  const r = spawnSync(nines, args, { encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  if (r.status !== 0) {
    console.error(r.stderr);
    throw new Error(`nines ${args.join(' ')} exited ${String(r.status)}`);
  }
  return ms;
}

function summary(values: readonly number[]): string {
  const s = [...values].sort((a, b) => a - b);
  const median =
    s.length % 2 ? (s[(s.length - 1) / 2] ?? 0) : ((s[s.length / 2 - 1] ?? 0) + (s[s.length / 2] ?? 0)) / 2;
  return `median ${median.toFixed(0)} ms (min ${(s[0] ?? 0).toFixed(0)}, max ${(s.at(-1) ?? 0).toFixed(0)}; ${s.length} runs)`;
}

const up: number[] = [];
const down: number[] = [];
for (let i = 0; i < runs; i++) {
  const name = randomLabName();
  up.push(timed(['lab', 'up', '--hosts', String(hosts), '--name', name, '--json']));
  down.push(timed(['lab', 'down', '--name', name, '--json']));
}
console.log(`machine: ${process.platform}, node ${process.version}`);
console.log(`nines lab up --hosts ${hosts} --name <random>: ${summary(up)}`);
console.log(`nines lab down --name <random>:             ${summary(down)}`);
