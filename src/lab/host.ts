// One lab host on this machine: its directories, its start (host-init as PID 1 of fresh mount/uts/ipc/pid
// namespaces inside its network namespace), its processes (selected by namespace, never by name), its stop,
// and running a command inside it without ssh.
import { spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  cpSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { chown } from 'node:fs/promises';
import { connect } from 'node:net';
import { join, relative } from 'node:path';
import { NinesError } from '../core/errors.ts';
import type { ExecResult } from '../hosts/executor.ts';
import { ensureHostCgroup, hostCgroupPath, thawHost } from './cgroup.ts';
import {
  HOST_MOUNTS,
  HOST_TMP,
  SEEDED_ETC,
  renderHostInit,
  type HostInitParams,
  type Ids,
} from './host-init.ts';
import { findHost, type CgroupInfo, type LabHost, type LabInventory } from './inventory.ts';
import { labTools, pollUntil, run, sleep, type LabTools } from './sys.ts';

const HOST_ENV = {
  PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  HOME: '/root',
  LANG: 'C.UTF-8',
};

/** uid/gid of a system user from /etc/passwd, or undefined when the package that creates it is not installed. */
export function systemUser(name: string): Ids | undefined {
  for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
    const f = line.split(':');
    if (f[0] === name && f[2] && f[3]) return { uid: Number(f[2]), gid: Number(f[3]) };
  }
  return undefined;
}

export function initScriptPath(h: LabHost): string {
  return join(h.dataDir, 'init.sh');
}

/** Creates the host's private directories (seeding /etc/mysql and /etc/ssh from this machine) and init script. */
export async function prepareHostDirs(
  tools: LabTools,
  inv: LabInventory,
  h: LabHost,
  files: { sshdConfig: string; etcHosts: string; authorizedKeys: string },
): Promise<void> {
  const mysql = systemUser('mysql');
  const postgres = systemUser('postgres');
  for (const [dir, target] of [...HOST_MOUNTS, HOST_TMP]) {
    if (dir === 'etc-hosts') continue;
    mkdirSync(target, { recursive: true }); // mount point on this machine (exists when the package is installed)
    mkdirSync(join(h.dataDir, dir), { recursive: true, mode: 0o755 });
  }
  for (const name of SEEDED_ETC) {
    if (!existsSync(`/etc/${name}`)) continue;
    cpSync(`/etc/${name}`, join(h.dataDir, `etc-${name}`), {
      recursive: true,
      force: true,
      verbatimSymlinks: true,
    });
  }
  cpSync('/etc/ssh', join(h.dataDir, 'etc-ssh'), {
    recursive: true,
    verbatimSymlinks: true,
    filter: (src) => !/\/ssh_host_[^/]*$/.test(src),
  });
  writeFileSync(join(h.dataDir, 'etc-ssh', 'sshd_config'), files.sshdConfig);
  writeFileSync(join(h.dataDir, 'etc-hosts'), files.etcHosts);
  const sshDir = join(h.dataDir, 'root', '.ssh');
  mkdirSync(sshDir, { recursive: true, mode: 0o700 });
  writeFileSync(join(sshDir, 'authorized_keys'), files.authorizedKeys, { mode: 0o600 });
  await run(['chmod', '0700', join(h.dataDir, 'root'), sshDir]);
  await run(['chmod', '1777', join(h.dataDir, 'tmp')]);
  mkdirSync(join(h.logDir, 'mysql'), { recursive: true });
  mkdirSync(join(h.logDir, 'postgresql'), { recursive: true });
  if (mysql) {
    await chown(join(h.dataDir, 'var-lib-mysql'), mysql.uid, mysql.gid);
    await chown(join(h.logDir, 'mysql'), mysql.uid, mysql.gid);
  }
  if (postgres) {
    await chown(join(h.dataDir, 'var-lib-postgresql'), postgres.uid, postgres.gid);
    await chown(join(h.logDir, 'postgresql'), postgres.uid, postgres.gid);
  }
  writeFileSync(initScriptPath(h), renderHostInit(initParams(tools, inv, h, { mysql, postgres })), {
    mode: 0o755,
  });
}

function initParams(
  tools: LabTools,
  inv: LabInventory,
  h: LabHost,
  { mysql, postgres }: { mysql: Ids | undefined; postgres: Ids | undefined },
): HostInitParams {
  return {
    hostname: h.name,
    dataDir: h.dataDir,
    sshdPath: tools.sshd,
    cgroup: { kind: inv.cgroup.kind, relPath: relative(inv.cgroup.root, hostCgroupPath(inv.cgroup, h.name)) },
    ...(mysql ? { mysql } : {}),
    ...(postgres ? { postgres } : {}),
  };
}

// --- processes of a host ---

function nsInode(path: string): string | undefined {
  try {
    const s = statSync(path);
    return `${s.dev}:${s.ino}`;
  } catch {
    return undefined;
  }
}

/** PIDs (seen from this machine) of every process in the host's network namespace: its init, sshd, databases... */
export function hostPids(inv: LabInventory, host: string): number[] {
  const h = findHost(inv, host);
  return netnsPids(h.netns);
}

export function netnsPids(netns: string): number[] {
  const target = nsInode(`/run/netns/${netns}`);
  if (!target) return [];
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    if (nsInode(`/proc/${entry}/ns/net`) === target) pids.push(Number(entry));
  }
  return pids;
}

/** The host's PID 1 (its host-init) as seen from this machine, or undefined when the host is down. */
export function hostInitPid(inv: LabInventory, host: string): number | undefined {
  return netnsInitPid(findHost(inv, host).netns);
}

/** The process of the namespace that is PID 1 of its own pid namespace (a lab host's init). */
export function netnsInitPid(netns: string): number | undefined {
  for (const pid of netnsPids(netns)) {
    try {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      if (/^NSpid:\s+\d+\s+1$/m.test(status)) return pid;
    } catch {
      // exited meanwhile
    }
  }
  return undefined;
}

function killAll(pids: readonly number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** SIGKILLs every process of the host (host-init first: the pid namespace takes the rest) and waits until gone. */
export async function killHostProcesses(
  cgroup: CgroupInfo | undefined,
  host: string,
  netns: string,
): Promise<void> {
  if (cgroup) await thawHost(cgroup, host); // v1 frozen tasks would not die before a thaw
  const init = netnsInitPid(netns);
  if (init !== undefined) killAll([init]);
  const gone = await pollUntil(
    () => {
      const left = netnsPids(netns);
      killAll(left);
      return left.length === 0;
    },
    5_000,
    15,
  );
  if (!gone) {
    throw new NinesError('NINES_E_LAB_START', `processes of host ${host} survived SIGKILL`, {
      context: { pids: netnsPids(netns) },
    });
  }
}

// --- start ---

/** Connects to address:port; 'open', 'refused' or 'timeout' (or 'error' for anything else). */
export function tcpProbe(address: string, port: number, timeoutMs: number): Promise<string> {
  return new Promise((resolve) => {
    const sock = connect({ host: address, port });
    const done = (result: string): void => {
      clearTimeout(timer);
      sock.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => done('timeout'), timeoutMs);
    sock.once('connect', () => done('open'));
    sock.once('error', (err: NodeJS.ErrnoException) =>
      done(err.code === 'ECONNREFUSED' ? 'refused' : 'error'),
    );
  });
}

/** Waits for the SSH banner: true when sshd answers within timeoutMs (a frozen host accepts TCP, never answers). */
export function sshAnswers(address: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ host: address, port });
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      sock.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    sock.once('data', (d: Buffer) => done(d.toString('latin1').startsWith('SSH-')));
    sock.once('error', () => done(false));
  });
}

function tail(file: string): string {
  try {
    return readFileSync(file, 'utf8').slice(-1500);
  } catch {
    return '';
  }
}

/** Starts the host (its init, then sshd) and waits until sshd accepts connections. */
export async function startHost(
  tools: LabTools,
  inv: LabInventory,
  h: LabHost,
  timeoutMs = 15_000,
): Promise<void> {
  ensureHostCgroup(inv.cgroup, h.name);
  const log = openSync(h.initLog, 'a');
  const child = spawn(
    tools.ip,
    [
      'netns',
      'exec',
      h.netns,
      tools.unshare,
      '--mount',
      '--uts',
      '--ipc',
      '--pid',
      '--fork',
      '--mount-proc',
      '--kill-child',
      '/bin/sh',
      initScriptPath(h),
    ],
    { detached: true, stdio: ['ignore', log, log], env: HOST_ENV },
  );
  closeSync(log);
  let exited = false;
  child.once('exit', () => (exited = true));
  child.once('error', () => (exited = true));
  child.unref();
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && !exited) {
    if ((await tcpProbe(h.address, inv.sshPort, 250)) === 'open') return;
    await sleep(15);
  }
  throw new NinesError('NINES_E_LAB_START', `${h.name} (${h.address}) of lab '${inv.name}'`, {
    context: { initLog: h.initLog, exited, log: tail(h.initLog) },
    hint: `Read ${h.initLog} and ${join(h.logDir, 'sshd.log')}; then "nines lab down --name ${inv.name}" and retry.`,
  });
}

// --- commands inside a host without ssh ---

export interface HostExecOptions {
  readonly timeoutMs?: number;
  /** Throw NINES_E_COMMAND_FAILED on a non-zero exit (default true). */
  readonly check?: boolean;
  readonly stdin?: string;
}

/**
 * Runs argv inside a lab host (its mount, uts, ipc, net and pid namespaces) straight from this machine with
 * nsenter: no ssh involved. The host must be up (its init running), else NINES_E_LAB_START.
 */
export async function execInLabHost(
  inv: LabInventory,
  host: string,
  argv: readonly string[],
  options: HostExecOptions = {},
): Promise<ExecResult> {
  const pid = hostInitPid(inv, host);
  if (pid === undefined) {
    throw new NinesError('NINES_E_LAB_START', `host ${host} of lab '${inv.name}' is down`, {
      hint: `Start it with "nines lab fault ${host} restart --name ${inv.name}".`,
    });
  }
  const tools = labTools();
  const nsArgs = ['-t', String(pid), '-m', '-u', '-i', '-n', '-p', '--wd=/'];
  return run([tools.nsenter, ...nsArgs, '--', 'env', '-i', ...envArgs(), ...argv], options);
}

function envArgs(): string[] {
  return Object.entries(HOST_ENV).map(([k, v]) => `${k}=${v}`);
}
