// A private OpenSSH server on 127.0.0.1 and a random free port, for the ssh integration tests and the latency
// bench. Everything lives in a temp dir (host key, client key, authorized_keys, known_hosts, pid file, log);
// the server is stopped by its own PID only.
import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import {
  mkdtempSync,
  mkdirSync,
  openSync,
  closeSync,
  readFileSync,
  rmSync,
  writeFileSync,
  existsSync,
  chmodSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestSshd {
  readonly dir: string;
  readonly host: string;
  readonly port: number;
  /** Private key accepted for root (and any user: AuthorizedKeysFile points at one file). */
  readonly clientKeyPath: string;
  /** A key that is NOT authorized. */
  readonly wrongKeyPath: string;
  /** Empty known_hosts file for the executor (TOFU fills it). */
  readonly knownHostsPath: string;
  readonly logPath: string;
  /** PID of the listening sshd. */
  pid(): number;
  /** PIDs of the per-connection sshd processes (children of the listener). */
  connectionPids(): number[];
  /** Kills the per-connection sshd processes: every client connection drops. */
  dropConnections(): void;
  /** Stops the listener (and drops connections), optionally makes a new host key, starts again on the same port. */
  restart(options?: { readonly newHostKey?: boolean }): Promise<void>;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

function keygen(path: string): void {
  rmSync(path, { force: true });
  rmSync(`${path}.pub`, { force: true });
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'nines-test', '-f', path]);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitFor(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function childrenOf(pid: number): number[] {
  try {
    return execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

export async function startTestSshd(options: { readonly extraConfig?: string } = {}): Promise<TestSshd> {
  const dir = mkdtempSync(join(tmpdir(), 'nines-sshd-'));
  const port = await freePort();
  const hostKey = join(dir, 'host_ed25519');
  const clientKeyPath = join(dir, 'client_ed25519');
  const wrongKeyPath = join(dir, 'wrong_ed25519');
  const knownHostsPath = join(dir, 'known_hosts');
  const logPath = join(dir, 'sshd.log');
  const pidFile = join(dir, 'sshd.pid');
  keygen(hostKey);
  keygen(clientKeyPath);
  keygen(wrongKeyPath);
  // sshd reads authorized_keys as the logging-in user: non-root test users must be able to reach it.
  chmodSync(dir, 0o755);
  writeFileSync(join(dir, 'authorized_keys'), readFileSync(`${clientKeyPath}.pub`), { mode: 0o644 });
  const config = join(dir, 'sshd_config');
  writeFileSync(
    config,
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${hostKey}`,
      `PidFile ${pidFile}`,
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      'PermitRootLogin prohibit-password',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'StrictModes no',
      'UseDNS no',
      'LogLevel VERBOSE',
      // root's ~/.bashrc on the dev machines runs `pyenv init` (~150 ms); bash sources it for ssh commands only at
      // shell level 1, so this keeps the measurements about nines and sshd, not about one rc file.
      'SetEnv SHLVL=1',
      options.extraConfig ?? '',
    ].join('\n') + '\n',
  );
  // sshd refuses to start without its privilege-separation directory.
  if (!existsSync('/run/sshd')) mkdirSync('/run/sshd', { mode: 0o755 });

  let child: ChildProcess | undefined;
  const start = async (): Promise<void> => {
    const log = openSync(logPath, 'a');
    child = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', config], { stdio: ['ignore', log, log] });
    closeSync(log);
    const me = child;
    await waitFor(
      () =>
        existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() === String(me.pid) && alive(me.pid ?? -1),
      5000,
      `sshd on port ${port} (log ${logPath})`,
    );
  };
  const stopListener = async (): Promise<void> => {
    const me = child;
    if (!me?.pid) return;
    const exited = new Promise((r) => me.once('exit', r));
    if (me.exitCode === null && me.signalCode === null) {
      me.kill('SIGTERM');
      await exited;
    }
    rmSync(pidFile, { force: true });
  };
  await start();

  const server: TestSshd = {
    dir,
    host: '127.0.0.1',
    port,
    clientKeyPath,
    wrongKeyPath,
    knownHostsPath,
    logPath,
    pid: () => child?.pid ?? -1,
    connectionPids: () => (child?.pid ? childrenOf(child.pid) : []),
    dropConnections: () => {
      for (const pid of server.connectionPids()) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone already
        }
      }
    },
    restart: async (opts = {}) => {
      server.dropConnections();
      await stopListener();
      if (opts.newHostKey) keygen(hostKey);
      await start();
    },
    stop: async () => {
      server.dropConnections();
      await stopListener();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return server;
}
