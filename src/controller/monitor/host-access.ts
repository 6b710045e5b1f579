// SSH executors for the monitor's slower pollers (host statistics, HAProxy backend states), one per host of a
// cluster, built from spec.ssh (known_hosts default: <data-dir>/known_hosts, like the deploy jobs) and closed when
// the cluster stops being monitored.
import { join } from 'node:path';
import type { ClusterSpec } from '../../core/spec.ts';
import type { Executor } from '../../hosts/executor.ts';
import { createSshExecutor } from '../../hosts/ssh-executor.ts';
import type { SshPool } from '../../hosts/ssh-pool.ts';
import { resolveKeyFile } from '../probe.ts';

export interface MonitorHostAccess {
  executor(host: string): Executor;
  close(): Promise<void>;
}

/** `pool`: the controller's own SSH pool (closed at shutdown), so no poller connection outlives the controller. */
export function monitorHostAccess(spec: ClusterSpec, dataDir: string, pool?: SshPool): MonitorHostAccess {
  const cache = new Map<string, Executor>();
  const knownHostsPath = spec.ssh.knownHostsFile
    ? resolveKeyFile(spec.ssh.knownHostsFile)
    : join(dataDir, 'known_hosts');
  return {
    executor(host) {
      let ex = cache.get(host);
      if (!ex) {
        ex = createSshExecutor({
          host,
          port: spec.ssh.port,
          user: spec.ssh.user,
          privateKeyPath: resolveKeyFile(spec.ssh.keyFile),
          knownHostsPath,
          connectTimeoutMs: 5000,
          ...(pool ? { pool } : {}),
        });
        cache.set(host, ex);
      }
      return ex;
    },
    async close() {
      await Promise.allSettled([...cache.values()].map((e) => e.close()));
    },
  };
}
