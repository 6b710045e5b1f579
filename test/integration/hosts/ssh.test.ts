// SshExecutor against a real OpenSSH server on 127.0.0.1 (sshd-server.ts), with the real ssh2 library.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { startTestSshd, freePort } from './sshd-server.ts';
import type { TestSshd } from './sshd-server.ts';
import { createSshExecutor } from '../../../src/hosts/ssh-executor.ts';
import type { SshExecutorOptions } from '../../../src/hosts/ssh-executor.ts';
import { SshPool } from '../../../src/hosts/ssh-pool.ts';
import { createServiceManager } from '../../../src/hosts/services.ts';
import { isNinesError } from '../../../src/core/errors.ts';
import type { ErrorCode } from '../../../src/core/errors.ts';

const SCALE = Number(process.env.NINES_TIMEOUT_SCALE ?? 1);
const T = (ms: number): number => ms * SCALE;

/** PIDs of processes whose whole command line is exactly `cmdline` (not our wrappers that mention it). */
function pidsOf(cmdline: string): number[] {
  const r = spawnSync('pgrep', ['-f', `^${cmdline}$`], { encoding: 'utf8' });
  return r.stdout.split('\n').filter(Boolean).map(Number);
}

function isCode(code: ErrorCode): (err: unknown) => boolean {
  return (err) => {
    assert.ok(isNinesError(err, code), `expected ${code}, got ${String(err)}`);
    return true;
  };
}

function acceptedLogins(sshd: TestSshd): number {
  return (readFileSync(sshd.logPath, 'utf8').match(/Accepted publickey/g) ?? []).length;
}

describe('ssh executor (real sshd)', { timeout: T(120_000) }, () => {
  let sshd: TestSshd;
  let pool: SshPool;
  let opts: SshExecutorOptions;

  before(async () => {
    sshd = await startTestSshd();
    pool = new SshPool();
    opts = {
      host: sshd.host,
      port: sshd.port,
      user: 'root',
      privateKeyPath: sshd.clientKeyPath,
      knownHostsPath: sshd.knownHostsPath,
      connectTimeoutMs: T(5000),
      killGraceMs: 500,
      pool,
    };
  });

  after(async () => {
    await pool.closeAll();
    await sshd.stop();
  });

  test('runs commands: stdout, stderr, exit codes, failures with context', async () => {
    const ex = createSshExecutor(opts);
    const r = await ex.exec([
      'sh',
      '-c',
      'echo out; echo err >&2; printf "%s|" "$@"',
      'x',
      "a'b",
      '$HOME',
      'c d',
    ]);
    assert.equal(r.exitCode, 0);
    assert.equal(r.stdout, "out\na'b|$HOME|c d|");
    assert.equal(r.stderr, 'err\n');
    assert.equal((await ex.exec(['sh', '-c', 'exit 3'], { check: false })).exitCode, 3);
    await assert.rejects(
      ex.exec(['sh', '-c', 'echo oops >&2; exit 4', 'secret-pw'], { secrets: ['secret-pw'] }),
      (err) => {
        assert.ok(isNinesError(err, 'NINES_E_COMMAND_FAILED'));
        assert.equal(err.context.exitCode, 4);
        assert.equal(err.context.stderr, 'oops\n');
        assert.deepEqual(err.context.argv, ['sh', '-c', 'echo oops >&2; exit 4', '***']);
        return true;
      },
    );
    assert.equal((await ex.exec(['no-such-program-nines'], { check: false })).exitCode, 127);
    assert.equal(
      (await ex.exec(['sh', '-c', 'echo "$A:$B"'], { env: { A: '1 2', B: "'" } })).stdout,
      "1 2:'\n",
    );
  });

  test('streams complete lines while the command runs', async () => {
    const ex = createSshExecutor(opts);
    const seen: { line: string; at: number }[] = [];
    const started = Date.now();
    const r = await ex.exec(
      ['sh', '-c', 'echo one; sleep 0.5; printf "two\\nthr"; sleep 0.2; echo ee; echo e1 >&2'],
      {
        onStdoutLine: (line) => seen.push({ line, at: Date.now() - started }),
        onStderrLine: (line) => seen.push({ line: `err:${line}`, at: Date.now() - started }),
      },
    );
    assert.deepEqual(
      seen.map((s) => s.line),
      ['one', 'two', 'three', 'err:e1'],
    );
    assert.ok((seen[0]?.at ?? 0) < r.durationMs - 400, 'first line arrived before the command ended');
  });

  test('stdin, binary-safe', async () => {
    const ex = createSshExecutor(opts);
    const data = randomBytes(300_000);
    const r = await ex.exec(['sha256sum'], { stdin: data });
    const local = execFileSync('sha256sum', { input: data, encoding: 'utf8' });
    assert.equal(r.stdout, local);
    assert.equal((await ex.exec(['cat'])).stdout, '', 'no stdin: EOF at once, no hang');
  });

  test('stdout streamed into the stdin of another command: every byte, with backpressure (a slow reader bounds the buffer)', async () => {
    const ex = createSshExecutor(opts);
    const file = join(sshd.dir, 'stream.bin');
    const data = randomBytes(24 * 1024 * 1024);
    writeFileSync(file, data);
    const pipe = new PassThrough({ highWaterMark: 1024 * 1024 });
    let maxBuffered = 0;
    const sampler = setInterval(() => {
      maxBuffered = Math.max(maxBuffered, pipe.readableLength + pipe.writableLength);
    }, 5);
    try {
      // The reader sleeps first: without backpressure the whole file would pile up in the controller.
      const reading = ex.exec(['sh', '-c', 'sleep 1; sha256sum'], { stdin: pipe, timeoutMs: T(60_000) });
      const sent = await ex.exec(['cat', '--', file], { stdoutTo: pipe, timeoutMs: T(60_000) });
      assert.equal(sent.stdout, '', 'streamed output is not collected');
      pipe.end();
      const r = await reading;
      assert.equal(r.stdout, execFileSync('sha256sum', { input: data, encoding: 'utf8' }));
      assert.ok(maxBuffered < 8 * 1024 * 1024, `at most a few MiB buffered, saw ${maxBuffered}`);
    } finally {
      clearInterval(sampler);
      rmSync(file, { force: true });
    }
  });

  test('one pooled connection is reused across commands and executors; >8 concurrent commands queue', async () => {
    const before = acceptedLogins(sshd);
    const opened = pool.stats().connectionsOpened;
    const a = createSshExecutor(opts);
    const b = createSshExecutor(opts);
    for (let i = 0; i < 10; i++) await (i % 2 ? a : b).exec(['true']);
    const started = Date.now();
    const results = await Promise.all(Array.from({ length: 12 }, () => a.exec(['sleep', '0.4'])));
    const elapsed = Date.now() - started;
    assert.equal(results.length, 12);
    assert.ok(elapsed >= 800, `12 commands with 8 channels need two rounds (took ${elapsed} ms)`);
    assert.equal(pool.stats().connectionsOpened - opened, opened === 0 ? 1 : 0);
    assert.equal(pool.stats().open, 1);
    assert.ok(acceptedLogins(sshd) - before <= 1, 'the server saw at most one new login');
  });

  test('a command outliving its timeout is killed with its whole process tree', async () => {
    const ex = createSshExecutor(opts);
    const started = Date.now();
    await assert.rejects(
      ex.exec(['sh', '-c', 'sleep 123451 & sleep 123452; wait'], { timeoutMs: 500 }),
      isCode('NINES_E_COMMAND_TIMEOUT'),
    );
    assert.ok(Date.now() - started < T(3000), 'bounded by timeout + kill');
    assert.deepEqual(pidsOf('sleep 123451'), []);
    assert.deepEqual(pidsOf('sleep 123452'), []);
  });

  test('a command ignoring TERM is KILLed after the grace', async () => {
    const ex = createSshExecutor(opts);
    await assert.rejects(
      ex.exec(['sh', '-c', 'trap "" TERM; sleep 12346'], { timeoutMs: 300 }),
      isCode('NINES_E_COMMAND_TIMEOUT'),
    );
    assert.deepEqual(pidsOf('sleep 12346'), []);
  });

  test('abort via AbortSignal kills the remote command', async () => {
    const ex = createSshExecutor(opts);
    const ac = new AbortController();
    const run = ex.exec(['sleep', '12347'], { signal: ac.signal });
    setTimeout(() => ac.abort(), 300);
    await assert.rejects(run, isCode('NINES_E_COMMAND_ABORTED'));
    assert.deepEqual(pidsOf('sleep 12347'), []);
    // The connection is still good afterwards.
    assert.equal((await ex.exec(['echo', 'ok'])).stdout, 'ok\n');
  });

  test('putFile is atomic with mode and owner; getFile returns the bytes', async () => {
    const ex = createSshExecutor(opts);
    const dir = (await ex.exec(['mktemp', '-d'])).stdout.trim();
    try {
      const data = Buffer.concat([randomBytes(100_000), Buffer.from("\n'$x\0")]);
      await ex.putFile(`${dir}/f.bin`, data, { mode: 0o640, owner: 'nobody:nogroup' });
      assert.ok((await ex.getFile(`${dir}/f.bin`)).equals(data));
      assert.equal(
        (await ex.exec(['stat', '-c', '%a %U %G', `${dir}/f.bin`])).stdout,
        '640 nobody nogroup\n',
      );
      await ex.putFile(`${dir}/f.bin`, 'v2\n');
      assert.equal((await ex.getFile(`${dir}/f.bin`)).toString(), 'v2\n');
      assert.equal((await ex.exec(['stat', '-c', '%a', `${dir}/f.bin`])).stdout, '644\n');
      assert.deepEqual(readdirSync(dir), ['f.bin'], 'no temp file left behind');
      await assert.rejects(ex.putFile(`${dir}/missing/x`, 'x'), isCode('NINES_E_FILE_TRANSFER'));
      await assert.rejects(ex.getFile(`${dir}/missing`), isCode('NINES_E_FILE_TRANSFER'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a daemon started by the service manager over ssh does not hold the channel', async () => {
    const ex = createSshExecutor(opts);
    const dir = (await ex.exec(['mktemp', '-d'])).stdout.trim();
    const sm = createServiceManager(ex, { mode: 'direct', runDir: dir });
    const svc = { name: 'sleeper', argv: ['sleep', '12348'], logFile: `${dir}/sleeper.log` };
    try {
      const started = Date.now();
      await sm.start(svc);
      assert.ok(Date.now() - started < T(5000));
      const st = await sm.status('sleeper');
      assert.equal(st.state, 'running');
      assert.deepEqual(pidsOf('sleep 12348'), [st.pid]);
      await sm.stop('sleeper', { timeoutMs: 2000 });
      assert.deepEqual(pidsOf('sleep 12348'), []);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('transparent reconnect after the server dropped the connection', async () => {
    const ex = createSshExecutor(opts);
    await ex.exec(['true']);
    const opened = pool.stats().connectionsOpened;
    sshd.dropConnections();
    await new Promise((r) => setTimeout(r, 100));
    assert.equal((await ex.exec(['echo', 'back'])).stdout, 'back\n');
    // And when the drop is not yet noticed by the client: restart sshd and run at once.
    await sshd.restart();
    assert.equal((await ex.exec(['echo', 'again'])).stdout, 'again\n');
    assert.ok(pool.stats().connectionsOpened >= opened + 1);
  });

  test('wrong key -> NINES_E_SSH_AUTH; unreadable or invalid key -> NINES_E_SSH_KEY_FILE', async () => {
    const own = new SshPool();
    try {
      await assert.rejects(
        createSshExecutor({ ...opts, pool: own, privateKeyPath: sshd.wrongKeyPath }).exec(['true']),
        isCode('NINES_E_SSH_AUTH'),
      );
      await assert.rejects(
        createSshExecutor({ ...opts, pool: own, privateKeyPath: join(sshd.dir, 'nope') }).exec(['true']),
        isCode('NINES_E_SSH_KEY_FILE'),
      );
      const garbage = join(sshd.dir, 'garbage');
      writeFileSync(garbage, 'not a key');
      await assert.rejects(
        createSshExecutor({ ...opts, pool: own, privateKeyPath: garbage }).exec(['true']),
        isCode('NINES_E_SSH_KEY_FILE'),
      );
    } finally {
      await own.closeAll();
    }
  });

  test('closed port -> NINES_E_HOST_UNREACHABLE fast; silent server -> bounded by connectTimeoutMs', async () => {
    const own = new SshPool();
    const port = await freePort();
    let started = Date.now();
    await assert.rejects(
      createSshExecutor({ ...opts, port, pool: own }).exec(['true']),
      isCode('NINES_E_HOST_UNREACHABLE'),
    );
    assert.ok(Date.now() - started < 1000, 'refused is immediate');
    // A server that accepts TCP but never speaks SSH.
    const sockets: Socket[] = [];
    const silent: Server = createServer((s) => sockets.push(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const addr = silent.address();
    try {
      started = Date.now();
      await assert.rejects(
        createSshExecutor({
          ...opts,
          port: typeof addr === 'object' && addr ? addr.port : 0,
          pool: own,
          connectTimeoutMs: 700,
        }).exec(['true']),
        isCode('NINES_E_HOST_UNREACHABLE'),
      );
      const took = Date.now() - started;
      assert.ok(took >= 600 && took < T(3000), `took ${took} ms`);
    } finally {
      for (const s of sockets) s.destroy();
      silent.close();
      await own.closeAll();
    }
  });

  test('known_hosts: the recorded key is readable by OpenSSH ssh', () => {
    const r = spawnSync(
      'ssh',
      [
        '-o',
        'BatchMode=yes',
        '-o',
        'StrictHostKeyChecking=yes',
        '-o',
        `UserKnownHostsFile=${sshd.knownHostsPath}`,
        '-i',
        sshd.clientKeyPath,
        '-p',
        String(sshd.port),
        `root@${sshd.host}`,
        'echo',
        'openssh-ok',
      ],
      { encoding: 'utf8', timeout: T(10_000) },
    );
    assert.equal(r.stdout, 'openssh-ok\n', r.stderr);
  });

  // Last: it replaces the server's host key.
  test('a changed host key -> NINES_E_SSH_HOSTKEY_CHANGED naming the known_hosts file', async () => {
    await sshd.restart({ newHostKey: true });
    const own = new SshPool();
    try {
      await assert.rejects(createSshExecutor({ ...opts, pool: own }).exec(['true']), (err) => {
        assert.ok(isNinesError(err, 'NINES_E_SSH_HOSTKEY_CHANGED'), String(err));
        assert.match(err.message, new RegExp(sshd.knownHostsPath.replaceAll('/', '\\/')));
        assert.equal(err.context.knownHostsPath, sshd.knownHostsPath);
        return true;
      });
      // The pooled connection of the main pool was dropped by the restart and must not silently trust the new key.
      await assert.rejects(createSshExecutor(opts).exec(['true']), isCode('NINES_E_SSH_HOSTKEY_CHANGED'));
    } finally {
      await own.closeAll();
    }
  });
});
