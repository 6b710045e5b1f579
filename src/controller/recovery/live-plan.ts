// The live failover plan and the inputs shared by the plan and a real failover: the last observation of each node
// (the primary's last good one tells how commits were acknowledged when it failed) and the nodes that may not be
// promoted. Pure functions over the monitor's snapshot and recovery's stored node states.
import {
  inMaintenance,
  nodeKey,
  type ClusterSnapshot,
  type NodeObservation,
} from '../../core/monitor/observation.ts';
import type { CandidateInput } from '../../core/recovery/candidates.ts';
import { failoverPlan, type FailoverPlan } from '../../core/recovery/plan.ts';
import type { ClusterSpec } from '../../core/spec.ts';
import type { ReplicationRecovery } from '../../engines/engine.ts';
import type { NodeRecoveryRecord } from './recovery-repo.ts';

/** The latest observation of each node, or the last one that reached it. */
export function lastObservations(
  spec: ClusterSpec,
  snapshot: ClusterSnapshot,
  lastGood: ReadonlyMap<string, NodeObservation>,
): Map<string, NodeObservation | undefined> {
  const out = new Map<string, NodeObservation | undefined>();
  for (const n of spec.nodes) {
    const k = nodeKey(n);
    const snap = snapshot.nodes.find((x) => nodeKey(x) === k);
    out.set(
      k,
      snap?.observation?.reachable === true ? snap.observation : (lastGood.get(k) ?? snap?.lastGood),
    );
  }
  return out;
}

/** Nodes that may not be promoted, with why: their recovery state (fenced, diverged) or 'maintenance'. */
export function excludedNodes(
  states: readonly NodeRecoveryRecord[],
  snapshot: ClusterSnapshot | undefined,
  now: number,
): Map<string, string> {
  const out = new Map<string, string>();
  for (const n of states) out.set(n.node, n.state);
  for (const n of snapshot?.nodes ?? []) {
    if (inMaintenance(n.maintenance, snapshot?.time ?? now)) out.set(nodeKey(n), 'maintenance');
  }
  return out;
}

/** A candidate as the ranking sees it, from a node's position and its spec entry. */
export function candidateOf(
  p: ReturnType<ReplicationRecovery['observedPosition']>,
  node: { readonly datacenter: string; readonly priority: number },
  errant: number,
  excluded: string | undefined,
): CandidateInput {
  return {
    node: p.node,
    reachable: p.reachable,
    received: p.received,
    applied: p.applied,
    applyBacklogSeconds: p.applyBacklogSeconds,
    datacenter: node.datacenter,
    priority: node.priority,
    applyError: p.applyError,
    errantTransactions: errant,
    ...(excluded === 'maintenance' ? { inMaintenance: true } : excluded ? { fenced: true } : {}),
  };
}

/** What nines would do if the primary failed now (recomputed from every snapshot). */
export function livePlan(input: {
  readonly spec: ClusterSpec;
  readonly recovery: ReplicationRecovery;
  readonly snapshot: ClusterSnapshot;
  readonly observations: ReadonlyMap<string, NodeObservation | undefined>;
  readonly excluded: ReadonlyMap<string, string>;
  readonly primary: string;
  readonly maxApplyBacklogSeconds: number;
}): FailoverPlan {
  const { spec, recovery, snapshot, primary } = input;
  const ack = recovery.ackState(spec, primary, input.observations);
  const positions = new Map<string, string>();
  const candidates = spec.nodes
    .filter((n) => nodeKey(n) !== primary)
    .map((n) => {
      const k = nodeKey(n);
      const p = recovery.observedPosition(k, snapshot.nodes.find((x) => nodeKey(x) === k)?.observation);
      positions.set(k, p.label);
      return candidateOf(
        p,
        n,
        recovery.errantTransactions(p, ack.primaryPositionText),
        input.excluded.get(k),
      );
    });
  return failoverPlan({
    candidates,
    ranking: {
      primaryDatacenter: spec.nodes.find((n) => nodeKey(n) === primary)?.datacenter ?? 'default',
      maxApplyBacklogSeconds: input.maxApplyBacklogSeconds,
    },
    ackMode: ack.mode,
    ackSet: ack.ackSet,
    primaryLastPosition: ack.primaryPosition,
    unit: ack.unit,
    acceptAsyncLoss: spec.options.acceptAsyncLoss === true,
    ackName: ack.ackName,
    positionLabel: (node) => positions.get(node) ?? '',
  });
}
