// LocalExecutor: real processes on this machine.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalExecutor } from '../../../src/hosts/local-executor.ts';
import { isNinesError } from '../../../src/core/errors.ts';

const SCALE = Number(process.env.NINES_TIMEOUT_SCALE ?? 1);

function pidsOf(cmdline: string): number[] {
  const r = spawnSync('pgrep', ['-f', `^${cmdline}$`], { encoding: 'utf8' });
  return r.stdout.split('\n').filter(Boolean).map(Number);
}

describe('local executor', { timeout: 60_000 * SCALE }, () => {
  const ex = createLocalExecutor({ killGraceMs: 500 });

  test('argv without a shell, exit codes, stdin, env, streaming', async () => {
    const r = await ex.exec(['printf', '%s|', '$HOME', '*', "a'b"]);
    assert.equal(r.stdout, "$HOME|*|a'b|");
    assert.equal((await ex.exec(['sh', '-c', 'exit 9'], { check: false })).exitCode, 9);
    assert.equal((await ex.exec(['cat'], { stdin: 'in' })).stdout, 'in');
    assert.equal((await ex.exec(['cat'])).stdout, '');
    assert.equal((await ex.exec(['sh', '-c', 'echo $V'], { env: { V: 'x y' } })).stdout, 'x y\n');
    const lines: string[] = [];
    await ex.exec(['sh', '-c', 'echo a; echo b >&2; echo c'], {
      onStdoutLine: (l) => lines.push(l),
      onStderrLine: (l) => lines.push(`!${l}`),
    });
    assert.deepEqual(lines.sort(), ['!b', 'a', 'c']);
  });

  test('failures: non-zero exit and missing program carry context', async () => {
    await assert.rejects(ex.exec(['sh', '-c', 'echo bad >&2; exit 2']), (err) => {
      assert.ok(isNinesError(err, 'NINES_E_COMMAND_FAILED'));
      assert.equal(err.context.exitCode, 2);
      assert.equal(err.context.stderr, 'bad\n');
      return true;
    });
    await assert.rejects(
      ex.exec(['/nonexistent/nines-x']),
      (err) => isNinesError(err, 'NINES_E_COMMAND_FAILED') && err.context.exitCode === 127,
    );
  });

  test('timeout kills the whole process group', async () => {
    const started = Date.now();
    await assert.rejects(ex.exec(['sh', '-c', 'sleep 22341 & sleep 22342; wait'], { timeoutMs: 300 }), (e) =>
      isNinesError(e, 'NINES_E_COMMAND_TIMEOUT'),
    );
    assert.ok(Date.now() - started < 2000 * SCALE);
    assert.deepEqual(pidsOf('sleep 22341'), []);
    assert.deepEqual(pidsOf('sleep 22342'), []);
  });

  test('a group ignoring TERM gets KILL after the grace', async () => {
    await assert.rejects(ex.exec(['sh', '-c', 'trap "" TERM; sleep 22343 & wait'], { timeoutMs: 200 }), (e) =>
      isNinesError(e, 'NINES_E_COMMAND_TIMEOUT'),
    );
    assert.deepEqual(pidsOf('sleep 22343'), []);
  });

  test('abort kills the group', async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 200);
    await assert.rejects(ex.exec(['sleep', '22344'], { signal: ac.signal }), (e) =>
      isNinesError(e, 'NINES_E_COMMAND_ABORTED'),
    );
    assert.deepEqual(pidsOf('sleep 22344'), []);
  });

  test('putFile/getFile: atomic, mode, binary', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nines-local-'));
    try {
      const data = Buffer.from([0, 1, 2, 0xff, 0x0a]);
      await ex.putFile(join(dir, 'f'), data, { mode: 0o600 });
      assert.ok((await ex.getFile(join(dir, 'f'))).equals(data));
      assert.equal(statSync(join(dir, 'f')).mode & 0o777, 0o600);
      assert.deepEqual(readdirSync(dir), ['f']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
