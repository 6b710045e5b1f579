// Builders of observations and snapshots for the monitoring tests: a test states only what matters to it.
import {
  DEFAULT_THRESHOLDS,
  freezeSnapshot,
  type ClusterSnapshot,
  type GaleraObservation,
  type MaintenanceWindow,
  type NodeObservation,
  type NodeSnapshot,
} from '../../../src/core/monitor/observation.ts';
import type { ClusterType } from '../../../src/core/spec.ts';

export const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);

export function primary(extra: Partial<NodeObservation> = {}): NodeObservation {
  return { time: T0, reachable: true, role: 'primary', readOnly: false, ...extra };
}

export function mariaReplica(
  extra: Partial<NodeObservation> = {},
  repl: Partial<Extract<NodeObservation['replication'], { kind: 'mariadb' }>> = {},
): NodeObservation {
  return {
    time: T0,
    reachable: true,
    role: 'replica',
    readOnly: true,
    replication: {
      kind: 'mariadb',
      source: 'h1:3306',
      ioRunning: true,
      sqlRunning: true,
      lagSeconds: 0,
      lastError: null,
      ...repl,
    },
    ...extra,
  };
}

export function pgStandby(
  extra: Partial<NodeObservation> = {},
  repl: Partial<Extract<NodeObservation['replication'], { kind: 'postgres' }>> = {},
): NodeObservation {
  return {
    time: T0,
    reachable: true,
    role: 'replica',
    readOnly: true,
    replication: {
      kind: 'postgres',
      source: 'h1:5432',
      receiverStatus: 'streaming',
      receivedLsn: '0/3000148',
      replayedLsn: '0/3000148',
      lagBytes: 0,
      lagSeconds: 0,
      ...repl,
    },
    ...extra,
  };
}

export function galera(
  g: Partial<GaleraObservation> = {},
  extra: Partial<NodeObservation> = {},
): NodeObservation {
  return {
    time: T0,
    reachable: true,
    role: 'member',
    readOnly: false,
    galera: {
      clusterStatus: 'Primary',
      clusterSize: 3,
      localState: 'Synced',
      ready: true,
      flowControlPaused: 0,
      recvQueue: 0,
      lastCommitted: 100,
      ...g,
    },
    ...extra,
  };
}

export function unreachable(message = 'connect ECONNREFUSED'): NodeObservation {
  return {
    time: T0,
    reachable: false,
    role: 'unknown',
    error: { code: 'NINES_E_HOST_UNREACHABLE', message },
  };
}

/** A node: `obs` undefined = never probed; failures > 0 = the latest probe failed (lastGood = `last`). */
export function node(
  host: string,
  obs: NodeObservation | undefined,
  opts: { failures?: number; last?: NodeObservation; maintenance?: MaintenanceWindow; port?: number } = {},
): NodeSnapshot {
  const failures = opts.failures ?? (obs && !obs.reachable ? 1 : 0);
  const lastGood = obs?.reachable ? obs : opts.last;
  return {
    host,
    port: opts.port ?? 3306,
    ...(obs ? { observation: obs } : {}),
    ...(lastGood ? { lastGood } : {}),
    consecutiveFailures: failures,
    ...(opts.maintenance ? { maintenance: opts.maintenance } : {}),
  };
}

export function snapshot(
  type: ClusterType,
  nodes: readonly NodeSnapshot[],
  extra: Partial<ClusterSnapshot> = {},
): ClusterSnapshot {
  return freezeSnapshot({
    cluster: 'prod',
    type,
    expectedNodes: nodes.length,
    time: T0,
    nodes,
    thresholds: DEFAULT_THRESHOLDS,
    ...extra,
  });
}

/** A healthy MariaDB replication cluster h1 (primary), h2, h3, with overrides per host. */
export function mariaCluster(over: Record<string, NodeSnapshot> = {}, extra: Partial<ClusterSnapshot> = {}) {
  return snapshot(
    'mariadb-replication',
    [
      over.h1 ?? node('h1', primary()),
      over.h2 ?? node('h2', mariaReplica()),
      over.h3 ?? node('h3', mariaReplica()),
    ],
    extra,
  );
}

export function galeraCluster(over: Record<string, NodeSnapshot> = {}, extra: Partial<ClusterSnapshot> = {}) {
  return snapshot(
    'galera',
    [over.g1 ?? node('g1', galera()), over.g2 ?? node('g2', galera()), over.g3 ?? node('g3', galera())],
    extra,
  );
}
