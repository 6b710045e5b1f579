// Monitor scale bench: controller CPU (process.cpuUsage) and memory while monitoring N nodes at the default 1 s
// interval, per-node cost, and detection latency from a node crash (labFault crash) to the node `down` event.
//   npm run bench -- monitor [--clusters 3] [--nodes 3] [--seconds 30] [--runs 3]
// Needs root (lab hosts). Goals: <= 0.3 % of one core and <= 2 MB per node; detection <= 2 s.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/controller/config.ts';
import { Controller } from '../src/controller/controller.ts';
import { validateSpec, type ClusterSpec } from '../src/core/spec.ts';
import { startServer } from '../src/engines/mysql/index.ts';
import { engineFor } from '../src/engines/registry.ts';
import { createTestLab, labFault } from '../src/lab/index.ts';
import { labEngineContext, labHostAccess } from '../test/support/lab-engine.ts';

const { values } = parseArgs({
  options: {
    clusters: { type: 'string', default: '3' },
    nodes: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '30' },
    runs: { type: 'string', default: '3' },
  },
});
const clusters = Number(values.clusters);
const perCluster = Number(values.nodes);
const seconds = Number(values.seconds);
const runs = Number(values.runs);
const total = clusters * perCluster;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const mb = (b: number): string => (b / 1048576).toFixed(1);

console.log(
  `command: npm run bench -- monitor --clusters ${clusters} --nodes ${perCluster} --seconds ${seconds} --runs ${runs}`,
);
const lab = await createTestLab(total);
const inv = lab.inventory;
const hosts = labHostAccess(inv);
const dir = mkdtempSync(join(tmpdir(), 'nines-bench-monitor-'));
let controller: Controller | undefined;
try {
  const specs: ClusterSpec[] = [];
  const t0 = Date.now();
  for (let c = 0; c < clusters; c++) {
    const nodes = inv.hosts.slice(c * perCluster, (c + 1) * perCluster);
    const spec = validateSpec({
      name: `bench${c + 1}`,
      type: 'mariadb-replication',
      nodes: nodes.map((h, i) => ({ host: h.address, ...(i === 0 ? { role: 'primary' } : {}) })),
      ssh: { key: 'lab' },
      credentials: { admin: 'bench-admin-1', replication: 'bench-repl-1', monitor: 'bench-monitor-1' },
    }).spec;
    specs.push(spec);
  }
  await Promise.all(specs.map((spec) => engineFor(spec.type).deploy(labEngineContext(inv, spec, hosts))));
  console.log(
    `deployed ${clusters} mariadb-replication clusters x ${perCluster} nodes in ${Date.now() - t0} ms`,
  );

  controller = Controller.open({
    config: loadConfig({ env: { NINES_LOG_LEVEL: 'warn' }, overrides: { dataDir: dir } }),
  });
  controller.keys.add('lab', readFileSync(inv.privateKeyPath, 'utf8'));
  controller.start();
  const c = controller;
  global.gc?.();
  await sleep(2000);
  const idleCpu = process.cpuUsage();
  const idleStart = performance.now();
  await sleep(5000);
  const idle = process.cpuUsage(idleCpu);
  const idleWall = performance.now() - idleStart;
  const idlePct = ((idle.user + idle.system) / 1000 / idleWall) * 100;
  const rssBefore = process.memoryUsage().rss;
  const heapBefore = process.memoryUsage().heapUsed;

  for (const spec of specs) c.store.inventory.createCluster(spec, 'healthy');
  await c.monitor.reconcile();
  const healthyBy = Date.now() + 30_000;
  while (specs.some((s) => c.monitor.status(s.name).state !== 'healthy')) {
    if (Date.now() > healthyBy) throw new Error('clusters not healthy after 30 s');
    await sleep(200);
  }
  await sleep(15_000); // warm up: first host stats, retention pass, JIT
  const cpu0 = process.cpuUsage();
  const wall0 = performance.now();
  const ticks0 = specs.map((s) => c.monitor.clusterState(s.name)?.monitor.tickCount ?? 0);
  await sleep(seconds * 1000);
  const used = process.cpuUsage(cpu0);
  const wall = performance.now() - wall0;
  const ticks = specs.map(
    (s, i) => (c.monitor.clusterState(s.name)?.monitor.tickCount ?? 0) - (ticks0[i] ?? 0),
  );
  global.gc?.();
  const rss = process.memoryUsage().rss;
  const heap = process.memoryUsage().heapUsed;
  const pct = ((used.user + used.system) / 1000 / wall) * 100;
  const monitorPct = pct - idlePct;
  console.log(`monitoring ${total} nodes at 1 s for ${seconds} s: ticks per cluster ${ticks.join(', ')}`);
  console.log(`controller CPU ${pct.toFixed(2)} % of one core (idle controller ${idlePct.toFixed(2)} %)`);
  console.log(
    `  -> monitor ${monitorPct.toFixed(2)} % total, ${(monitorPct / total).toFixed(3)} % per node (goal <= 0.3)`,
  );
  console.log(
    `memory: RSS ${mb(rssBefore)} -> ${mb(rss)} MB (+${mb(rss - rssBefore)}), heap ${mb(heapBefore)} -> ${mb(heap)} MB`,
  );
  console.log(`  -> ${mb((rss - rssBefore) / total)} MB RSS per node (goal <= 2)`);
  console.log(`metric rows: ${JSON.stringify(c.monitor.metrics.counts())}`);

  const latencies: number[] = [];
  for (let r = 0; r < runs; r++) {
    const spec = specs[r % specs.length] as ClusterSpec;
    const victim = spec.nodes[perCluster - 1];
    if (!victim) break;
    const labHost = inv.hosts.find((h) => h.address === victim.host);
    if (!labHost) break;
    const key = `${victim.host}:${victim.port}`;
    const seen = new Promise<number>((resolve) => {
      const off = c.events.subscribe((e) => {
        if (e.type === 'node.state' && e.data.node === key && e.data.to === 'down') {
          off();
          resolve(Date.now());
        }
      });
    });
    await sleep(1000 + Math.random() * 1000); // random phase against the tick
    const crashedAt = Date.now();
    await labFault(inv.name, labHost.name, 'crash');
    const downAt = await Promise.race([seen, sleep(20_000).then(() => Number.NaN)]);
    latencies.push(downAt - crashedAt);
    console.log(`run ${r + 1}: crash of ${labHost.name} (${key}) -> down event in ${downAt - crashedAt} ms`);
    await labFault(inv.name, labHost.name, 'restart');
    await startServer(hosts.executor(victim.host));
    const upBy = Date.now() + 60_000;
    while (c.monitor.status(spec.name).nodes.find((n) => n.node === key)?.state !== 'up') {
      if (Date.now() > upBy) throw new Error(`${key} not up again`);
      await sleep(200);
    }
  }
  const sorted = [...latencies].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
  console.log(
    `detection latency (crash -> down event): median ${median} ms over ${sorted.length} runs [${sorted.join(', ')}] (goal <= 2000)`,
  );
} finally {
  await controller?.close(0);
  await hosts.close();
  rmSync(dir, { recursive: true, force: true });
  await lab.dispose();
}
