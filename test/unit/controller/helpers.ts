// Test helpers: a controller on a temp data directory (real SQLite file, no HTTP server).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../../src/controller/config.ts';
import { Controller, type ControllerOptions } from '../../../src/controller/controller.ts';
import type { ProbeHost } from '../../../src/controller/probe.ts';
import type { JobRecord, JobState } from '../../../src/controller/store/job-repo.ts';
import { fakeDeployDeps } from '../../support/fake-deploy.ts';
import { TEST_JOB_TYPES } from '../../support/test-jobs.ts';
import { usableEd25519Key } from '../../support/test-key.ts';

export const okProbe: ProbeHost = (target) => Promise.resolve({ detail: `fake probe ${target.host}` });

export interface TempController {
  readonly controller: Controller;
  readonly dir: string;
  /** Name of the SSH key registered in the controller (a generated ed25519 key). */
  readonly key: string;
  close(): Promise<void>;
}

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'nines-test-'));
}

export function openTemp(
  options: { dir?: string; env?: Record<string, string>; start?: boolean } & Partial<ControllerOptions> = {},
): TempController {
  const dir = options.dir ?? tempDir();
  const config = loadConfig({
    env: {
      NINES_MONITOR_ENABLED: '0', // monitoring has its own tests (test/unit/monitor)
      NINES_LOG_LEVEL: 'silent',
      ...options.env,
    },
    overrides: { dataDir: join(dir, 'data') },
  });
  const probeHost = options.probeHost ?? okProbe;
  const controller = Controller.open({
    config,
    probeHost,
    deploy: options.deploy ?? fakeDeployDeps(probeHost),
    jobTypes: [...TEST_JOB_TYPES, ...(options.jobTypes ?? [])],
    ...(options.monitorDrivers ? { monitorDrivers: options.monitorDrivers } : {}),
    ...(options.drill ? { drill: options.drill } : {}),
  });
  const key = 'test-key';
  controller.keys.add(key, testPrivateKey());
  if (options.start !== false) controller.start();
  return {
    controller,
    dir,
    key,
    close: async () => {
      await controller.close(0);
      if (!options.dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function waitFor<T>(
  what: string,
  fn: () => T | undefined | false,
  timeoutMs = 5000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs * Number(process.env.NINES_TIMEOUT_SCALE ?? 1);
  for (;;) {
    const value = fn();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export function waitForState(
  c: Controller,
  id: number,
  state: JobState,
  timeoutMs?: number,
): Promise<JobRecord> {
  return waitFor(
    `job ${id} ${state}`,
    () => {
      const job = c.store.jobs.get(id);
      return job?.state === state ? job : undefined;
    },
    timeoutMs,
  );
}

/** An unencrypted ed25519 private key in OpenSSH format (generated once per process). */
let privateKey: string | undefined;
export function testPrivateKey(): string {
  privateKey ??= usableEd25519Key();
  return privateKey;
}

export function specFor(
  name: string,
  key: string,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    name,
    type: 'mariadb-replication',
    nodes: [
      { host: '127.0.0.1', port: 3306, role: 'primary' },
      { host: '127.0.0.1', port: 3307 },
    ],
    ssh: { key },
    ...extra,
  };
}
