// What the monitor's latest snapshot says about the primary from each replica's and proxy's point of view, and
// whether anything looks wrong enough to ask them directly (the replicas' hosts check the primary's port). Pure:
// the controller adds the fresh port checks and calls analysePrimary (detection.ts).
import type { ClusterSnapshot, NodeObservation, NodeSnapshot } from '../monitor/observation.ts';
import { nodeKey } from '../monitor/observation.ts';
import type { ProxyVantage, ReplicaVantage, Verdict } from './detection.ts';

/** A proxy's view of one server of its write backend (HAProxy `show stat`: status UP, DOWN, MAINT, 'UP 1/2' …). */
export interface ProxyServerView {
  readonly backend: string;
  readonly server: string;
  readonly status: string;
}

export interface ProxyReading {
  readonly proxy: string;
  /** When the proxy was read (epoch ms). */
  readonly time: number;
  /** Absent when the proxy could not be read. */
  readonly servers?: readonly ProxyServerView[];
}

/** The replica's replication link to `primary` (host:port) in its observation. */
export function replicaLink(obs: NodeObservation | undefined, primary: string): Verdict {
  const r = obs?.reachable === true ? obs.replication : undefined;
  if (r === undefined) return 'unknown';
  if (r.source !== null && r.source !== primary) return 'unknown';
  if (r.kind === 'mariadb') return r.ioRunning ? 'up' : 'down';
  return r.receiverStatus === 'streaming' ? 'up' : 'down';
}

/** HAProxy's status of a server as a verdict: a transitional 'UP 1/2' means its last check failed. */
export function proxyStatusVerdict(status: string | undefined): Verdict {
  if (status === undefined) return 'unknown';
  const s = status.trim().toUpperCase();
  if (s === 'UP') return 'up';
  if (s.startsWith('DOWN') || /^UP \d+\/\d+$/.test(s) || s === 'NOLB') return 'down';
  return 'unknown'; // MAINT, DRAIN, no check
}

/**
 * Each proxy's verdict on `primaryServer` (its HAProxy server name) in the write backend. A reading older than
 * `maxAgeMs` says nothing. HAProxy checks are TCP connects (src/proxies/haproxy/config.ts), hence checkLevel tcp.
 */
export function proxyVantages(
  readings: readonly ProxyReading[],
  primaryServer: string,
  writeBackend: string,
  now: number,
  maxAgeMs: number,
): ProxyVantage[] {
  return readings.map((r) => {
    const server =
      now - r.time <= maxAgeMs
        ? r.servers?.find((s) => s.backend === writeBackend && s.server === primaryServer)
        : undefined;
    return { proxy: r.proxy, writer: proxyStatusVerdict(server?.status), checkLevel: 'tcp' as const };
  });
}

/** Replica vantages from the snapshot (port checks 'unknown' until the controller asks the hosts). */
export function replicaVantages(snapshot: ClusterSnapshot, primary: string): ReplicaVantage[] {
  return snapshot.nodes
    .filter((n) => nodeKey(n) !== primary)
    .map((n: NodeSnapshot) => ({
      node: nodeKey(n),
      reachable: n.observation?.reachable === true,
      link: replicaLink(n.observation, primary),
      portCheck: 'unknown' as const,
    }));
}

/**
 * Whether the controller should ask the replicas' hosts about the primary's port now: a probe of the primary
 * failed, a replica's link to it is down, or a proxy's check of it failed. Asking early (at the first failed
 * probe) is what makes holism free: the answers are in when the last probe that declares it down comes back.
 */
export function suspicious(
  primary: NodeSnapshot | undefined,
  replicas: readonly ReplicaVantage[],
  proxies: readonly ProxyVantage[],
): boolean {
  if (primary === undefined) return false;
  if (primary.consecutiveFailures > 0) return true;
  return replicas.some((r) => r.link === 'down') || proxies.some((p) => p.writer === 'down');
}
