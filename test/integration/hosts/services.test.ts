// ServiceManager in direct mode on this machine (LocalExecutor): a real HTTP daemon on 127.0.0.1.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalExecutor } from '../../../src/hosts/local-executor.ts';
import { createServiceManager } from '../../../src/hosts/services.ts';
import { isNinesError } from '../../../src/core/errors.ts';

const SCALE = Number(process.env.NINES_TIMEOUT_SCALE ?? 1);
const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

function alive(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`).length > 0;
  } catch {
    return false;
  }
}

describe('service manager, direct mode, local machine', { timeout: 60_000 * SCALE }, () => {
  const ex = createLocalExecutor();

  test('start (detached, ready check), status, restart, stop', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nines-svc-'));
    const sm = createServiceManager(ex, { mode: 'direct', runDir: join(dir, 'run') });
    const logFile = join(dir, 'log', 'web.log');
    // Port 0: the server picks a free port and logs it (no race with other tests choosing "free" ports).
    const spec = {
      name: 'web',
      argv: [PYTHON, '-m', 'http.server', '--bind', '127.0.0.1', '0'],
      logFile,
      cwd: dir,
      env: { PYTHONUNBUFFERED: '1' },
      readyCheck: { argv: ['grep', '-q', 'Serving HTTP', logFile], timeoutMs: 10_000 * SCALE },
    };
    const port = (): number =>
      Number(/port (\d+)/.exec(readFileSync(logFile, 'utf8').split('Serving HTTP').pop() ?? '')?.[1]);
    try {
      assert.equal((await sm.status('web')).state, 'stopped');
      await sm.start(spec);
      const st = await sm.status('web');
      assert.equal(st.state, 'running');
      const pid = st.pid ?? 0;
      assert.equal(readFileSync(join(dir, 'run', 'web.pid'), 'utf8').trim(), String(pid));
      const res = await fetch(`http://127.0.0.1:${port()}/`);
      assert.equal(res.status, 200);
      // Detached: own session, stdin from /dev/null.
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      assert.equal(Number(fields[3]), pid, 'session leader');
      await sm.start(spec); // already running: no second instance
      assert.equal((await sm.status('web')).pid, pid);

      await sm.restart(spec, { timeoutMs: 3000 });
      const pid2 = (await sm.status('web')).pid ?? 0;
      assert.notEqual(pid2, pid);
      assert.equal(alive(pid), false);

      await sm.stop('web', { timeoutMs: 3000 });
      assert.equal((await sm.status('web')).state, 'stopped');
      assert.equal(alive(pid2), false);
      assert.equal(existsSync(join(dir, 'run', 'web.pid')), false);
      await sm.stop('web'); // idempotent
      assert.match(readFileSync(spec.logFile, 'utf8'), /GET \/ HTTP/);
    } finally {
      await sm.stop('web', { timeoutMs: 1000 }).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a recycled PID is not taken for the service; stop leaves it alone', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nines-svc-'));
    const sm = createServiceManager(ex, { mode: 'direct', runDir: dir });
    const spec = { name: 'nap', argv: ['sleep', '32345'], logFile: join(dir, 'nap.log') };
    try {
      await sm.start(spec);
      const pid = (await sm.status('nap')).pid ?? 0;
      // Pretend the pidfile belongs to another program: argv[0] recorded differs.
      await ex.putFile(join(dir, 'nap.pid.cmd'), 'mariadbd');
      assert.equal((await sm.status('nap')).state, 'stopped');
      await sm.stop('nap', { timeoutMs: 500 });
      assert.equal(alive(pid), true, 'not killed: it is not our daemon');
      process.kill(pid, 'SIGKILL');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a TERM-ignoring daemon is killed after the grace; a daemon that dies at once fails start with its log', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nines-svc-'));
    const sm = createServiceManager(ex, { mode: 'direct', runDir: dir });
    try {
      await sm.start({
        name: 'stubborn',
        argv: ['sh', '-c', 'trap "" TERM; while :; do sleep 1; done'],
        logFile: join(dir, 's.log'),
      });
      const pid = (await sm.status('stubborn')).pid ?? 0;
      const started = Date.now();
      await sm.stop('stubborn', { timeoutMs: 300 });
      assert.ok(Date.now() - started < 5000 * SCALE);
      assert.equal(alive(pid), false);

      await assert.rejects(
        sm.start({
          name: 'broken',
          argv: ['sh', '-c', 'echo cannot start >&2; exit 1'],
          logFile: join(dir, 'b.log'),
        }),
        (err) => {
          assert.ok(isNinesError(err, 'NINES_E_SERVICE'));
          assert.match(String(err.context.logTail), /cannot start/);
          return true;
        },
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
