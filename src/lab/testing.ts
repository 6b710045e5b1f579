// One lab per test file: `createTestLab(3)` in `before`, `dispose()` in `after`. Used by the lab's own tests and
// by engine/controller integration tests.
//   NINES_LAB_KEEP=1   keep the lab after the tests (for debugging; remove it with "nines lab down --name NAME")
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { LabInventory } from './inventory.ts';
import { labDown, labUp } from './lab.ts';

export interface TestLab {
  readonly inventory: LabInventory;
  /**
   * Takes the lab down. With keepLogsIn, first copies every host's /var/log and init log to
   * <keepLogsIn>/<lab>/<host>/ (for failing scenarios).
   */
  dispose(options?: { keepLogsIn?: string }): Promise<void>;
}

/** A random lab name of 6 characters, so its interface names stay readable (names.ts labTag). */
export function randomLabName(): string {
  return `t${randomBytes(3).toString('hex').slice(0, 5)}`;
}

export async function createTestLab(
  hosts: number,
  options: { name?: string; baseDir?: string } = {},
): Promise<TestLab> {
  const name = options.name ?? randomLabName();
  const inventory = await labUp({ name, hosts, baseDir: options.baseDir });
  return {
    inventory,
    async dispose(opts = {}) {
      if (opts.keepLogsIn) keepLogs(inventory, opts.keepLogsIn);
      if (process.env.NINES_LAB_KEEP === '1') {
        console.error(`NINES_LAB_KEEP=1: lab '${name}' kept in ${inventory.dir}`);
        return;
      }
      await labDown(name, { baseDir: options.baseDir });
    },
  };
}

function keepLogs(inv: LabInventory, target: string): void {
  for (const h of inv.hosts) {
    const dest = join(target, inv.name, h.name);
    mkdirSync(dest, { recursive: true });
    if (existsSync(h.logDir)) cpSync(h.logDir, join(dest, 'var-log'), { recursive: true });
    if (existsSync(h.initLog)) cpSync(h.initLog, join(dest, 'init.log'));
  }
}

/** Runs fn with a fresh lab of `hosts` hosts and always takes it down afterwards. */
export async function withLab<T>(hosts: number, fn: (inv: LabInventory) => Promise<T>): Promise<T> {
  const lab = await createTestLab(hosts);
  try {
    return await fn(lab.inventory);
  } finally {
    await lab.dispose();
  }
}
