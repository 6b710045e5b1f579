// The real drivers of the monitor: probes and query insight from the cluster's engine (engines/registry.ts), host
// statistics over SSH, HAProxy backend states through the admin socket. An engine without a probe gets a TCP
// reachability probe (reachable, role unknown) so the cluster is at least watched for being up.
import { connect } from 'node:net';
import { NinesError } from '../../core/errors.ts';
import type { NodeObservation } from '../../core/monitor/observation.ts';
import type { ClusterSpec, NodeSpec } from '../../core/spec.ts';
import type { NodeProbe } from '../../engines/engine.ts';
import { engineFor } from '../../engines/registry.ts';
import type { Executor } from '../../hosts/executor.ts';
import { newHostStatsState, readHostStats, type HostStatsState } from '../../hosts/host-stats.ts';
import { readBackendStates } from '../../proxies/haproxy/runtime.ts';
import type { MonitorDrivers } from './monitor-service.ts';

/** A TCP connect to the database port: reachable or not, nothing more. */
export function tcpNodeProbe(node: NodeSpec, timeoutMs: number): NodeProbe {
  return {
    observe: (signal) =>
      new Promise<NodeObservation>((resolve) => {
        const socket = connect({ host: node.host, port: node.port });
        const done = (obs: Omit<NodeObservation, 'time'>): void => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          socket.destroy();
          resolve({ time: Date.now(), ...obs });
        };
        const fail = (message: string): void =>
          done({ reachable: false, role: 'unknown', error: { code: 'NINES_E_DB_UNREACHABLE', message } });
        const onAbort = (): void => fail('aborted');
        const timer = setTimeout(() => fail(`no TCP answer within ${timeoutMs} ms`), timeoutMs);
        signal?.addEventListener('abort', onAbort, { once: true });
        socket.once('connect', () => done({ reachable: true, role: 'unknown' }));
        socket.once('error', (err: NodeJS.ErrnoException) => fail(err.code ?? err.message));
      }),
    close: () => Promise.resolve(),
  };
}

/**
 * Filesystem whose use is reported as diskPct. Every engine keeps its data under /var/lib (MariaDB /var/lib/mysql,
 * PostgreSQL /var/lib/postgresql/V/main); an Engine method naming the data directory would make this exact.
 */
const DATA_FILESYSTEM = '/var/lib';

/** CPU and network figures are deltas: one state per host connection. */
const hostStates = new WeakMap<Executor, HostStatsState>();

export const engineDrivers: MonitorDrivers = {
  openProbe(spec: ClusterSpec, node: NodeSpec, timeoutMs: number): NodeProbe {
    const engine = engineFor(spec.type);
    return engine.openProbe
      ? engine.openProbe(spec, node, { timeoutMs, credentials: spec.credentials })
      : tcpNodeProbe(node, timeoutMs);
  },
  openInsight(spec, node) {
    const engine = engineFor(spec.type);
    if (!engine.openQueryInsight) {
      throw new NinesError('NINES_E_MONITOR_UNSUPPORTED', `query insight of ${spec.type} clusters`);
    }
    return engine.openQueryInsight(spec, node);
  },
  readProxy: (executor, signal) => readBackendStates(executor, signal),
  readHostStats: (executor, _node, signal) => {
    let state = hostStates.get(executor);
    if (!state) {
      state = newHostStatsState();
      hostStates.set(executor, state);
    }
    return readHostStats(executor, { dataDir: DATA_FILESYSTEM, state, timeoutMs: 8000, signal });
  },
};
