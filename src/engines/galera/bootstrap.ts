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

/** A full-crash recovery's plan: decideGaleraStart's, or a forced pc.bootstrap of a live non-Primary node. */
export type RecoveryPlan =
  StartPlan | { readonly action: 'pc-bootstrap'; readonly node: NodeSpec; readonly reason: string };

export interface GaleraRecoveryInput {
  /** The nodes whose host answered, in spec order (running or not, their grastate / recovered position). */
  readonly examined: readonly GaleraNodeFacts[];
  /** The nodes whose host could not be asked. */
  readonly unexamined: readonly NodeSpec[];
  /** `nines cluster recover --force`: an operator accepts a minority examination or a live non-Primary. */
  readonly force: boolean;
}

/**
 * Pure decision of a Galera recovery when no node serves. Never a new cluster (a node without cluster state is
 * never bootstrapped: that is what a deploy does); never a bootstrap when half or more of the nodes could not be
 * examined (a Primary component may run among them, out of our sight) nor next to running non-Primary nodes —
 * unless forced; then decideGaleraStart on what was examined (the most advanced node, with its position).
 */
export function decideGaleraRecovery(input: GaleraRecoveryInput): RecoveryPlan {
  const { examined, unexamined, force } = input;
  const total = examined.length + unexamined.length;
  const primary = examined.find((f) => f.state?.clusterStatus === 'Primary');
  if (primary)
    return { action: 'join', via: primary.node, reason: `${addr(primary.node)} runs in a Primary component` };
  const down = unexamined.map(addr).join(', ');
  if (examined.length * 2 <= total && !force) {
    return {
      action: 'refuse',
      reason: `only ${examined.length} of ${total} nodes could be examined (${down} did not answer): a Primary component may run among them; bring their hosts back, or force with nines cluster recover --force`,
    };
  }
  const running = examined.filter((f) => f.running);
  if (running.length > 0) {
    const names = running.map((f) => addr(f.node)).join(', ');
    if (!force) {
      return {
        action: 'refuse',
        reason: `${names} run(s) without a Primary component (non-Primary): bootstrapping would make a second cluster next to them; force with nines cluster recover --force (pc.bootstrap on the most advanced)`,
      };
    }
    const best = [...running].sort(
      (a, b) => (b.state?.lastCommitted ?? -1) - (a.state?.lastCommitted ?? -1),
    )[0] as GaleraNodeFacts;
    return {
      action: 'pc-bootstrap',
      node: best.node,
      reason: `forced: ${addr(best.node)} is the most advanced running node (seqno ${best.state?.lastCommitted ?? 'unknown'}); its component is made Primary`,
    };
  }
  if (!examined.some(hasHistory)) {
    return {
      action: 'refuse',
      reason: `no examined node holds cluster state (grastate.dat): there is nothing to recover, and a recovery never creates a new cluster`,
    };
  }
  const plan = decideGaleraStart(examined.filter(hasHistory));
  if (plan.action !== 'bootstrap') return plan;
  const missing = unexamined.length > 0 ? `; ${down} could not be examined and rejoin when back` : '';
  return {
    ...plan,
    reason: `${plan.reason}${force && examined.length * 2 <= total ? ' (forced)' : ''}${missing}`,
  };
}
