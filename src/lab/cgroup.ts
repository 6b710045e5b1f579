// Freeze and thaw a lab host with the cgroup freezer. Each host has its own cgroup (the host-init joins it
// first, so every process started inside the host is in it); `freeze` also moves in any process that entered the
// host from outside (nsenter), then freezes the group. cgroup v2 (cgroup.freeze) when available, else v1 freezer.
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NinesError } from '../core/errors.ts';
import type { CgroupInfo } from './inventory.ts';
import { pollUntil } from './sys.ts';

const V2_ROOTS = ['/sys/fs/cgroup/unified', '/sys/fs/cgroup'];
const V1_FREEZER = '/sys/fs/cgroup/freezer';

/** Where this machine can freeze process groups; lab cgroups go under <root>/nines-lab/<lab>. */
export function detectCgroup(labName: string): CgroupInfo {
  for (const root of V2_ROOTS) {
    // A cgroup2 root has cgroup.subtree_control; child cgroups have cgroup.freeze (kernel 5.2+).
    if (existsSync(join(root, 'cgroup.subtree_control')) && !existsSync(join(root, 'freezer.state'))) {
      return { kind: 'v2', root, path: join(root, 'nines-lab', labName) };
    }
  }
  if (existsSync(join(V1_FREEZER, 'cgroup.procs'))) {
    return { kind: 'v1', root: V1_FREEZER, path: join(V1_FREEZER, 'nines-lab', labName) };
  }
  throw new NinesError('NINES_E_LAB_TOOL_MISSING', 'no cgroup freezer (cgroup2 or cgroup v1 freezer)', {
    hint: 'Mount cgroup2 (mount -t cgroup2 none /sys/fs/cgroup/unified) or the v1 freezer controller.',
  });
}

export function hostCgroupPath(cg: CgroupInfo, host: string): string {
  return join(cg.path, host);
}

export function ensureHostCgroup(cg: CgroupInfo, host: string): string {
  const dir = hostCgroupPath(cg, host);
  mkdirSync(dir, { recursive: true });
  return dir;
}

function movePids(dir: string, pids: readonly number[]): void {
  for (const pid of pids) {
    try {
      writeFileSync(join(dir, 'cgroup.procs'), String(pid));
    } catch {
      // the process exited meanwhile, or is a kernel thread: nothing to freeze
    }
  }
}

export function isFrozen(cg: CgroupInfo, host: string): boolean {
  const dir = hostCgroupPath(cg, host);
  try {
    if (cg.kind === 'v2') return /^frozen 1$/m.test(readFileSync(join(dir, 'cgroup.events'), 'utf8'));
    return readFileSync(join(dir, 'freezer.state'), 'utf8').trim() === 'FROZEN';
  } catch {
    return false;
  }
}

function setFrozen(cg: CgroupInfo, dir: string, frozen: boolean): void {
  if (cg.kind === 'v2') writeFileSync(join(dir, 'cgroup.freeze'), frozen ? '1' : '0');
  else writeFileSync(join(dir, 'freezer.state'), frozen ? 'FROZEN' : 'THAWED');
}

export async function freezeHost(cg: CgroupInfo, host: string, pids: readonly number[]): Promise<void> {
  const dir = ensureHostCgroup(cg, host);
  movePids(dir, pids);
  setFrozen(cg, dir, true);
  if (!(await pollUntil(() => isFrozen(cg, host), 5_000))) {
    throw new NinesError('NINES_E_LAB_START', `host ${host} did not freeze within 5 s`, { context: { dir } });
  }
}

export async function thawHost(cg: CgroupInfo, host: string): Promise<void> {
  const dir = hostCgroupPath(cg, host);
  if (!existsSync(dir)) return;
  setFrozen(cg, dir, false);
  await pollUntil(() => !isFrozen(cg, host), 5_000);
}

/** Removes the lab's cgroups (they must be empty: call after the hosts' processes are gone). Idempotent. */
export function removeLabCgroup(cg: CgroupInfo, hosts: readonly string[]): void {
  for (const dir of [...hosts.map((h) => hostCgroupPath(cg, h)), cg.path]) {
    try {
      if (existsSync(dir)) rmdirSync(dir);
    } catch {
      // still populated by a dying process; a later `down` removes it
    }
  }
}
