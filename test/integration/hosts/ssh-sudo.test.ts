// sudo through the SSH executor, with two throw-away users on this machine (one with NOPASSWD sudo, one
// without), created in `before` and removed in `after`. Skipped when not root or without useradd/sudo.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { startTestSshd } from './sshd-server.ts';
import type { TestSshd } from './sshd-server.ts';
import { createSshExecutor } from '../../../src/hosts/ssh-executor.ts';
import type { SshExecutorOptions } from '../../../src/hosts/ssh-executor.ts';
import { SshPool } from '../../../src/hosts/ssh-pool.ts';
import { isNinesError } from '../../../src/core/errors.ts';

const SCALE = Number(process.env.NINES_TIMEOUT_SCALE ?? 1);
const have = (cmd: string): boolean => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const skip =
  process.getuid?.() !== 0 || !have('useradd') || !have('sudo') ? 'needs root, useradd and sudo' : false;

describe('ssh executor with sudo (non-root users)', { skip, timeout: 60_000 * SCALE }, () => {
  const suffix = randomBytes(3).toString('hex');
  const withSudo = `nines-sudo-${suffix}`;
  const without = `nines-nosudo-${suffix}`;
  const sudoersFile = `/etc/sudoers.d/nines-test-${suffix}`;
  let sshd: TestSshd;
  let homes: string;
  let pool: SshPool;
  let opts: (user: string) => SshExecutorOptions;

  before(async () => {
    homes = mkdtempSync(join(tmpdir(), 'nines-sudo-homes-'));
    chmodSync(homes, 0o755);
    for (const user of [withSudo, without]) {
      // -p '*': no password, but not "locked" ('!'), which sshd without PAM refuses even for key logins.
      execFileSync('useradd', ['-m', '-d', join(homes, user), '-s', '/bin/sh', '-p', '*', user]);
    }
    writeFileSync(sudoersFile, `${withSudo} ALL=(ALL) NOPASSWD: ALL\n`, { mode: 0o440 });
    execFileSync('visudo', ['-c', '-q', '-f', sudoersFile]);
    sshd = await startTestSshd();
    pool = new SshPool();
    opts = (user) => ({
      host: sshd.host,
      port: sshd.port,
      user,
      privateKeyPath: sshd.clientKeyPath,
      knownHostsPath: sshd.knownHostsPath,
      killGraceMs: 500,
      pool,
    });
  });

  after(async () => {
    await pool?.closeAll();
    await sshd?.stop();
    rmSync(sudoersFile, { force: true });
    for (const user of [withSudo, without]) spawnSync('userdel', ['-r', '-f', user], { stdio: 'ignore' });
    rmSync(homes, { recursive: true, force: true });
  });

  test('sudo: true runs as root through sudo -n; without it as the user', async () => {
    const ex = createSshExecutor(opts(withSudo));
    assert.notEqual((await ex.exec(['id', '-u'])).stdout, '0\n');
    assert.equal((await ex.exec(['id', '-u'], { sudo: true })).stdout, '0\n');
    assert.equal(
      (await ex.exec(['sh', '-c', 'echo "$X"'], { sudo: true, env: { X: 'kept' } })).stdout,
      'kept\n',
    );
    await assert.rejects(ex.exec(['sh', '-c', 'exit 5'], { sudo: true }), (e) =>
      isNinesError(e, 'NINES_E_COMMAND_FAILED'),
    );
  });

  test('sudo refused -> NINES_E_SUDO (also with check: false)', async () => {
    const ex = createSshExecutor(opts(without));
    assert.equal((await ex.exec(['whoami'])).stdout, `${without}\n`);
    await assert.rejects(ex.exec(['id'], { sudo: true }), (e) => isNinesError(e, 'NINES_E_SUDO'));
    await assert.rejects(ex.exec(['id'], { sudo: true, check: false }), (e) =>
      isNinesError(e, 'NINES_E_SUDO'),
    );
  });

  test('a timed-out sudo command (root-owned) is killed through sudo', async () => {
    const ex = createSshExecutor(opts(withSudo));
    await assert.rejects(ex.exec(['sleep', '12349'], { sudo: true, timeoutMs: 500 }), (e) =>
      isNinesError(e, 'NINES_E_COMMAND_TIMEOUT'),
    );
    assert.equal(spawnSync('pgrep', ['-f', '^sleep 12349$']).status, 1, 'no sleep 12349 left');
  });

  test('putFile/getFile with sudo into a root-only directory', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nines-rootonly-'));
    chmodSync(dir, 0o700);
    try {
      const ex = createSshExecutor(opts(withSudo));
      await ex.putFile(`${dir}/secret.cnf`, 'pw=x\n', { mode: 0o600, owner: 'root:root', sudo: true });
      assert.equal((await ex.getFile(`${dir}/secret.cnf`, { sudo: true })).toString(), 'pw=x\n');
      await assert.rejects(ex.getFile(`${dir}/secret.cnf`), (e) => isNinesError(e, 'NINES_E_FILE_TRANSFER'));
      await assert.rejects(ex.putFile(`${dir}/x`, 'x'), (e) => isNinesError(e, 'NINES_E_FILE_TRANSFER'));
      const other = createSshExecutor(opts(without));
      await assert.rejects(other.putFile(`${dir}/x`, 'x', { sudo: true }), (e) =>
        isNinesError(e, 'NINES_E_SUDO'),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
