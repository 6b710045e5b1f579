// Pure: which Galera members may take the endpoint's writes, from one snapshot. A member is usable when it
// answers, is in the Primary component and Synced. A member that left the Primary component is unusable at
// once; one that stops answering after `missesBeforeMove` failed probes in a row (one miss is a slow probe, not
// a dead node); one Donor/Desynced after `desyncedBeforeMove` snapshots in a row (a short desync, e.g. a
// backup's, does not cut the writes). The controller feeds this topology to the endpoint's one writer rule
// (src/proxies/endpoint-view.ts), which keeps the current writer while it stays usable: writes move once.
import type { ClusterSnapshot, NodeSnapshot } from '../monitor/observation.ts';
import type { Topology, TopologyNode } from '../topology.ts';

export interface GaleraWriterTuning {
  readonly missesBeforeMove: number;
  readonly desyncedBeforeMove: number;
}

export const DEFAULT_GALERA_WRITER_TUNING: GaleraWriterTuning = {
  missesBeforeMove: 2,
  desyncedBeforeMove: 3,
};

/** Why a member is (not) usable as the writer, and whether it is. */
export function memberUsable(
  n: NodeSnapshot,
  desyncedStreak: number,
  tuning: GaleraWriterTuning = DEFAULT_GALERA_WRITER_TUNING,
): { readonly usable: boolean; readonly why: string } {
  const o = n.observation;
  if (!o) return { usable: false, why: 'never probed' };
  if (o.reachable !== true) {
    const prev = n.lastGood?.galera;
    const wasUsable = prev?.clusterStatus === 'Primary' && prev.localState === 'Synced';
    if (wasUsable && n.consecutiveFailures < tuning.missesBeforeMove) {
      return { usable: true, why: `missed ${n.consecutiveFailures} probe(s); still counted as the writer` };
    }
    return { usable: false, why: `does not answer (${n.consecutiveFailures} probes in a row)` };
  }
  const g = o.galera;
  if (!g) return { usable: false, why: 'no wsrep status' };
  if (g.clusterStatus !== 'Primary')
    return { usable: false, why: `${g.clusterStatus} (not in the Primary component)` };
  if (g.localState === 'Synced') return { usable: true, why: 'Synced in the Primary component' };
  if (/desynced|donor/i.test(g.localState) && desyncedStreak < tuning.desyncedBeforeMove) {
    return { usable: true, why: `${g.localState} for ${desyncedStreak} snapshot(s); within the bound` };
  }
  return { usable: false, why: g.localState || 'not Synced' };
}

/** The topology the endpoint's writer rule reads: usable members as Synced members, the others unknown. */
export function galeraWriterTopology(
  snapshot: ClusterSnapshot,
  desyncedStreaks: ReadonlyMap<string, number>,
  tuning: GaleraWriterTuning = DEFAULT_GALERA_WRITER_TUNING,
): Topology {
  const nodes = snapshot.nodes.map((n): TopologyNode => {
    const u = memberUsable(n, desyncedStreaks.get(`${n.host}:${n.port}`) ?? 0, tuning);
    return u.usable
      ? { host: n.host, port: n.port, role: 'member', state: 'Synced' }
      : { host: n.host, port: n.port, role: 'unknown', state: u.why };
  });
  return { type: 'galera', nodes };
}

/** A snapshot in which no member serves (no Synced member in a Primary component): full-cluster recovery's cue. */
export function noMemberServes(snapshot: ClusterSnapshot): boolean {
  return !snapshot.nodes.some(
    (n) =>
      n.observation?.reachable === true &&
      n.observation.galera?.clusterStatus === 'Primary' &&
      n.observation.galera.localState === 'Synced',
  );
}

/** The server the write backend uses now, from the proxies' states: ready and not down, non-backup first. */
export function proxiesWriter(
  servers: readonly { backend: string; server: string; admin?: string; health?: string; backup?: boolean }[],
): string | undefined {
  const write = servers.filter((s) => s.backend === 'write' && s.admin === 'ready' && s.health !== 'down');
  return (write.find((s) => s.backup !== true) ?? write.find((s) => s.backup === true))?.server;
}

/**
 * Whether the proxies must be told: the writer the view chose is not the one they use, or their config still
 * has another ready main (non-backup) server they would move back to when it comes up.
 */
export function writerMoveNeeded(
  chosen: string | undefined,
  known: string | undefined,
  servers: readonly { backend: string; server: string; admin?: string; backup?: boolean }[] | undefined,
): boolean {
  if (chosen === undefined) return false;
  if (known !== chosen) return true;
  if (!servers) return false;
  return servers.some(
    (s) => s.backend === 'write' && s.backup !== true && s.admin === 'ready' && s.server !== chosen,
  );
}
