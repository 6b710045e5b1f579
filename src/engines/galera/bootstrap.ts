// Pure decision: how to bring a Galera cluster's servers up. Never a second cluster next to running nodes:
// a node that already runs in a Primary component is joined; running nodes without one stop the deploy; only
// when nothing runs is a node bootstrapped — a fresh cluster's first node, or after a full stop the node with
// the most advanced recovered position (with that position, so the others rejoin by IST).
import type { NodeSpec } from '../../core/spec.ts';
import type { GaleraState } from '../mysql/observe.ts';
import { ZERO_UUID, type Grastate } from './status.ts';

export interface GaleraNodeFacts {
  readonly node: NodeSpec;
  /** Undefined: the server does not run (or does not answer yet). */
  readonly state?: GaleraState;
  readonly running: boolean;
  readonly grastate?: Grastate;
  /** From --wsrep-recover, when grastate's seqno is -1. */
  readonly recovered?: { readonly uuid: string; readonly seqno: number };
}

export type StartPlan =
  | { readonly action: 'join'; readonly via: NodeSpec; readonly reason: string }
  | {
      readonly action: 'bootstrap';
      readonly node: NodeSpec;
      /** uuid:seqno for --wsrep-start-position (a restarted cluster keeps its identity). */
      readonly startPosition?: string;
      /** host:port -> uuid:seqno of the other nodes with a known position: they rejoin by IST with it. */
      readonly joinPositions?: Readonly<Record<string, string>>;
      readonly reason: string;
    }
  | { readonly action: 'refuse'; readonly reason: string }
  /** Positions must be recovered first (seqno -1 on some stopped node). */
  | { readonly action: 'recover'; readonly nodes: readonly NodeSpec[]; readonly reason: string };

const addr = (n: NodeSpec): string => `${n.host}:${n.port}`;

function hasHistory(f: GaleraNodeFacts): boolean {
  return f.grastate !== undefined && f.grastate.uuid !== ZERO_UUID;
}

function position(f: GaleraNodeFacts): { uuid: string; seqno: number } | undefined {
  if (!f.grastate) return undefined;
  if (f.grastate.seqno >= 0) return { uuid: f.grastate.uuid, seqno: f.grastate.seqno };
  return f.recovered;
}

/** `facts` in spec order (the first node is the fresh cluster's bootstrap node). */
export function decideGaleraStart(facts: readonly GaleraNodeFacts[]): StartPlan {
  const primary = facts.find((f) => f.state?.clusterStatus === 'Primary');
  if (primary)
    return { action: 'join', via: primary.node, reason: `${addr(primary.node)} runs in a Primary component` };
  const running = facts.filter((f) => f.running);
  if (running.length > 0) {
    return {
      action: 'refuse',
      reason: `${running.map((f) => addr(f.node)).join(', ')} run(s) but no node is in a Primary component; bootstrapping another node would create a second cluster`,
    };
  }
  const withHistory = facts.filter(hasHistory);
  const first = facts[0];
  if (withHistory.length === 0) {
    if (!first) return { action: 'refuse', reason: 'the cluster has no nodes' };
    return {
      action: 'bootstrap',
      node: first.node,
      reason: `no node has cluster state: new cluster from ${addr(first.node)}`,
    };
  }
  const unknown = withHistory.filter((f) => position(f) === undefined);
  if (unknown.length > 0) {
    return {
      action: 'recover',
      nodes: unknown.map((f) => f.node),
      reason: `the last committed position of ${unknown.map((f) => addr(f.node)).join(', ')} is unknown (unclean stop)`,
    };
  }
  const uuids = new Set(withHistory.map((f) => position(f)?.uuid));
  if (uuids.size > 1) {
    return {
      action: 'refuse',
      reason: `the nodes hold the state of different clusters (${[...uuids].join(', ')}); choose which to keep by hand`,
    };
  }
  // Most advanced first; then a node Galera already marked safe; then spec order (stable sort).
  const best = [...withHistory].sort(
    (a, b) =>
      (position(b)?.seqno ?? -1) - (position(a)?.seqno ?? -1) ||
      Number(b.grastate?.safeToBootstrap ?? false) - Number(a.grastate?.safeToBootstrap ?? false),
  )[0];
  const pos = best && position(best);
  if (!best || !pos) return { action: 'refuse', reason: 'no node to bootstrap from' };
  const joinPositions: Record<string, string> = {};
  for (const f of withHistory) {
    const p = position(f);
    if (f !== best && p) joinPositions[addr(f.node)] = `${p.uuid}:${p.seqno}`;
  }
  return {
    action: 'bootstrap',
    node: best.node,
    startPosition: `${pos.uuid}:${pos.seqno}`,
    joinPositions,
    reason: `no node runs; ${addr(best.node)} has the most advanced position (${pos.uuid}:${pos.seqno})`,
  };
}
