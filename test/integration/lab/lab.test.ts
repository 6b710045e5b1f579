// The lab for real: hosts reached by the OpenSSH client, per-host isolation, every fault as peers see it, two labs
// side by side, a lab brought back after a (simulated) reboot, and nothing left behind by `down`.
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  createTestLab,
  execInLabHost,
  hostPids,
  labFault,
  labStatus,
  labUp,
  sshAnswers,
  tcpProbe,
  type LabInventory,
  type TestLab,
} from '../../../src/lab/index.ts';
import { isNinesError } from '../../../src/core/errors.ts';
import { killHostProcesses } from '../../../src/lab/host.ts';
import { removeForwardRule, removeNetwork } from '../../../src/lab/network.ts';
import { labTools } from '../../../src/lab/sys.ts';

const SCALE = Number(process.env.NINES_TIMEOUT_SCALE ?? 1);
const ms = (n: number): number => Math.round(n * SCALE);
const root = join(import.meta.dirname, '..', '..', '..');

interface Out {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

function sh(file: string, args: readonly string[], timeoutMs = ms(20_000)): Promise<Out> {
  const started = Date.now();
  return new Promise((resolve) => {
    execFile(file, args, { timeout: timeoutMs, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr, ms: Date.now() - started });
    });
  });
}

function ssh(inv: LabInventory, host: string, command: string, connectTimeoutS = 5): Promise<Out> {
  const h = inv.hosts.find((x) => x.name === host);
  assert.ok(h, `host ${host}`);
  return sh('ssh', [
    '-F',
    '/dev/null',
    '-i',
    inv.privateKeyPath,
    '-o',
    `UserKnownHostsFile=${inv.knownHostsPath}`,
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    'BatchMode=yes',
    '-o',
    `ConnectTimeout=${Math.ceil(connectTimeoutS * SCALE)}`,
    '-o',
    'LogLevel=ERROR',
    `${inv.sshUser}@${h.address}`,
    command,
  ]);
}

function addr(inv: LabInventory, host: string): string {
  return inv.hosts.find((x) => x.name === host)?.address ?? '';
}

/** Can `from` open a TCP connection to `to`:22? Tested from inside `from` (no ssh involved). */
async function reaches(inv: LabInventory, from: string, to: string): Promise<boolean> {
  const r = await execInLabHost(inv, from, ['timeout', '2', 'bash', '-c', `</dev/tcp/${addr(inv, to)}/22`], {
    check: false,
  });
  return r.exitCode === 0;
}

function pidAlive(pid: number): boolean {
  return existsSync(`/proc/${pid}`) && !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
}

/** Everything `down` must remove. */
async function assertLabGone(inv: LabInventory, pids: readonly number[]): Promise<void> {
  const netns = existsSync('/run/netns') ? readdirSync('/run/netns') : [];
  for (const h of inv.hosts) {
    assert.ok(!netns.includes(h.netns), `netns ${h.netns} removed`);
    assert.ok(!existsSync(`/sys/class/net/${h.veth}`), `veth ${h.veth} removed`);
  }
  assert.ok(!existsSync(`/sys/class/net/${inv.bridge}`), `bridge ${inv.bridge} removed`);
  const rules = await sh('iptables', ['-w', '5', '-S']);
  assert.equal(rules.code, 0);
  assert.ok(!rules.stdout.includes(inv.bridge), `no iptables rule mentions ${inv.bridge}`);
  for (const pid of pids) assert.ok(!pidAlive(pid), `process ${pid} of the lab is gone`);
  assert.ok(!existsSync(inv.cgroup.path), `cgroup ${inv.cgroup.path} removed`);
  assert.ok(!existsSync(inv.dir), `lab dir ${inv.dir} removed`);
}

describe('lab of 3 hosts', { timeout: ms(180_000) }, () => {
  let lab: TestLab;
  let inv: LabInventory;

  before(async () => {
    const started = Date.now();
    lab = await createTestLab(3);
    inv = lab.inventory;
    console.log(`lab ${inv.name} up in ${Date.now() - started} ms on ${inv.subnet}`);
  });

  let failed = false;

  afterEach((t) => {
    // TestContext.passed exists since Node 21.7; @types/node 24 does not declare it yet.
    if ((t as { passed?: boolean }).passed === false) failed = true;
  });

  after(async () => {
    if (!inv) return;
    const pids = inv.hosts.flatMap((h) => hostPids(inv, h.name));
    // A failing scenario keeps the hosts' logs (.lab/logs/<lab>/<host>/).
    await lab.dispose(failed ? { keepLogsIn: join(root, '.lab', 'logs') } : {});
    await assertLabGone(inv, pids);
  });

  test('every host answers the real OpenSSH client with pinned host keys', async () => {
    assert.equal(inv.hosts.length, 3);
    assert.equal(inv.sshUser, 'root');
    const outs = await Promise.all(inv.hosts.map((h) => ssh(inv, h.name, 'hostname; id -u')));
    outs.forEach((o, i) => {
      assert.equal(o.code, 0, o.stderr);
      assert.equal(o.stdout, `h${i + 1}\n0\n`);
    });
    const kh = readFileSync(inv.knownHostsPath, 'utf8').trim().split('\n');
    assert.equal(kh.length, 3);
    assert.match(kh[0] ?? '', new RegExp(`^${addr(inv, 'h1').replaceAll('.', '\\.')} ssh-ed25519 `));
  });

  test('hosts are isolated: files, hostname, pid namespace, /etc/hosts, /tmp', async () => {
    const w = await ssh(
      inv,
      'h1',
      'echo one > /var/lib/mysql/marker && echo t > /tmp/tmp-marker && hostname',
    );
    assert.equal(w.code, 0, w.stderr);
    for (const other of ['h2', 'h3']) {
      const r = await ssh(inv, other, 'test -e /var/lib/mysql/marker || test -e /tmp/tmp-marker; echo $?');
      assert.equal(r.stdout.trim(), '1', `${other} does not see h1's files`);
    }
    assert.ok(!existsSync('/var/lib/mysql/marker'), "the machine's own /var/lib/mysql is untouched");
    assert.equal(readFileSync(join(inv.hosts[0]?.dataDir ?? '', 'var-lib-mysql', 'marker'), 'utf8'), 'one\n');
    const ps = await ssh(
      inv,
      'h2',
      'ps -e --no-headers | wc -l; cat /etc/hosts; stat -c %U /var/lib/mysql /run/mysqld',
    );
    const [count = '', ...rest] = ps.stdout.trim().split('\n');
    assert.ok(Number(count) < 15, `few processes in h2's pid namespace (${count})`);
    for (const h of inv.hosts)
      assert.ok(rest.includes(`${h.address} ${h.name}`), `/etc/hosts names ${h.name}`);
    assert.deepEqual(rest.slice(-2), ['mysql', 'mysql']);
  });

  test('crash: connection refused at once; restart: ssh back, disk kept, /run empty', async () => {
    assert.equal((await ssh(inv, 'h1', 'touch /run/run-marker')).code, 0);
    await labFault(inv.name, 'h1', 'crash');
    assert.equal(await tcpProbe(addr(inv, 'h1'), 22, ms(2000)), 'refused');
    const failed = await ssh(inv, 'h1', 'true');
    assert.equal(failed.code, 255);
    assert.ok(failed.ms < ms(2000), `ssh fails fast (${failed.ms} ms)`);
    assert.deepEqual(hostPids(inv, 'h1'), []);
    const [status] = await labStatus(inv.name);
    assert.equal(status?.hosts[0]?.state, 'down');

    await labFault(inv.name, 'h1', 'restart');
    const r = await ssh(
      inv,
      'h1',
      'cat /var/lib/mysql/marker; test -e /run/run-marker && echo run-kept || echo run-empty',
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'one\nrun-empty\n');
  });

  test('poweroff: peers time out instead of being refused; restart brings it back', async () => {
    await labFault(inv.name, 'h2', 'poweroff');
    assert.equal(await tcpProbe(addr(inv, 'h2'), 22, ms(1500)), 'timeout');
    const [status] = await labStatus(inv.name);
    assert.equal(status?.hosts[1]?.link, 'down');
    await labFault(inv.name, 'h2', 'restart');
    assert.equal((await ssh(inv, 'h2', 'true')).code, 0);
  });

  test('partition: h1 cut from its peers, the controller keeps its path; heal restores', async () => {
    assert.ok(await reaches(inv, 'h1', 'h2'));
    await labFault(inv.name, 'h1', 'partition');
    assert.equal(await reaches(inv, 'h1', 'h2'), false, 'h1 -> h2 cut');
    assert.equal(await reaches(inv, 'h3', 'h1'), false, 'h3 -> h1 cut');
    assert.ok(await reaches(inv, 'h2', 'h3'), 'h2 -> h3 unaffected');
    assert.equal((await ssh(inv, 'h1', 'true')).code, 0, 'controller still reaches h1');
    const [status] = await labStatus(inv.name);
    assert.deepEqual(status?.hosts[0]?.faults, ['partition']);
    await labFault(inv.name, 'h1', 'heal');
    assert.ok(await reaches(inv, 'h1', 'h2'), 'healed');

    await labFault(inv.name, 'h1', 'partition', { includeController: true });
    assert.equal(await tcpProbe(addr(inv, 'h1'), 22, ms(1000)), 'timeout', 'controller cut too');
    await labFault(inv.name, 'h1', 'heal');
    assert.equal(await tcpProbe(addr(inv, 'h1'), 22, ms(1000)), 'open');
  });

  test('cut-controller (through the CLI): only the controller loses h2, its peers keep it; heal restores', async () => {
    const nines = join(root, 'bin', 'nines');
    assert.equal(await tcpProbe(addr(inv, 'h2'), 22, ms(1000)), 'open');
    const cut = await sh(nines, ['lab', 'fault', 'h2', 'cut-controller', '--name', inv.name, '--json']);
    assert.equal(cut.code, 0, cut.stderr);
    assert.equal(
      await tcpProbe(addr(inv, 'h2'), 22, ms(1000)),
      'timeout',
      'the controller cannot open TCP to h2',
    );
    assert.equal((await ssh(inv, 'h2', 'true', 2)).code, 255, 'nor log in over ssh');
    assert.ok(await reaches(inv, 'h1', 'h2'), 'h1 -> h2 still open');
    assert.ok(await reaches(inv, 'h2', 'h3'), 'h2 -> h3 still open');
    assert.equal((await ssh(inv, 'h1', 'true')).code, 0, 'the controller still reaches the other hosts');
    const [status] = await labStatus(inv.name);
    assert.deepEqual(status?.hosts[1]?.faults, ['cut-controller']);
    const heal = await sh(nines, ['lab', 'fault', 'h2', 'heal', '--name', inv.name, '--json']);
    assert.equal(heal.code, 0, heal.stderr);
    assert.equal(await tcpProbe(addr(inv, 'h2'), 22, ms(1000)), 'open', 'healed');
    assert.equal((await ssh(inv, 'h2', 'hostname')).stdout, 'h2\n');
  });

  test('isolate-from cuts only the named pair, both ways', async () => {
    await labFault(inv.name, 'h1', 'isolate-from', { other: 'h2' });
    assert.equal(await reaches(inv, 'h1', 'h2'), false);
    assert.equal(await reaches(inv, 'h2', 'h1'), false);
    assert.ok(await reaches(inv, 'h1', 'h3'));
    assert.ok(await reaches(inv, 'h3', 'h2'));
    const [status] = await labStatus(inv.name);
    assert.deepEqual(status?.hosts[1]?.faults, ['isolate-from h1']);
    await labFault(inv.name, 'h2', 'heal');
    assert.ok(await reaches(inv, 'h1', 'h2'));
    assert.ok(await reaches(inv, 'h2', 'h1'));
  });

  test('freeze: the host stops answering; thaw: it answers again', async () => {
    await labFault(inv.name, 'h3', 'freeze');
    assert.equal(await sshAnswers(addr(inv, 'h3'), 22, ms(1500)), false, 'no ssh banner from a frozen host');
    const r = await ssh(inv, 'h3', 'true', 2);
    assert.notEqual(r.code, 0, 'ssh times out');
    const [status] = await labStatus(inv.name);
    assert.equal(status?.hosts[2]?.state, 'frozen');
    await labFault(inv.name, 'h3', 'thaw');
    assert.equal((await ssh(inv, 'h3', 'hostname')).stdout, 'h3\n');
  });

  test('unknown host and missing lab have their codes', async () => {
    await assert.rejects(labFault(inv.name, 'h9', 'crash'), (e) =>
      isNinesError(e, 'NINES_E_LAB_HOST_UNKNOWN'),
    );
    await assert.rejects(labFault('no-such-lab', 'h1', 'crash'), (e) =>
      isNinesError(e, 'NINES_E_LAB_NOT_FOUND'),
    );
    await assert.rejects(labUp({ name: inv.name, hosts: 1 }), (e) => isNinesError(e, 'NINES_E_LAB_EXISTS'));
  });

  test('two labs coexist; a lab comes back after a reboot; down leaves nothing', async () => {
    const second = await createTestLab(1);
    const inv2 = second.inventory;
    try {
      assert.notEqual(inv2.subnet, inv.subnet);
      assert.notEqual(inv2.bridge, inv.bridge);
      assert.equal(
        (await ssh(inv2, 'h1', 'echo kept > /var/lib/postgresql/marker; hostname')).stdout,
        'h1\n',
      );
      assert.equal((await ssh(inv, 'h1', 'true')).code, 0, 'the first lab is untouched');
      assert.equal(await reaches(inv2, 'h1', 'h1'), true);
      const cross = await execInLabHost(
        inv2,
        'h1',
        ['timeout', '2', 'bash', '-c', `</dev/tcp/${addr(inv, 'h1')}/22`],
        {
          check: false,
        },
      );
      assert.notEqual(cross.exitCode, 0, 'labs cannot reach each other');

      // A reboot loses processes, namespaces, links and iptables rules but keeps the lab directory.
      const tools = labTools();
      const h = inv2.hosts[0];
      assert.ok(h);
      await killHostProcesses(inv2.cgroup, h.name, h.netns);
      await removeNetwork(tools, inv2.bridge, [h.veth], [h.netns]);
      await removeForwardRule(tools, inv2.bridge);
      const [down] = await labStatus(inv2.name);
      assert.equal(down?.network, false);
      const back = await labUp({ name: inv2.name, hosts: 1 });
      assert.equal(back.subnet, inv2.subnet);
      assert.equal((await ssh(inv2, 'h1', 'cat /var/lib/postgresql/marker')).stdout, 'kept\n');
    } finally {
      const pids = hostPids(inv2, 'h1');
      assert.ok(pids.length > 0);
      await second.dispose();
      await assertLabGone(inv2, pids);
    }
  });

  test('the CLI reports the lab as JSON and refuses non-root users with NINES_E_LAB_NOT_ROOT', async () => {
    const nines = join(root, 'bin', 'nines');
    const st = await sh(nines, ['lab', 'status', '--name', inv.name, '--json']);
    assert.equal(st.code, 0, st.stderr);
    const parsed = JSON.parse(st.stdout) as { hosts: { state: string; sshd: boolean }[] };
    assert.deepEqual(
      parsed.hosts.map((x) => [x.state, x.sshd]),
      [
        ['up', true],
        ['up', true],
        ['up', true],
      ],
    );
    const nobody = await sh('setpriv', [
      '--reuid=nobody',
      '--regid=nogroup',
      '--clear-groups',
      nines,
      'lab',
      'up',
      '--hosts',
      '1',
      '--name',
      'never',
      '--json',
    ]);
    assert.equal(nobody.code, 1, nobody.stderr);
    assert.equal(
      (JSON.parse(nobody.stderr) as { error: { code: string } }).error.code,
      'NINES_E_LAB_NOT_ROOT',
    );
  });
});
