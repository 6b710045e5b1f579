// Executor semantics (check, timeout, abort, streaming, redaction, sudo refusal) exercised on the fake, which
// shares the supervision code with the ssh and local executors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { FakeExecutor } from '../../support/fake-executor.ts';
import { isNinesError } from '../../../src/core/errors.ts';

test('scripted replies by pattern; later rules win; an unscripted command throws naming its argv', async () => {
  const fake = new FakeExecutor('db1')
    .on('systemctl is-active', { exitCode: 3 })
    .on(/^mariadb /, { stdout: 'ON\n' })
    .on(['mariadb', /^-e/], { stdout: 'OFF\n' });
  assert.equal((await fake.exec(['systemctl', 'is-active', 'x'], { check: false })).exitCode, 3);
  assert.equal((await fake.exec(['mariadb', '-eSELECT 1'])).stdout, 'OFF\n');
  assert.equal((await fake.exec(['mariadb', '--version'])).stdout, 'ON\n');
  await assert.rejects(fake.exec(['uptime', '-p'], { check: false }), (err) => {
    assert.ok(!isNinesError(err), 'a test bug, not a command failure the code could handle');
    assert.match((err as Error).message, /no script for the command db1: \["uptime","-p"\]/);
    return true;
  });
  assert.deepEqual(fake.commands(), [
    'systemctl is-active x',
    'mariadb -eSELECT 1',
    'mariadb --version',
    'uptime -p',
  ]);
  // Recorded for the file's final check even if the code under test had swallowed the error; this test expected
  // it, so it takes it off the list.
  assert.deepEqual(FakeExecutor.unscripted.splice(0), ['db1: ["uptime","-p"]']);
});

test('a swallowed unscripted command still fails the test file', () => {
  const file = join(mkdtempSync(join(tmpdir(), 'nines-fake-')), 'swallow.test.mjs');
  const support = pathToFileURL(join(import.meta.dirname, '..', '..', 'support', 'fake-executor.ts')).href;
  writeFileSync(
    file,
    `import { test } from 'node:test';
import { FakeExecutor } from ${JSON.stringify(support)};
test('swallows', async () => {
  await new FakeExecutor('h9').exec(['rm', '-rf', '/x']).catch(() => undefined);
});
`,
  );
  const child = spawnSync(
    process.execPath,
    ['--disable-warning=ExperimentalWarning', '--test', '--test-reporter=tap', file],
    { encoding: 'utf8', env: { ...process.env, NODE_TEST_CONTEXT: undefined } }, // its own run, not a subtest of ours
  );
  assert.equal(child.status, 1, child.stdout);
  assert.match(child.stdout, /1 unscripted command\(s\) ran:\s+h9: \["rm","-rf","\/x"\]/);
});

test('non-zero exit -> NINES_E_COMMAND_FAILED with host, redacted argv, exit code and stderr tail', async () => {
  const fake = new FakeExecutor('db1').on('mariadb', { exitCode: 1, stderr: 'ERROR 1045 for hunter2\n' });
  await assert.rejects(
    fake.exec(['mariadb', '--password=hunter2', '-e', 'SELECT 1'], { secrets: ['hunter2'] }),
    (err) => {
      assert.ok(isNinesError(err, 'NINES_E_COMMAND_FAILED'));
      assert.equal(err.context.host, 'db1');
      assert.deepEqual(err.context.argv, ['mariadb', '--password=***', '-e', 'SELECT 1']);
      assert.equal(err.context.exitCode, 1);
      assert.equal(err.context.stderr, 'ERROR 1045 for ***\n');
      assert.doesNotMatch(err.message, /hunter2/);
      return true;
    },
  );
  assert.equal((await fake.exec(['mariadb'], { check: false })).exitCode, 1);
});

test('timeout kills the command and throws NINES_E_COMMAND_TIMEOUT', async () => {
  const fake = new FakeExecutor().on('sleep', { delayMs: 5000 });
  const started = Date.now();
  await assert.rejects(fake.exec(['sleep', '100'], { timeoutMs: 50 }), (e) =>
    isNinesError(e, 'NINES_E_COMMAND_TIMEOUT'),
  );
  assert.ok(Date.now() - started < 1000);
  assert.equal(fake.calls[0]?.killed, true);
});

test('abort kills the command and throws NINES_E_COMMAND_ABORTED; an aborted signal never starts it', async () => {
  const fake = new FakeExecutor().on('sleep', { delayMs: 5000 });
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 30);
  await assert.rejects(fake.exec(['sleep', '1'], { signal: ac.signal }), (e) =>
    isNinesError(e, 'NINES_E_COMMAND_ABORTED'),
  );
  assert.equal(fake.calls[0]?.killed, true);
  await assert.rejects(fake.exec(['sleep', '1'], { signal: ac.signal }), (e) =>
    isNinesError(e, 'NINES_E_COMMAND_ABORTED'),
  );
});

test('output lines are streamed to the callbacks', async () => {
  const fake = new FakeExecutor().on('x', { stdout: 'a\nb\nc', stderr: 'w1\n' });
  const out: string[] = [];
  const err: string[] = [];
  const r = await fake.exec(['x'], { onStdoutLine: (l) => out.push(l), onStderrLine: (l) => err.push(l) });
  assert.deepEqual(out, ['a', 'b', 'c']);
  assert.deepEqual(err, ['w1']);
  assert.equal(r.stdout, 'a\nb\nc');
});

test('sudo refusal -> NINES_E_SUDO even with check: false', async () => {
  const fake = new FakeExecutor().on('systemctl', {
    sudoRefused: true,
    stderr: 'sudo: a password is required\n',
  });
  await assert.rejects(fake.exec(['systemctl', 'start', 'x'], { sudo: true, check: false }), (e) =>
    isNinesError(e, 'NINES_E_SUDO'),
  );
});

test('responder functions see the call; putFile/getFile keep files', async () => {
  const fake = new FakeExecutor().on('echo', (call) => ({ stdout: `${call.argv.slice(1).join(' ')}\n` }));
  assert.equal((await fake.exec(['echo', 'hi', 'there'])).stdout, 'hi there\n');
  await fake.putFile('/etc/x.cnf', 'k=v\n', { mode: 0o600, owner: 'mysql' });
  assert.equal((await fake.getFile('/etc/x.cnf')).toString(), 'k=v\n');
  assert.deepEqual(fake.files.get('/etc/x.cnf')?.options, { mode: 0o600, owner: 'mysql' });
  await assert.rejects(fake.getFile('/nope'), (e) => isNinesError(e, 'NINES_E_FILE_TRANSFER'));
});

test('rules with a count answer that many times', async () => {
  const fake = new FakeExecutor().on('probe', { exitCode: 1 }, 2).on('probe', { exitCode: 0 }, 0);
  fake.fallback = { stdout: 'fallback' };
  assert.equal((await fake.exec(['probe'], { check: false })).exitCode, 1);
  assert.equal((await fake.exec(['probe'], { check: false })).exitCode, 1);
  assert.equal((await fake.exec(['probe'])).stdout, 'fallback');
});
