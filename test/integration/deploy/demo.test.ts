// `nines demo --no-serve` as a user runs it (a CLI process): lab of 5 hosts, in-process controller, a
// mariadb-replication cluster with HAProxy + Keepalived VIP, the app user, and the printed client command
// works through the VIP. A second run reuses the cluster only after the monitor saw it healthy. Then the lab is
// removed as the demo's own hint says, and the next run deploys afresh on the new lab (the stored inventory
// of the old one is stale) and its printed command works.
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

/** Runs the printed client command (as a user pastes it) with one statement. */
async function client(command: string, sql: string): Promise<string> {
  const { stdout } = await run('sh', ['-c', `${command} -N -B -e "${sql}"`], { timeout: ms(20_000) });
  return stdout.trim();
}

/** The write port's client command as printed, and its parts. */
function printedWrites(out: string): { command: string; vip: string; port: number; password: string } {
  const m = /writes \(primary\):\s+(mariadb -h (\S+) -P (\d+) -u app -p(\S+) app)$/m.exec(out);
  assert.ok(m, out);
  const [, command = '', vip = '', port = '', password = ''] = m;
  return { command, vip, port: Number(port), password };
}

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
    const { vip, port, password, command } = printedWrites(first.out);
    assert.match(first.out, new RegExp(`lab down --name ${lab}`));
    // Polled: a lab torn down earlier may have left this machine a stale neighbour entry for the same VIP.
    const ro = await poll('SQL through the VIP', 15_000, async () => {
      const rows = await withSql({ host: vip, port, user: 'app', password }, (c) =>
        c.query('SELECT @@read_only AS ro'),
      );
      return rows[0]?.ro as number | undefined;
    });
    assert.equal(Number(ro), 0, 'the write port reaches the writable primary');

    const second = await demo(args);
    assert.equal(second.code, 0, second.out);
    assert.match(second.out, /already up; reusing it/);
    assert.match(
      second.out,
      /cluster demo-mariadb is healthy \(the monitor sees it so now: .*\); reusing it/,
    );
    assert.doesNotMatch(second.out, /deploying/);
    await poll('a write through the printed command', 15_000, () =>
      client(command, 'CREATE TABLE IF NOT EXISTS t (id INT PRIMARY KEY); REPLACE INTO t VALUES (1)'),
    );

    // As the demo's hint says: remove the lab; the controller's data directory stays.
    await run(
      process.execPath,
      ['--disable-warning=ExperimentalWarning', MAIN, 'lab', 'down', '--name', lab],
      {
        timeout: ms(60_000),
      },
    );
    const third = await demo(args);
    assert.equal(third.code, 0, third.out);
    assert.match(third.out, /bringing up lab/);
    assert.match(
      third.out,
      /deployed on an earlier lab .*: removing its stale inventory and deploying afresh/,
    );
    assert.doesNotMatch(third.out, /reusing it\n/);
    assert.match(third.out, /cluster demo-mariadb healthy in [\d.]+ s/);
    const fresh = printedWrites(third.out);
    const answer = await poll('SQL through the printed command on the new lab', 15_000, async () => {
      const rows = await client(
        fresh.command,
        "SELECT @@read_only, COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = 't'",
      );
      return rows || undefined;
    });
    assert.equal(answer, '0\t0', 'the writable primary of a new, empty cluster');
  });
});
