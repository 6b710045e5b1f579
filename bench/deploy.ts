// Wall time of `cluster create` through the controller job, from submission until the cluster is `healthy`
// in the inventory, for each type with 3 nodes on a fresh lab each run (an in-process controller: the same
// job the API and CLI run, SSH connectivity check and controller address included; no endpoint).
// Goals: galera <= 30 s, mariadb-replication <= 20 s, postgres-streaming <= 15 s.
//   npm run bench -- deploy [runs=1] [types=mariadb-replication,galera,postgres-streaming]
// galera uses the default SST method (rsync); add "galera-mariabackup" for mariabackup SST.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../src/controller/config.ts';
import { Controller } from '../src/controller/controller.ts';
import { createTestLab } from '../src/lab/index.ts';

const runs = Number(process.argv[2] ?? 1);
const types = (process.argv[3] ?? 'mariadb-replication,galera,postgres-streaming').split(',');

const VARIANTS: Record<string, { type: string; goalS: number; options?: Record<string, unknown> }> = {
  'mariadb-replication': { type: 'mariadb-replication', goalS: 20 },
  galera: { type: 'galera', goalS: 30 },
  'galera-mariabackup': { type: 'galera', goalS: 30, options: { sstMethod: 'mariabackup' } },
  'postgres-streaming': { type: 'postgres-streaming', goalS: 15 },
};

async function once(name: string): Promise<{ totalMs: number; steps: [string, number][] }> {
  const v = VARIANTS[name];
  if (!v) throw new Error(`unknown type ${name} (expected ${Object.keys(VARIANTS).join(', ')})`);
  const lab = await createTestLab(3);
  const dir = mkdtempSync(join(tmpdir(), 'nines-bench-'));
  const config = loadConfig({ env: { NINES_LOG_LEVEL: 'warn' }, overrides: { dataDir: dir } });
  const controller = Controller.open({ config });
  controller.keys.add('lab', readFileSync(lab.inventory.privateKeyPath, 'utf8'));
  controller.start();
  try {
    const inv = lab.inventory;
    const started = performance.now();
    const { job } = await controller.createCluster({
      name: 'bench',
      type: v.type,
      nodes: inv.hosts.map((h) => ({ host: h.address })),
      ssh: { key: 'lab' },
      ...(v.options ? { options: v.options } : {}),
    });
    for (;;) {
      const j = controller.store.jobs.mustGet(job.id);
      if (j.state === 'failed' || j.state === 'cancelled')
        throw new Error(`${name}: job ${j.state}: ${JSON.stringify(j.error)}`);
      if (controller.store.inventory.getCluster('bench')?.state === 'healthy') break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const totalMs = performance.now() - started;
    const steps = controller.store.jobs
      .steps(job.id)
      .map((s): [string, number] => [
        s.name,
        Date.parse(s.finishedAt ?? s.startedAt) - Date.parse(s.startedAt),
      ]);
    return { totalMs, steps };
  } finally {
    await controller.close(0);
    rmSync(dir, { recursive: true, force: true });
    await lab.dispose();
  }
}

console.log(`command: npm run bench -- deploy ${runs} ${types.join(',')}`);
console.log(`machine: ${process.platform}, ${cpus().length} cores, node ${process.version}`);
const results: string[] = [];
for (const name of types) {
  const totals: number[] = [];
  for (let i = 0; i < runs; i++) {
    const r = await once(name);
    totals.push(r.totalMs);
    console.log(`${name} run ${i + 1}: cluster create -> healthy in ${(r.totalMs / 1000).toFixed(2)} s`);
    for (const [step, ms] of r.steps) console.log(`  ${(ms / 1000).toFixed(2).padStart(6)} s  ${step}`);
  }
  const sorted = [...totals].sort((a, b) => a - b);
  const median = sorted[Math.floor((sorted.length - 1) / 2)] ?? 0;
  const goal = VARIANTS[name]?.goalS ?? 0;
  results.push(
    `${name.padEnd(20)} median ${(median / 1000).toFixed(2)} s (min ${((sorted[0] ?? 0) / 1000).toFixed(2)}, max ${((sorted.at(-1) ?? 0) / 1000).toFixed(2)}; ${runs} run(s)); goal <= ${goal} s: ${median / 1000 <= goal ? 'met' : 'MISSED'}`,
  );
}
console.log('\nsummary (cluster create through the controller job -> healthy, fresh lab of 3 hosts):');
for (const line of results) console.log(`  ${line}`);
