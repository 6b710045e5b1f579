// `nines demo --no-serve` as a user runs it (a CLI process): lab of 5 hosts, in-process controller, a
// mariadb-replication cluster with HAProxy + Keepalived VIP, the app user, and the printed client command
// works through the VIP. A second run reuses the healthy cluster.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { labDown, randomLabName } from '../../../src/lab/index.ts';
import { withSql } from '../../../src/engines/mysql/index.ts';
import { MAIN, ms, poll } from './helpers.ts';

const run = promisify(execFile);

async function demo(args: readonly string[]): Promise<{ code: number; out: string }> {
  try {
    const { stdout, stderr } = await run(
      process.execPath,
      ['--disable-warning=ExperimentalWarning', MAIN, 'demo', '--no-serve', ...args],
      { timeout: ms(300_000) },
    );
    return { code: 0, out: `${stdout}\n${stderr}` };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, out: `${e.stdout}\n${e.stderr}` };
  }
}

describe('nines demo --no-serve', { timeout: ms(600_000) }, () => {
  const lab = randomLabName();
  const dataDir = mkdtempSync(join(tmpdir(), 'nines-demo-'));
  const args = ['--name', lab, '--data-dir', dataDir, '--listen', '127.0.0.1:0'];

  after(async () => {
    await labDown(lab).catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('deploys through the controller job and prints a client command that works through the VIP', async () => {
    const first = await demo(args);
    assert.equal(first.code, 0, first.out);
    assert.match(first.out, /step start servers/, 'the job log is shown live');
    assert.match(first.out, /cluster demo-mariadb healthy in [\d.]+ s/);
    const m = /writes \(primary\):\s+mariadb -h (\S+) -P (\d+) -u app -p(\S+) app/.exec(first.out);
    assert.ok(m, first.out);
    const [, vip = '', port = '', password = ''] = m;
    assert.match(first.out, new RegExp(`lab down --name ${lab}`));
    // Polled: a lab torn down earlier may have left this machine a stale neighbour entry for the same VIP.
    const ro = await poll('SQL through the VIP', 15_000, async () => {
      const rows = await withSql({ host: vip, port: Number(port), user: 'app', password }, (c) =>
        c.query('SELECT @@read_only AS ro'),
      );
      return rows[0]?.ro as number | undefined;
    });
    assert.equal(Number(ro), 0, 'the write port reaches the writable primary');

    const second = await demo(args);
    assert.equal(second.code, 0, second.out);
    assert.match(second.out, /already up; reusing it/);
    assert.match(second.out, /cluster demo-mariadb is already healthy; reusing it/);
  });
});
