// API benchmark: requests/s and latency of GET /api/v1/clusters with 100 clusters in the store (real server on
// loopback, keep-alive), controller start-up time (spawn -> /health answers) and idle RSS. The seeded clusters are
// fakes on loopback addresses and the controller runs with monitoring off (bench/monitor.ts measures monitoring).
//   npm run bench -- api [--seconds 10] [--concurrency 32]
// Goals: > 2,000 req/s, < 120 MB RSS, < 1 s start.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request, Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/controller/config.ts';
import { Controller } from '../src/controller/controller.ts';

const { values } = parseArgs({
  options: { seconds: { type: 'string', default: '10' }, concurrency: { type: 'string', default: '32' } },
});
const seconds = Number(values.seconds);
const concurrency = Number(values.concurrency);
const root = join(import.meta.dirname, '..');
const dataDir = join(mkdtempSync(join(tmpdir(), 'nines-bench-')), 'data');

function seed(): void {
  const config = loadConfig({ env: { NINES_LOG_LEVEL: 'silent' }, overrides: { dataDir } });
  const c = Controller.open({ config });
  for (let i = 0; i < 100; i++) {
    c.store.inventory.createCluster(
      {
        name: `bench-${String(i).padStart(3, '0')}`,
        type: 'mariadb-replication',
        version: '10.11',
        nodes: [1, 2, 3].map((n) => ({
          // Loopback only: benchmark traffic never leaves this machine (nothing listens there).
          host: `127.0.${i}.${n}`,
          port: 3306,
          datacenter: 'dc1',
          priority: 100,
        })),
        ssh: { user: 'root', key: 'bench', port: 22 },
        credentials: { admin: 'a'.repeat(16), replication: 'r'.repeat(16), monitor: 'm'.repeat(16) },
        options: { maxLagSeconds: 30, semiSync: false },
      },
      'healthy',
    );
  }
  void c.close(0);
}

async function startController(): Promise<{ url: string; pid: number; startMs: number; stop: () => void }> {
  const started = performance.now();
  const proc = spawn(
    process.execPath,
    [
      '--disable-warning=ExperimentalWarning',
      join(root, 'src/cli/nines.js'),
      'controller',
      'start',
      '--data-dir',
      dataDir,
      '--listen',
      '127.0.0.1:0',
    ],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
      // Monitoring off: the 100 clusters are fakes, and "idle" means the API with nothing to watch.
      env: { ...process.env, NINES_LOG_LEVEL: 'info', NINES_MONITOR_ENABLED: '0' },
    },
  );
  const url = await new Promise<string>((resolve, reject) => {
    let buf = '';
    proc.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      const m = /"url":"(http:\/\/[^"]+)"/.exec(buf);
      if (m?.[1]) resolve(m[1]);
    });
    proc.once('exit', (code) => reject(new Error(`controller exited ${code}`)));
  });
  proc.stdout.resume(); // keep draining the request log lines
  for (;;) {
    const ok = await fetch(`${url}/api/v1/health`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    await new Promise((r) => setTimeout(r, 5));
  }
  return { url, pid: proc.pid ?? 0, startMs: performance.now() - started, stop: () => proc.kill('SIGTERM') };
}

function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
}

function get(agent: Agent, url: URL, token: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = request(url, { agent, headers: { authorization: `Bearer ${token}` } }, (res) => {
      res.resume();
      res.on('end', () =>
        res.statusCode === 200
          ? resolve(performance.now() - t0)
          : reject(new Error(`HTTP ${res.statusCode}`)),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

async function load(
  url: string,
  token: string,
): Promise<{ rps: number; p50: number; p99: number; n: number }> {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const target = new URL(`${url}/api/v1/clusters`);
  const latencies: number[] = [];
  // warm-up
  await Promise.all(Array.from({ length: concurrency }, () => get(agent, target, token)));
  const deadline = performance.now() + seconds * 1000;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) latencies.push(await get(agent, target, token));
    }),
  );
  const elapsed = (performance.now() - t0) / 1000;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const pct = (p: number): number =>
    latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] ?? 0;
  return { rps: latencies.length / elapsed, p50: pct(0.5), p99: pct(0.99), n: latencies.length };
}

seed();
// Start-up: median of 3 starts (the first also fills Node's compile cache, as a first start on a machine would).
const starts: number[] = [];
for (let i = 0; i < 2; i++) {
  const c = await startController();
  starts.push(c.startMs);
  c.stop();
  await new Promise((r) => setTimeout(r, 700));
}
const ctl = await startController();
starts.push(ctl.startMs);
const startMs = [...starts].sort((a, b) => a - b)[1] ?? ctl.startMs;
try {
  await new Promise((r) => setTimeout(r, 1000));
  const idleRss = rssMb(ctl.pid);
  const token = readFileSync(join(dataDir, 'admin.token'), 'utf8').trim();
  const r = await load(ctl.url, token);
  const loadedRss = rssMb(ctl.pid);
  console.log(`command: npm run bench -- api --seconds ${seconds} --concurrency ${concurrency}`);
  console.log(
    `GET /api/v1/clusters (100 clusters): ${r.rps.toFixed(0)} req/s, p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms (${r.n} requests, ${concurrency} concurrent, keep-alive)`,
  );
  console.log(
    `controller start-up (spawn -> /health 200): median ${startMs.toFixed(0)} ms of ${starts.map((x) => x.toFixed(0)).join(', ')} ms`,
  );
  console.log(`controller RSS: idle ${idleRss.toFixed(1)} MB, after load ${loadedRss.toFixed(1)} MB`);
  const ok = r.rps > 2000 && idleRss < 120 && startMs < 1000;
  console.log(`goals (> 2000 req/s, < 120 MB idle RSS, < 1000 ms start): ${ok ? 'met' : 'NOT met'}`);
} finally {
  ctl.stop();
  await new Promise((r) => setTimeout(r, 500));
  rmSync(join(dataDir, '..'), { recursive: true, force: true });
}
