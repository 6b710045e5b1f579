// Can we prove that promoting this candidate loses no acknowledged write? Semi-sync (MariaDB) and synchronous
// replication (PostgreSQL) acknowledge a commit only once at least one replica of a known set has received it, so
// the candidate must hold at least what every member of that set received — and every member must have answered,
// or one of them may hold a commit the candidate lacks. With asynchronous replication nothing can be proven: the
// decision reports how much may be lost and leaves promotion to the policy (or the operator).

/** How the cluster acknowledged commits at the moment the primary failed (its last observation). */
export type AckMode =
  /** Semi-sync / synchronous replication was on and active: an acknowledged commit is on some ack-set member. */
  | 'synchronous'
  /** Configured synchronous but it had fallen back to asynchronous (e.g. semi-sync timeout, no sync standby). */
  | 'degraded'
  /** Asynchronous replication. */
  | 'asynchronous';

export interface RpoReplica {
  readonly node: string;
  /** The controller reached it for this decision. */
  readonly reachable: boolean;
  /** Received position (comparable within the cluster); null when unknown. */
  readonly received: bigint | null;
  /** Member of the set whose acknowledgement counts (semi-sync clients / synchronous_standby_names). */
  readonly inAckSet: boolean;
}

export interface RpoInput {
  readonly mode: AckMode;
  readonly candidate: string;
  readonly replicas: readonly RpoReplica[];
  /** The old primary's last observed write position; null when never observed. */
  readonly primaryLastPosition: bigint | null;
  /** Position units for messages: 'transactions' (MariaDB GTID) or 'bytes' (PostgreSQL WAL). */
  readonly unit: 'transactions' | 'bytes';
  /** The operator forces promotion (reported, never silent). */
  readonly force?: boolean;
  /**
   * Asynchronous clusters only: the operator accepted, in the spec, that automatic failover may lose the
   * unreplicated tail (what MHA and Orchestrator do by default). Without it, an asynchronous cluster is never
   * promoted automatically.
   */
  readonly acceptAsyncLoss?: boolean;
}

export interface RpoDecision {
  readonly action: 'promote' | 'refuse';
  readonly reason: string;
  /** Proven: no acknowledged write is lost. */
  readonly proven: boolean;
  /**
   * What the candidate lacks compared with the old primary's last observed position (a lower bound on what the
   * failover discards: the primary may have written more after that observation); null when unknown.
   */
  readonly observedGap: bigint | null;
}

function gap(primary: bigint | null, candidate: bigint | null): bigint | null {
  if (primary === null || candidate === null) return null;
  return primary > candidate ? primary - candidate : 0n;
}

function describeGap(g: bigint | null, unit: RpoInput['unit']): string {
  return g === null ? 'an unknown amount' : `at least ${g} ${unit}`;
}

/** Proves (or refuses) that promoting `input.candidate` keeps every acknowledged write. */
export function proveRpo(input: RpoInput): RpoDecision {
  const cand = input.replicas.find((r) => r.node === input.candidate);
  if (cand === undefined || cand.received === null) {
    return {
      action: 'refuse',
      reason: `${input.candidate}'s received position is unknown`,
      proven: false,
      observedGap: null,
    };
  }
  const observedGap = gap(input.primaryLastPosition, cand.received);
  if (input.mode === 'synchronous') {
    const unproven = syncUnproven(input, cand.received);
    if (unproven === null) {
      return {
        action: 'promote',
        reason: `${input.candidate} holds every acknowledged commit (synchronous; it has what every acknowledging replica received)`,
        proven: true,
        observedGap,
      };
    }
    return refuseOrForce(input, unproven, observedGap);
  }
  if (input.mode === 'degraded') {
    return refuseOrForce(
      input,
      'synchronous replication had fallen back to asynchronous before the failure, so commits may have been acknowledged that no replica received',
      observedGap,
    );
  }
  const lost = describeGap(observedGap, input.unit);
  if (input.force === true || input.acceptAsyncLoss === true) {
    const who = input.force === true ? 'forced' : 'asynchronous replication accepted in the spec';
    return { action: 'promote', reason: `${who}: ${lost} may be lost`, proven: false, observedGap };
  }
  return {
    action: 'refuse',
    reason: `not promoting ${input.candidate}: asynchronous replication, no loss bound can be proven (${lost} may be lost)`,
    proven: false,
    observedGap,
  };
}

function syncUnproven(input: RpoInput, candidateReceived: bigint): string | null {
  const ackSet = input.replicas.filter((r) => r.inAckSet);
  if (ackSet.length === 0) return 'no replica was in the acknowledging set';
  const silent = ackSet.filter((r) => !r.reachable || r.received === null).map((r) => r.node);
  if (silent.length > 0) {
    return `${silent.join(', ')} acknowledged commits and cannot be read now; it may hold commits ${input.candidate} lacks`;
  }
  const ahead = ackSet.filter((r) => (r.received ?? -1n) > candidateReceived).map((r) => r.node);
  if (ahead.length > 0) return `${ahead.join(', ')} received more than ${input.candidate}`;
  return null;
}

function refuseOrForce(input: RpoInput, why: string, observedGap: bigint | null): RpoDecision {
  if (input.force === true) {
    return {
      action: 'promote',
      reason: `forced although the loss bound is not proven (${why}); ${describeGap(observedGap, input.unit)} may be lost`,
      proven: false,
      observedGap,
    };
  }
  return { action: 'refuse', reason: `not promoting ${input.candidate}: ${why}`, proven: false, observedGap };
}
