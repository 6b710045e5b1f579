import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { FakeExecutor } from '../../support/fake-executor.ts';
import { createServiceManager } from '../../../src/hosts/services.ts';
import {
  DETECT_SYSTEMD_ARGV,
  directStartArgv,
  directStatusArgv,
  directStopArgv,
  parseDirectStatus,
} from '../../../src/hosts/service-commands.ts';
import { isNinesError } from '../../../src/core/errors.ts';

/** The detached start of a direct-mode daemon (the command exits at once; the daemon runs on). */
const isDirectStart = (argv: readonly string[]): boolean => argv[0] === 'sh' && argv[3] === 'nines-start';

const spec = {
  name: 'mariadb',
  argv: ['/usr/sbin/mariadbd', '--defaults-file=/etc/mysql/my.cnf'],
  user: 'mysql',
  logFile: '/var/log/mysql/error.log',
  env: { TZ: 'UTC' },
  cwd: '/var/lib/mysql',
};

test('detection: systemd only when /run/systemd/system exists and PID 1 is systemd', async () => {
  const fake = new FakeExecutor().on(DETECT_SYSTEMD_ARGV.join(' '), { stdout: 'systemd\n' });
  const sm = createServiceManager(fake);
  assert.equal(await sm.mode(), 'systemd');
  assert.equal(await sm.mode(), 'systemd');
  assert.equal(fake.commands().length, 1, 'detected once');
  assert.equal(fake.calls[0]?.options.sudo, true);
  const out = spawnSync(DETECT_SYSTEMD_ARGV[0] ?? '', DETECT_SYSTEMD_ARGV.slice(1), { encoding: 'utf8' });
  assert.match(out.stdout, /^(systemd|direct)\n$/);
});

test('systemd mode maps onto systemctl', async () => {
  const fake = new FakeExecutor()
    .on(DETECT_SYSTEMD_ARGV.join(' '), { stdout: 'systemd\n' })
    .on('systemctl is-active --quiet mariadb.service', { exitCode: 0 })
    .on('systemctl show --property=MainPID --value mariadb.service', { stdout: '4242\n' })
    .on('systemctl start mariadb.service', {})
    .on('systemctl stop mariadb@2.service', {})
    .on('systemctl restart mariadb.service', {});
  const sm = createServiceManager(fake);
  await sm.start(spec);
  assert.deepEqual(await sm.status('mariadb'), { state: 'running', mode: 'systemd', pid: 4242 });
  await sm.stop({ name: 'x', unit: 'mariadb@2.service' });
  await sm.restart(spec);
  assert.deepEqual(fake.commands().slice(1), [
    'systemctl start mariadb.service',
    'systemctl is-active --quiet mariadb.service',
    'systemctl show --property=MainPID --value mariadb.service',
    'systemctl stop mariadb@2.service',
    'systemctl restart mariadb.service',
  ]);
  fake.on('systemctl is-active', { exitCode: 3 });
  assert.deepEqual(await sm.status('mariadb'), { state: 'stopped', mode: 'systemd' });
});

test('direct start: status, detached start with setpriv and pidfile, then polls until running', async () => {
  const statusCmd = directStatusArgv('/run/nines/mariadb.pid').join(' ');
  const fake = new FakeExecutor()
    .on(isDirectStart, {})
    .on(statusCmd, { stdout: 'running 777\n' })
    .on(statusCmd, { stdout: 'starting 777\n' }, 1)
    .on(statusCmd, { stdout: 'stopped none\n' }, 1);
  const sm = createServiceManager(fake, { mode: 'direct' });
  await sm.start(spec);
  const cmds = fake.calls.map((c) => c.argv);
  assert.equal(cmds.length, 4);
  const start = cmds[1] ?? [];
  assert.deepEqual(start, directStartArgv({ ...spec, pidFile: '/run/nines/mariadb.pid' }));
  assert.deepEqual(start.slice(3), [
    'nines-start',
    '/run/nines/mariadb.pid',
    '/var/log/mysql/error.log',
    '/var/lib/mysql',
    'mysql',
    '/usr/sbin/mariadbd',
    'env',
    'TZ=UTC',
    '/usr/sbin/mariadbd',
    '--defaults-file=/etc/mysql/my.cnf',
  ]);
  const script = start[2] ?? '';
  assert.match(script, /setsid -f sh -c .*<\/dev\/null >>"\$log" 2>&1/);
  assert.match(script, /setpriv --reuid="\$user" --regid="\$gid" --init-groups --/);
  assert.ok(fake.calls.every((c) => c.options.sudo === true));
});

test('direct start is a no-op when already running, fails with the log tail when the daemon dies', async () => {
  const statusCmd = directStatusArgv('/tmp/x.pid').join(' ');
  const running = new FakeExecutor().on(statusCmd, { stdout: 'running 9\n' });
  await createServiceManager(running, { mode: 'direct' }).start({ ...spec, pidFile: '/tmp/x.pid' });
  assert.equal(running.commands().length, 1);

  const dying = new FakeExecutor()
    .on(isDirectStart, {})
    .on(statusCmd, { stdout: 'stopped dead\n' })
    .on(statusCmd, { stdout: 'stopped none\n' }, 1)
    .on('tail -n 30 -- /var/log/mysql/error.log', { stdout: '[ERROR] Aborting\n' });
  await assert.rejects(
    createServiceManager(dying, { mode: 'direct' }).start({ ...spec, pidFile: '/tmp/x.pid' }),
    (err) => {
      assert.ok(isNinesError(err, 'NINES_E_SERVICE'));
      assert.equal(err.context.logTail, '[ERROR] Aborting\n');
      assert.equal(err.context.logFile, '/var/log/mysql/error.log');
      return true;
    },
  );
});

test('direct stop and status use the pidfile; stop grace becomes poll count', async () => {
  const fake = new FakeExecutor().on('sh -c', { stdout: 'stopped none\n' });
  const sm = createServiceManager(fake, { mode: 'direct', runDir: '/run/x', sudo: false });
  await sm.stop('pg', { timeoutMs: 5000 });
  assert.deepEqual(await sm.status('pg'), { state: 'stopped', mode: 'direct' });
  assert.deepEqual(fake.calls[0]?.argv, directStopArgv('/run/x/pg.pid', 5000));
  assert.deepEqual(fake.calls[0]?.argv.slice(-2), ['/run/x/pg.pid', '50']);
  assert.deepEqual(fake.calls[1]?.argv, directStatusArgv('/run/x/pg.pid'));
  assert.equal(fake.calls[0]?.options.sudo, false);
});

test('readyCheck is polled until it passes', async () => {
  const statusCmd = directStatusArgv('/run/nines/mariadb.pid').join(' ');
  const fake = new FakeExecutor()
    .on(isDirectStart, {})
    .on(statusCmd, { stdout: 'running 5\n' })
    .on(statusCmd, { stdout: 'stopped none\n' }, 1)
    .on('mariadb-admin ping', { exitCode: 0 })
    .on('mariadb-admin ping', { exitCode: 1 }, 2);
  const sm = createServiceManager(fake, { mode: 'direct' });
  await sm.start({ ...spec, readyCheck: { argv: ['mariadb-admin', 'ping'], intervalMs: 1 } });
  assert.equal(fake.commands().filter((c) => c === 'mariadb-admin ping').length, 3);
});

test('command construction refuses bad names and relative paths', () => {
  assert.throws(
    () => directStartArgv({ argv: ['x'], pidFile: 'rel.pid', logFile: '/l' }),
    (e) => isNinesError(e, 'NINES_E_INVALID_ARGUMENT'),
  );
  assert.throws(
    () => directStartArgv({ argv: [], pidFile: '/p', logFile: '/l' }),
    (e) => isNinesError(e, 'NINES_E_INVALID_ARGUMENT'),
  );
  const sm = createServiceManager(new FakeExecutor(), { mode: 'direct' });
  return assert.rejects(sm.status('../etc/passwd'), (e) => isNinesError(e, 'NINES_E_INVALID_ARGUMENT'));
});

test('parseDirectStatus', () => {
  assert.deepEqual(parseDirectStatus('running 12\n'), { state: 'running', pid: 12 });
  assert.deepEqual(parseDirectStatus('starting 12\n'), { state: 'starting', pid: 12 });
  assert.deepEqual(parseDirectStatus('stopped dead\n'), { state: 'stopped', dead: true });
  assert.deepEqual(parseDirectStatus('stopped none\n'), { state: 'stopped', dead: false });
  assert.deepEqual(parseDirectStatus('garbage'), { state: 'stopped', dead: false });
});
