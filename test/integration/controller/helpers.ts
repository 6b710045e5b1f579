// Integration helpers: a real controller process on a random port: test/support/test-controller.ts, which is
// `nines controller start` with the test job types and the fake deploy wired in.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

export const ROOT = join(import.meta.dirname, '..', '..', '..');
export const MAIN = join(ROOT, 'src', 'cli', 'main.ts');
const TEST_CONTROLLER = join(ROOT, 'test', 'support', 'test-controller.ts');
export const SCALE = Number(process.env.NINES_TIMEOUT_SCALE ?? 1);

export interface ControllerProcess {
  readonly url: string;
  readonly token: string;
  readonly dataDir: string;
  readonly proc: ChildProcess;
  readonly logs: string[];
  readonly startupMs: number;
  /** SIGTERM and wait for exit. */
  stop(): Promise<number | null>;
  /** SIGKILL and wait for exit. */
  kill(): Promise<void>;
}

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'nines-it-'));
}

/** `args`: more test-controller options (--real-deploy, --no-test-jobs). */
export function startController(
  dataDir: string,
  env: Record<string, string> = {},
  args: readonly string[] = [],
): Promise<ControllerProcess> {
  const started = Date.now();
  const proc = spawn(
    process.execPath,
    [
      '--disable-warning=ExperimentalWarning',
      TEST_CONTROLLER,
      '--data-dir',
      dataDir,
      '--listen',
      '127.0.0.1:0',
      ...args,
    ],
    {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const logs: string[] = [];
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  proc.stderr?.on('data', (d: Buffer) => logs.push(d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`controller did not start within ${10 * SCALE} s:\n${logs.join('\n')}`));
    }, 10_000 * SCALE);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`controller exited with ${code}:\n${logs.join('\n')}`));
    });
    const rl = createInterface({ input: proc.stdout });
    rl.on('line', (line) => {
      logs.push(line);
      const m = /"url":"(http:\/\/[^"]+)"/.exec(line);
      if (!m?.[1] || !line.includes('listening')) return;
      clearTimeout(timer);
      resolve({
        url: m[1],
        token: readFileSync(join(dataDir, 'admin.token'), 'utf8').trim(),
        dataDir,
        proc,
        logs,
        startupMs: Date.now() - started,
        stop: async () => {
          proc.kill('SIGTERM');
          return exited;
        },
        kill: async () => {
          proc.kill('SIGKILL');
          await exited;
        },
      });
    });
  });
}

export async function api<T>(
  c: { url: string; token: string },
  method: string,
  path: string,
  body?: unknown,
): Promise<T> {
  const res = await fetch(`${c.url}/api/v1${path}`, {
    method,
    headers: {
      authorization: `Bearer ${c.token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const json = (await res.json()) as T;
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

export async function poll<T>(
  what: string,
  fn: () => Promise<T | undefined>,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs * SCALE;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
