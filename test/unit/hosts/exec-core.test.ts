import { test } from 'node:test';
import assert from 'node:assert/strict';
import { superviseCommand, type RunningCommand } from '../../../src/hosts/exec-core.ts';
import { NinesError, isNinesError } from '../../../src/core/errors.ts';

test('a command stopped before it started is killed when it starts, and its later transport loss stays handled', async () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => {
    unhandled.push(reason);
  };
  process.on('unhandledRejection', onUnhandled);
  try {
    let killed = false;
    let loseConnection: (err: Error) => void = () => undefined;
    const ac = new AbortController();
    const run = superviseCommand({
      host: 'h1',
      argv: ['sleep', '60'],
      options: { signal: ac.signal },
      sudoUsed: false,
      // The channel opens only after the caller gave up (a queued command on a busy connection).
      start: () =>
        new Promise<RunningCommand>((resolve) =>
          setTimeout(() => {
            const exited = new Promise<never>((_, reject) => (loseConnection = reject));
            resolve({
              exited,
              kill: () => {
                killed = true;
                return Promise.resolve();
              },
            });
          }, 20),
        ),
    });
    ac.abort();
    await assert.rejects(run, (e) => isNinesError(e, 'NINES_E_COMMAND_ABORTED'));
    // Polled: the command starts 20 ms late, then must be killed.
    for (const deadline = Date.now() + 2000; !killed && Date.now() < deadline;) {
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.ok(killed, 'the late-starting command was killed');
    loseConnection(new NinesError('NINES_E_HOST_UNREACHABLE', 'h1: the SSH connection was lost'));
    // Node reports an unhandled rejection once the microtasks of the current turn have run: two turns suffice.
    for (let i = 0; i < 2; i++) await new Promise((r) => setImmediate(r));
    assert.deepEqual(unhandled, [], 'no unhandled rejection');
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
});

test("a failed command's message ends with its last stderr line, secrets redacted", async () => {
  const run = superviseCommand({
    host: 'h1',
    argv: ['pg_basebackup', '--password=s3cret-pw'],
    options: { secrets: ['s3cret-pw'] },
    sudoUsed: false,
    start: (sink) => {
      sink.stderr(Buffer.from('pg_basebackup: connecting with s3cret-pw\n'));
      sink.stderr(Buffer.from('pg_basebackup: error: WAL segment already removed (pw s3cret-pw)\n\n'));
      return Promise.resolve({
        exited: Promise.resolve({ exitCode: 1, wrapperStarted: true }),
        kill: () => Promise.resolve(),
      });
    },
  });
  await assert.rejects(run, (e) => {
    assert.ok(isNinesError(e, 'NINES_E_COMMAND_FAILED'));
    assert.equal(
      e.message,
      'A command exited with a non-zero status: h1: pg_basebackup --password=*** exited with 1: pg_basebackup: error: WAL segment already removed (pw ***)',
    );
    return true;
  });
});

test('an exec stopped while its transport was starting rejects only once the late command was killed', async () => {
  let killed = false;
  let cancelled = false;
  const ac = new AbortController();
  const run = superviseCommand({
    host: 'h1',
    argv: ['sleep', '60'],
    options: { signal: ac.signal },
    sudoUsed: false,
    // The channel was already being opened when the caller gave up: it opens 30 ms later.
    start: (_sink, cancel) =>
      new Promise<RunningCommand>((resolve) => {
        cancel.addEventListener('abort', () => (cancelled = true), { once: true });
        setTimeout(() => {
          resolve({
            exited: new Promise<never>(() => undefined),
            kill: async () => {
              await new Promise((r) => setTimeout(r, 10));
              killed = true;
            },
          });
        }, 30);
      }),
  });
  ac.abort();
  await assert.rejects(run, (e) => isNinesError(e, 'NINES_E_COMMAND_ABORTED'));
  assert.ok(cancelled, 'the transport was told to give up');
  assert.ok(killed, 'the command was killed before exec rejected');
});

test('an exec whose signal is already aborted never calls the transport', async () => {
  let started = false;
  const ac = new AbortController();
  ac.abort();
  await assert.rejects(
    superviseCommand({
      host: 'h1',
      argv: ['touch', '/tmp/x'],
      options: { signal: ac.signal },
      sudoUsed: false,
      start: () => {
        started = true;
        return Promise.reject(new Error('must not be called'));
      },
    }),
    (e) => isNinesError(e, 'NINES_E_COMMAND_ABORTED'),
  );
  assert.equal(started, false);
});
