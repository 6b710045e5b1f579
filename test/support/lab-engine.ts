// Test support for engine and proxy integration tests: an EngineContext whose hosts are the hosts of a lab,
// reached over real SSH with the lab's key and pinned host keys.
import type { LabInventory } from '../../src/lab/index.ts';
import { createSshExecutor } from '../../src/hosts/ssh-executor.ts';
import type { Executor } from '../../src/hosts/executor.ts';
import type { EngineContext, HostAccess } from '../../src/engines/engine.ts';
import type { ClusterSpec } from '../../src/core/spec.ts';

export const TIMEOUT_SCALE = Number(process.env.NINES_TIMEOUT_SCALE ?? 1);

/** Executors for the lab's hosts, by address or by lab host name (h1, h2, ...). */
export function labHostAccess(inv: LabInventory): HostAccess & { close(): Promise<void> } {
  const cache = new Map<string, Executor>();
  return {
    executor(host: string): Executor {
      const address = inv.hosts.find((h) => h.name === host)?.address ?? host;
      let ex = cache.get(address);
      if (!ex) {
        ex = createSshExecutor({
          host: address,
          user: inv.sshUser,
          privateKeyPath: inv.privateKeyPath,
          knownHostsPath: inv.knownHostsPath,
          connectTimeoutMs: 5000 * TIMEOUT_SCALE,
        });
        cache.set(address, ex);
      }
      return ex;
    },
    async close() {
      await Promise.all([...cache.values()].map((e) => e.close()));
    },
  };
}

/** An EngineContext for tests: steps run directly, log lines go to `lines` (and stderr with NINES_TEST_VERBOSE=1). */
export function labEngineContext(
  inv: LabInventory,
  spec: ClusterSpec,
  hosts: HostAccess = labHostAccess(inv),
): EngineContext & { readonly lines: string[]; readonly steps: string[] } {
  const lines: string[] = [];
  const steps: string[] = [];
  const verbose = process.env.NINES_TEST_VERBOSE === '1';
  return {
    spec,
    hosts,
    lines,
    steps,
    log(line) {
      lines.push(line);
      if (verbose) console.error(`[${spec.name}] ${line}`);
    },
    async step(name, fn) {
      steps.push(name);
      if (verbose) console.error(`[${spec.name}] step: ${name}`);
      return fn();
    },
    signal: new AbortController().signal,
    controllerAddress: inv.controllerAddress,
  };
}
