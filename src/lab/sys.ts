// The lab's access to this machine: root check, the programs it needs (found once, run by absolute path) and
// one way to run them (argv arrays through execFile, never a shell).
import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { NinesError } from '../core/errors.ts';
import type { ExecResult } from '../hosts/executor.ts';

/** Program -> Debian package that provides it. */
export const LAB_TOOLS = {
  ip: 'iproute2',
  iptables: 'iptables',
  sshd: 'openssh-server',
  'ssh-keygen': 'openssh-client',
  unshare: 'util-linux',
  nsenter: 'util-linux',
} as const;

export type LabTool = keyof typeof LAB_TOOLS;
export type LabTools = Readonly<Record<LabTool, string>>;

const EXTRA_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

export function requireRoot(): void {
  const uid = process.geteuid?.();
  if (uid !== 0) {
    throw new NinesError('NINES_E_LAB_NOT_ROOT', `running as uid ${String(uid)}`, { context: { uid } });
  }
}

function findProgram(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(':').filter(Boolean), ...EXTRA_DIRS];
  for (const dir of dirs) {
    try {
      accessSync(`${dir}/${name}`, constants.X_OK);
      return `${dir}/${name}`;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

let cachedTools: LabTools | undefined;

/** Absolute paths of the lab's programs; throws NINES_E_LAB_TOOL_MISSING naming the packages to install. */
export function labTools(): LabTools {
  if (cachedTools) return cachedTools;
  const found: Partial<Record<LabTool, string>> = {};
  const missing: LabTool[] = [];
  for (const name of Object.keys(LAB_TOOLS) as LabTool[]) {
    const path = findProgram(name);
    if (path) found[name] = path;
    else missing.push(name);
  }
  if (missing.length > 0) {
    const packages = [...new Set(missing.map((m) => LAB_TOOLS[m]))];
    throw new NinesError(
      'NINES_E_LAB_TOOL_MISSING',
      missing.map((m) => `${m} (Debian package ${LAB_TOOLS[m]})`).join(', '),
      {
        context: { missing, packages },
        hint: `Install with: apt-get install -y ${packages.join(' ')} (or: sudo sh scripts/bootstrap.sh)`,
      },
    );
  }
  cachedTools = found as LabTools;
  return cachedTools;
}

export interface RunOptions {
  readonly timeoutMs?: number;
  /** Throw NINES_E_COMMAND_FAILED on a non-zero exit (default true). */
  readonly check?: boolean;
  readonly stdin?: string;
}

/** Runs argv on this machine and returns its output. */
export function run(argv: readonly string[], options: RunOptions = {}): Promise<ExecResult> {
  const [file, ...args] = argv;
  if (file === undefined) throw new NinesError('NINES_E_INVALID_ARGUMENT', 'empty command');
  const timeoutMs = options.timeoutMs ?? 15_000;
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = execFile(
      file,
      args,
      { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' },
      (err, stdout, stderr) => {
        const durationMs = Date.now() - started;
        const exitCode = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        const context = { argv, exitCode, stderr: stderr.slice(-2000) };
        if (err?.killed) {
          reject(new NinesError('NINES_E_COMMAND_TIMEOUT', argv.join(' '), { context, cause: err }));
        } else if (err && typeof err.code !== 'number') {
          reject(new NinesError('NINES_E_COMMAND_FAILED', argv.join(' '), { context, cause: err }));
        } else if (exitCode !== 0 && options.check !== false) {
          const detail = `${argv.join(' ')} (exit ${exitCode}): ${stderr.trim().slice(-500)}`;
          reject(new NinesError('NINES_E_COMMAND_FAILED', detail, { context, cause: err }));
        } else {
          resolve({ exitCode, stdout, stderr, durationMs });
        }
      },
    );
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(options.stdin ?? '');
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `probe` every `intervalMs` until it returns true or `timeoutMs` passes; returns the last answer. */
export async function pollUntil(
  probe: () => boolean | Promise<boolean>,
  timeoutMs: number,
  intervalMs = 20,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await probe()) return true;
    if (Date.now() >= deadline) return false;
    await sleep(intervalMs);
  }
}
