// Wall time of a postgres-streaming deploy of 3 nodes (primary + 2 standbys, synchronous) on a fresh lab, from
// deploy start until healthy (every standby streaming, the marker row read back on each), per step, over a few
// runs (a fresh lab each run). Goal: <= 15 s.
//   npm run bench -- deploy-postgres [runs=3] [nodes=3]
import { cpus } from 'node:os';
import { createTestLab } from '../src/lab/index.ts';
import { validateSpec } from '../src/core/spec.ts';
import { postgresEngine } from '../src/engines/postgres/index.ts';
import { labEngineContext, labHostAccess } from '../test/support/lab-engine.ts';

const runs = Number(process.argv[2] ?? 3);
const nodes = Number(process.argv[3] ?? 3);

async function once(): Promise<{ totalMs: number; steps: [string, number][] }> {
  const lab = await createTestLab(nodes);
  const hosts = labHostAccess(lab.inventory);
  try {
    const { spec } = validateSpec({
      name: 'bench',
      type: 'postgres-streaming',
      nodes: lab.inventory.hosts.map((h) => ({ host: h.address })),
      ssh: { key: 'lab' },
      options: { synchronous: true },
    });
    const base = labEngineContext(lab.inventory, spec, hosts);
    const steps: [string, number][] = [];
    const ctx = {
      ...base,
      log: (l: string) => base.log(l),
      async step<T>(name: string, fn: () => Promise<T>): Promise<T> {
        const t = performance.now();
        try {
          return await fn();
        } finally {
          steps.push([name, performance.now() - t]);
        }
      },
    };
    const started = performance.now();
    const topology = await postgresEngine.deploy(ctx);
    const totalMs = performance.now() - started;
    const streaming = topology.nodes.filter((n) => n.state === 'streaming').length;
    if (streaming !== nodes - 1)
      throw new Error(`expected ${nodes - 1} streaming standbys, got ${streaming}`);
    return { totalMs, steps };
  } finally {
    await hosts.close();
    await lab.dispose();
  }
}

console.log(`command: npm run bench -- deploy-postgres ${runs} ${nodes}`);
console.log(`machine: ${process.platform}, ${cpus().length} cores, node ${process.version}`);
const totals: number[] = [];
for (let i = 0; i < runs; i++) {
  const r = await once();
  totals.push(r.totalMs);
  console.log(`run ${i + 1}: deploy ${nodes} nodes -> healthy in ${(r.totalMs / 1000).toFixed(2)} s`);
  for (const [name, ms] of r.steps) console.log(`  ${(ms / 1000).toFixed(2).padStart(6)} s  ${name}`);
}
const sorted = [...totals].sort((a, b) => a - b);
const median = sorted[Math.floor(sorted.length / 2)] ?? 0;
console.log(
  `postgres-streaming deploy, ${nodes} nodes, synchronous: median ${(median / 1000).toFixed(2)} s ` +
    `(min ${((sorted[0] ?? 0) / 1000).toFixed(2)}, max ${((sorted.at(-1) ?? 0) / 1000).toFixed(2)}; ${runs} runs; goal <= 15 s)`,
);
