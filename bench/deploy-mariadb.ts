// Wall time of a 3-node deploy, from deploy start until healthy, for each MariaDB cluster type, on a fresh lab
// each run: mariadb-replication (semi-sync: every replica replicating, marker row read back on each; goal
// <= 20 s) and galera (every node Synced in a Primary component of 3, marker row read on each; goal <= 30 s),
// with the time of each step.
//   npm run bench -- deploy-mariadb [runs=1] [nodes=3] [types=replication,galera-rsync,galera-mariabackup]
import { cpus } from 'node:os';
import { createTestLab } from '../src/lab/index.ts';
import { validateSpec, type ClusterSpecInput } from '../src/core/spec.ts';
import type { Engine } from '../src/engines/engine.ts';
import { mariadbReplicationEngine } from '../src/engines/mariadb/index.ts';
import { galeraEngine } from '../src/engines/galera/index.ts';
import { labEngineContext, labHostAccess } from '../test/support/lab-engine.ts';

const runs = Number(process.argv[2] ?? 1);
const nodes = Number(process.argv[3] ?? 3);
const types = (process.argv[4] ?? 'replication,galera-rsync,galera-mariabackup').split(',');

interface Variant {
  readonly engine: Engine;
  readonly goalS: number;
  readonly input: Pick<ClusterSpecInput, 'type' | 'options'>;
  readonly healthy: (state: string | undefined) => boolean;
}

const VARIANTS: Record<string, Variant> = {
  replication: {
    engine: mariadbReplicationEngine,
    goalS: 20,
    input: { type: 'mariadb-replication', options: { semiSync: true } },
    healthy: (s) => s === 'replicating' || s === 'writable',
  },
  'galera-rsync': {
    engine: galeraEngine,
    goalS: 30,
    input: { type: 'galera', options: { sstMethod: 'rsync', gcacheSize: '32M' } },
    healthy: (s) => s === 'Synced',
  },
  'galera-mariabackup': {
    engine: galeraEngine,
    goalS: 30,
    input: { type: 'galera', options: { sstMethod: 'mariabackup', gcacheSize: '32M' } },
    healthy: (s) => s === 'Synced',
  },
};

async function once(v: Variant): Promise<{ totalMs: number; steps: [string, number][] }> {
  const lab = await createTestLab(nodes);
  const hosts = labHostAccess(lab.inventory);
  try {
    const { spec } = validateSpec({
      name: 'bench',
      ...v.input,
      nodes: lab.inventory.hosts.map((h) => ({ host: h.address })),
      ssh: { key: 'lab' },
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
    const topology = await v.engine.deploy(ctx);
    const totalMs = performance.now() - started;
    const healthy = topology.nodes.filter((n) => v.healthy(n.state)).length;
    if (healthy !== nodes)
      throw new Error(`expected ${nodes} healthy nodes, got ${JSON.stringify(topology.nodes)}`);
    return { totalMs, steps };
  } finally {
    await hosts.close();
    await lab.dispose();
  }
}

console.log(`command: npm run bench -- deploy-mariadb ${runs} ${nodes} ${types.join(',')}`);
console.log(`machine: ${process.platform}, ${cpus().length} cores, node ${process.version}`);
const results: string[] = [];
for (const type of types) {
  const v = VARIANTS[type];
  if (!v) throw new Error(`unknown type ${type} (expected ${Object.keys(VARIANTS).join(', ')})`);
  const totals: number[] = [];
  for (let i = 0; i < runs; i++) {
    const r = await once(v);
    totals.push(r.totalMs);
    console.log(
      `${type} run ${i + 1}: deploy ${nodes} nodes -> healthy in ${(r.totalMs / 1000).toFixed(2)} s`,
    );
    for (const [name, ms] of r.steps) console.log(`  ${(ms / 1000).toFixed(2).padStart(6)} s  ${name}`);
  }
  const sorted = [...totals].sort((a, b) => a - b);
  const median = sorted[Math.floor((sorted.length - 1) / 2)] ?? 0;
  results.push(
    `${type.padEnd(20)} median ${(median / 1000).toFixed(2)} s (min ${((sorted[0] ?? 0) / 1000).toFixed(2)}, max ${((sorted.at(-1) ?? 0) / 1000).toFixed(2)}; ${runs} run(s)); goal <= ${v.goalS} s: ${median / 1000 <= v.goalS ? 'met' : 'MISSED'}`,
  );
}
console.log('\nsummary (deploy start -> healthy, fresh lab of 3 hosts):');
for (const line of results) console.log(`  ${line}`);
