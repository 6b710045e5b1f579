// The data copy for a new replica (src/engines/mariadb/clone.ts) against scripted executors: the exact argv on
// each side (no shell, no socat, no listening port), the stream passing from the source's stdout to the
// target's stdin through the controller, and failure/abort handling (both sides stopped, the failing side
// named, the target's data directory emptied).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isNinesError } from '../../../src/core/errors.ts';
import { cloneFromPrimary } from '../../../src/engines/mariadb/clone.ts';
import { FakeExecutor, type FakeCall } from '../../support/fake-executor.ts';

const BACKUP = [
  'mariabackup',
  '--backup',
  '--stream=mbstream',
  '--user=root',
  '--socket=/run/mysqld/mysqld.sock',
  '--target-dir=/tmp',
];
const OWN_BINLOG = ['find', '/var/lib/mysql', '-maxdepth', '1', '-name', 'mariadb-bin.0*', '-print', '-quit'];
const WIPE = ['find', '/var/lib/mysql', '-mindepth', '1', '-delete'];
const RECEIVE = ['mbstream', '-x', '-C', '/var/lib/mysql'];
const STREAM = Buffer.alloc(3 * 1024 * 1024 + 17, 'x');

function source(reply: Parameters<FakeExecutor['on']>[1] = { stdout: STREAM }): FakeExecutor {
  return new FakeExecutor('10.1.0.11').on(BACKUP, reply);
}

function target(receive: Parameters<FakeExecutor['on']>[1] = {}): FakeExecutor {
  return new FakeExecutor('10.1.0.13')
    .on(OWN_BINLOG, { stdout: '' })
    .on(WIPE, {})
    .on(RECEIVE, receive)
    .on(['mariabackup', '--prepare'], {})
    .on(['chown'], {})
    .on(['cat', '--', '/var/lib/mysql/xtrabackup_binlog_info'], {
      stdout: 'mariadb-bin.000002\t342\t0-1-5\n',
    });
}

function call(fake: FakeExecutor, argv: readonly string[]): FakeCall {
  const c = fake.calls.find((x) => x.argv.join(' ') === argv.join(' '));
  assert.ok(c, `${argv.join(' ')} ran on ${fake.host}: ${fake.commands().join(' | ')}`);
  return c;
}

test('clone: exact argv on both sides, the stream passes through the controller, no shell and no port', async () => {
  const src = source();
  const dst = target();
  const result = await cloneFromPrimary(src, dst);
  assert.deepEqual(result, { gtid: '0-1-5', bytes: STREAM.length });
  assert.deepEqual(src.commands(), [BACKUP.join(' ')]);
  assert.deepEqual(dst.commands(), [
    OWN_BINLOG.join(' '),
    WIPE.join(' '),
    RECEIVE.join(' '),
    'mariabackup --prepare --target-dir=/var/lib/mysql',
    'chown -R mysql:mysql -- /var/lib/mysql',
    'cat -- /var/lib/mysql/xtrabackup_binlog_info',
  ]);
  assert.ok(call(src, BACKUP).options.sudo && call(dst, RECEIVE).options.sudo, 'both sides as root');
  assert.ok(call(src, BACKUP).options.stdoutTo, 'the backup streams its stdout');
  assert.ok(call(dst, RECEIVE).streamedStdin?.equals(STREAM), 'the target received every byte, unchanged');
  for (const c of [...src.calls, ...dst.calls]) {
    assert.ok(!['sh', 'bash', 'socat'].includes(c.argv[0] ?? ''), `no shell or socat: ${c.argv.join(' ')}`);
    assert.ok(!c.argv.some((a) => a.includes('10.1.0.')), `no host address in argv: ${c.argv.join(' ')}`);
  }
});

test('clone: a failing backup is named (sending side, source host), the receiver killed, the datadir emptied', async () => {
  const src = source({ exitCode: 1, stderr: '[00] FATAL ERROR: cannot open datadir\n', delayMs: 5 });
  const dst = target({ delayMs: 60_000 });
  const err = await cloneFromPrimary(src, dst).then(
    () => assert.fail('the clone succeeded'),
    (e: unknown) => e,
  );
  assert.ok(isNinesError(err, 'NINES_E_CLONE_FAILED'), String(err));
  assert.match(err.message, /sending side 10\.1\.0\.11 \(mariabackup --backup, copy to 10\.1\.0\.13\)/);
  assert.match(err.message, /FATAL ERROR: cannot open datadir/);
  assert.equal(err.context.side, 'sending');
  assert.equal(call(dst, RECEIVE).killed, true, 'the receiver was killed, its input never ended');
  assert.deepEqual(dst.commands().slice(-1), [WIPE.join(' ')], 'the partial datadir is emptied');
  assert.ok(!dst.commands().some((c) => c.startsWith('mariabackup --prepare')));
});

test('clone: a failing receiver is named (receiving side, target host) and the backup stopped', async () => {
  const src = source({ delayMs: 60_000 });
  const dst = target({ exitCode: 2, stderr: 'mbstream: No space left on device\n', delayMs: 5 });
  const err = await cloneFromPrimary(src, dst).then(
    () => assert.fail('the clone succeeded'),
    (e: unknown) => e,
  );
  assert.ok(isNinesError(err, 'NINES_E_CLONE_FAILED'), String(err));
  assert.match(
    err.message,
    /receiving side 10\.1\.0\.13 \(mbstream -x, copy from 10\.1\.0\.11\).*No space left/,
  );
  assert.equal(call(src, BACKUP).killed, true, 'the backup on the source was killed');
  assert.deepEqual(dst.commands().slice(-1), [WIPE.join(' ')]);
});

test('clone: abort stops both sides and empties the datadir', async () => {
  const ac = new AbortController();
  const src = source(() => {
    setImmediate(() => ac.abort());
    return { delayMs: 60_000 };
  });
  const dst = target({ delayMs: 60_000 });
  const running = cloneFromPrimary(src, dst, ac.signal);
  await assert.rejects(running, (e) => isNinesError(e, 'NINES_E_COMMAND_ABORTED'));
  assert.equal(call(src, BACKUP).killed, true);
  assert.equal(call(dst, RECEIVE).killed, true);
  assert.deepEqual(dst.commands().slice(-1), [WIPE.join(' ')]);
});

test('clone: a node with binlogs of its own is not overwritten (nothing deleted, nothing streamed)', async () => {
  const src = source();
  const dst = target().on(OWN_BINLOG, { stdout: '/var/lib/mysql/mariadb-bin.000001\n' });
  await assert.rejects(cloneFromPrimary(src, dst), (e) => isNinesError(e, 'NINES_E_DEPLOY_FAILED'));
  assert.deepEqual(dst.commands(), [OWN_BINLOG.join(' ')]);
  assert.deepEqual(src.commands(), []);
});
