// The foundation end to end: nines' own SSH executor (ssh2, pinned host keys, pooled connections) against real
// lab hosts, under the faults the lab injects. What users rely on: commands run on the right host, a dead host
// is reported fast and precisely, a hung command is killed, a partition cuts hosts apart but not the controller.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestLab, labFault, type LabInventory, type TestLab } from '../../../src/lab/index.ts';
import { createSshExecutor, type SshExecutorOptions } from '../../../src/hosts/ssh-executor.ts';
import { SshPool } from '../../../src/hosts/ssh-pool.ts';
import { isNinesError, type ErrorCode } from '../../../src/core/errors.ts';

const SCALE = Number(process.env.NINES_TIMEOUT_SCALE ?? 1);

let lab: TestLab;
let inv: LabInventory;
const pools: SshPool[] = [];

function host(name: string): string {
  const h = inv.hosts.find((x) => x.name === name);
  assert.ok(h, `lab host ${name}`);
  return h.address;
}

/** An executor with its own pool, so one test's dead connection never leaks into another. */
function executor(name: string, extra: Partial<SshExecutorOptions> = {}) {
  const pool = new SshPool();
  pools.push(pool);
  return createSshExecutor({
    host: host(name),
    user: inv.sshUser,
    privateKeyPath: inv.privateKeyPath,
    knownHostsPath: inv.knownHostsPath,
    connectTimeoutMs: 5000 * SCALE,
    pool,
    ...extra,
  });
}

async function rejectsWith(promise: Promise<unknown>, code: ErrorCode): Promise<number> {
  const started = Date.now();
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(isNinesError(err, code), `expected ${code}, got ${String(err)}`);
    return true;
  });
  return Date.now() - started;
}

/** Can `from` open a TCP connection to `to`:22? Asked from inside `from`, over the controller's SSH path. */
async function canReach(from: string, to: string): Promise<boolean> {
  const r = await executor(from).exec(['timeout', '2', 'bash', '-c', `</dev/tcp/${host(to)}/22`], {
    check: false,
    timeoutMs: 10_000 * SCALE,
  });
  return r.exitCode === 0;
}

describe('ssh executor on lab hosts', { timeout: 180_000 * SCALE }, () => {
  before(async () => {
    lab = await createTestLab(3);
    inv = lab.inventory;
  });

  after(async () => {
    await Promise.all(pools.map((p) => p.closeAll()));
    await lab?.dispose({ keepLogsIn: process.env.NINES_KEEP_LOGS_DIR });
  });

  test('runs commands over SSH on each host, seen from the controller address', async () => {
    for (const h of inv.hosts) {
      const ex = executor(h.name);
      const r = await ex.exec(['sh', '-c', 'hostname; echo "$SSH_CLIENT"; id -u']);
      const [name, client, uid] = r.stdout.trim().split('\n');
      assert.equal(name, h.name);
      assert.equal(client?.split(' ')[0], inv.controllerAddress);
      assert.equal(uid, '0');
      assert.equal(r.exitCode, 0);
    }
  });

  test('hosts are isolated: a file in /var/lib/mysql of h1 is absent on h2 and h3', async () => {
    const marker = `/var/lib/mysql/nines-isolation-${Date.now()}`;
    await executor('h1').putFile(marker, 'h1 only\n', { mode: 0o600 });
    assert.equal((await executor('h1').getFile(marker)).toString(), 'h1 only\n');
    for (const other of ['h2', 'h3']) {
      const r = await executor(other).exec(['test', '-e', marker], { check: false });
      assert.equal(r.exitCode, 1, `${marker} must not exist on ${other}`);
    }
  });

  test('a command that outlives its timeout is killed on the host and reported NINES_E_COMMAND_TIMEOUT', async () => {
    const ex = executor('h1');
    const ms = await rejectsWith(ex.exec(['sleep', '4242'], { timeoutMs: 500 }), 'NINES_E_COMMAND_TIMEOUT');
    assert.ok(ms < 5000 * SCALE, `timeout reported after ${ms} ms`);
    const ps = await ex.exec(['ps', '-eo', 'args']);
    assert.ok(!ps.stdout.includes('sleep 4242'), `sleep still runs on h1:\n${ps.stdout}`);
  });

  test('a wrong key is refused with NINES_E_SSH_AUTH', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nines-wrongkey-'));
    try {
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'key')]);
      const ex = executor('h1', { privateKeyPath: join(dir, 'key') });
      await rejectsWith(ex.exec(['true']), 'NINES_E_SSH_AUTH');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('crash kills every process of the host; ssh then fails fast; restart brings it back with its data', async () => {
    const ex = executor('h3');
    await ex.putFile('/var/lib/mysql/survives-crash', 'still here\n');
    await ex.exec(['sh', '-c', 'setsid -f sleep 3600 </dev/null >/dev/null 2>&1; touch /run/before-crash']);
    await labFault(inv.name, 'h3', 'crash');
    const ms = await rejectsWith(executor('h3').exec(['true']), 'NINES_E_HOST_UNREACHABLE');
    assert.ok(ms < 2000 * SCALE, `refused connection reported after ${ms} ms (expected fast)`);
    // The pooled connection of the crashed host is gone too: it reconnects, and is refused.
    await rejectsWith(ex.exec(['true']), 'NINES_E_HOST_UNREACHABLE');

    await labFault(inv.name, 'h3', 'restart');
    const back = executor('h3');
    assert.equal((await back.getFile('/var/lib/mysql/survives-crash')).toString(), 'still here\n');
    const r = await back.exec([
      'sh',
      '-c',
      'test -e /run/before-crash && echo stale; ps -eo args | grep -c "^sleep 3600" || true',
    ]);
    assert.equal(r.stdout.trim(), '0', 'no process and no /run file may survive a crash');
  });

  test('poweroff makes ssh time out, bounded by the connect timeout, with NINES_E_HOST_UNREACHABLE', async () => {
    const connectTimeoutMs = 1500;
    await labFault(inv.name, 'h2', 'poweroff');
    try {
      const ms = await rejectsWith(
        executor('h2', { connectTimeoutMs }).exec(['true']),
        'NINES_E_HOST_UNREACHABLE',
      );
      assert.ok(
        ms >= connectTimeoutMs - 100,
        `gave up after ${ms} ms: a power loss is a timeout, not a refusal`,
      );
      assert.ok(ms < connectTimeoutMs + 2000 * SCALE, `gave up after ${ms} ms, over the connect timeout`);
    } finally {
      await labFault(inv.name, 'h2', 'restart');
    }
    assert.equal((await executor('h2').exec(['hostname'])).stdout.trim(), 'h2');
  });

  test('partition cuts host-to-host traffic both ways while the controller still reaches the host; heal restores it', async () => {
    assert.ok(await canReach('h1', 'h2'), 'h1 reaches h2 before the partition');
    await labFault(inv.name, 'h2', 'partition');
    try {
      assert.equal(await canReach('h1', 'h2'), false, 'h1 must not reach the partitioned h2');
      assert.equal(await canReach('h2', 'h1'), false, 'the partitioned h2 must not reach h1');
      assert.equal(
        (await executor('h2').exec(['hostname'])).stdout.trim(),
        'h2',
        'controller still reaches h2',
      );
    } finally {
      await labFault(inv.name, 'h2', 'heal');
    }
    assert.ok(await canReach('h1', 'h2'), 'h1 reaches h2 again after heal');
    assert.ok(await canReach('h2', 'h1'), 'h2 reaches h1 again after heal');
  });
});
