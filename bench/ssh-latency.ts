// Latency of one command over a pooled SSH connection: `true`, run N times one after another, through
// SshExecutor (process-group wrapper included), plus the same over a bare ssh2 channel for comparison, and the
// throughput with 8 commands in flight.
//
//   npm run bench -- ssh-latency [--n 1000] [inventory.json]
//
// Without an inventory it starts its own sshd on 127.0.0.1 (test/integration/hosts/sshd-server.ts). With a
// lab inventory (src/lab writes <lab dir>/inventory.json) it measures against the lab's first host.
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import ssh2 from 'ssh2';
import { createSshExecutor } from '../src/hosts/ssh-executor.ts';
import type { SshExecutorOptions } from '../src/hosts/ssh-executor.ts';
import { SshPool } from '../src/hosts/ssh-pool.ts';
import { startTestSshd } from '../test/integration/hosts/sshd-server.ts';
import type { TestSshd } from '../test/integration/hosts/sshd-server.ts';

interface Target {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly privateKeyPath: string;
  readonly knownHostsPath: string;
  readonly label: string;
}

function parseArgs(argv: string[]): { n: number; inventory: string | undefined } {
  let n = 1000;
  let inventory: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--n') n = Number(argv[++i]);
    else inventory = a;
  }
  return { n, inventory };
}

function fromInventory(path: string): Target {
  const inv = JSON.parse(readFileSync(path, 'utf8')) as {
    sshUser?: string;
    sshPort?: number;
    privateKeyPath: string;
    knownHostsPath: string;
    hosts: { name: string; address: string }[];
  };
  const host = inv.hosts[0];
  if (!host) throw new Error(`${path}: no hosts`);
  return {
    host: host.address,
    port: inv.sshPort ?? 22,
    user: inv.sshUser ?? 'root',
    privateKeyPath: inv.privateKeyPath,
    knownHostsPath: inv.knownHostsPath,
    label: `lab host ${host.name} (${host.address})`,
  };
}

function stats(samples: number[]): { median: number; p90: number; p99: number; min: number; max: number } {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number): number => s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
  return { median: at(0.5), p90: at(0.9), p99: at(0.99), min: s[0] ?? NaN, max: s[s.length - 1] ?? NaN };
}

function line(label: string, samples: number[]): string {
  const st = stats(samples);
  const f = (x: number): string => x.toFixed(2).padStart(7);
  return `${label.padEnd(34)} median ${f(st.median)} ms   p90 ${f(st.p90)}   p99 ${f(st.p99)}   min ${f(st.min)}   max ${f(st.max)}`;
}

async function bareChannel(target: Target, n: number): Promise<number[]> {
  const client = new ssh2.Client();
  await new Promise<void>((resolve, reject) => {
    client.once('ready', () => resolve());
    client.once('error', reject);
    client.connect({
      host: target.host,
      port: target.port,
      username: target.user,
      privateKey: readFileSync(target.privateKeyPath),
    });
  });
  client.setNoDelay(true);
  const once = (): Promise<void> =>
    new Promise((resolve, reject) =>
      client.exec('true', (err, ch) => {
        if (err) return reject(err);
        ch.on('close', () => resolve());
        ch.resume();
        ch.stderr.resume();
        ch.end();
      }),
    );
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await once();
    samples.push(performance.now() - t);
  }
  client.end();
  return samples;
}

async function main(): Promise<void> {
  const { n, inventory } = parseArgs(process.argv.slice(2));
  console.log(`$ npm run bench -- ssh-latency ${process.argv.slice(2).join(' ')}`.trimEnd());
  let sshd: TestSshd | undefined;
  let target: Target;
  if (inventory) {
    target = fromInventory(inventory);
  } else {
    sshd = await startTestSshd();
    target = {
      ...sshd,
      user: 'root',
      privateKeyPath: sshd.clientKeyPath,
      label: `loopback sshd 127.0.0.1:${sshd.port}`,
    };
  }
  const pool = new SshPool();
  const options: SshExecutorOptions = { ...target, pool };
  const ex = createSshExecutor(options);
  try {
    console.log(
      `target: ${target.label}, user ${target.user}; ${n} sequential runs after 50 warm-up; load average ${loadavg()[0]?.toFixed(2)}`,
    );
    for (let i = 0; i < 50; i++) await ex.exec(['true']);
    const samples: number[] = [];
    for (let i = 0; i < n; i++) {
      const t = performance.now();
      await ex.exec(['true']);
      samples.push(performance.now() - t);
    }
    console.log(line('SshExecutor.exec(["true"])', samples));
    console.log(line('bare ssh2 channel "true"', await bareChannel(target, Math.min(n, 300))));
    const total = Math.max(200, n);
    const t0 = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next++ < total) await ex.exec(['true']);
      }),
    );
    const secs = (performance.now() - t0) / 1000;
    console.log(
      `8 in flight: ${total} commands in ${secs.toFixed(2)} s = ${(total / secs).toFixed(0)} commands/s`,
    );
    console.log(`connections opened: ${pool.stats().connectionsOpened}`);
  } finally {
    await pool.closeAll();
    await sshd?.stop();
  }
}

await main();
