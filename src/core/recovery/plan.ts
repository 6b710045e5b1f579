// The live failover plan: what nines would do if the primary failed now, recomputed from every snapshot and shown
// in `nines cluster status` and the API — "if the primary fails now: promote h2 (…); h3 follows h2; expected
// loss 0 (semi-sync)" — or why no failover would happen. Pure: composes the candidate order and the RPO proof.
import { rankCandidates, type CandidateInput, type RankingContext } from './candidates.ts';
import { proveRpo, type AckMode, type RpoDecision } from './rpo.ts';

export interface PlanInput {
  readonly candidates: readonly CandidateInput[];
  readonly ranking: RankingContext;
  readonly ackMode: AckMode;
  /** Replicas in the acknowledging set (semi-sync clients / synchronous standbys), by node. */
  readonly ackSet: ReadonlySet<string>;
  readonly primaryLastPosition: bigint | null;
  readonly unit: 'transactions' | 'bytes';
  readonly acceptAsyncLoss?: boolean;
  /** What to call the ack mode in the sentence: 'semi-sync' (MariaDB) or 'synchronous' (PostgreSQL). */
  readonly ackName: string;
  /** Per node, how its position reads to a person ('GTID 0-1-5531', 'LSN 0/3000148'). */
  readonly positionLabel: (node: string) => string;
}

export interface FailoverPlan {
  readonly action: 'promote' | 'none';
  /** The node that would be promoted; absent when none would be. */
  readonly candidate?: string;
  /** The other replicas that would follow it. */
  readonly followers: readonly string[];
  readonly rpo?: RpoDecision;
  /** The whole plan in one sentence. */
  readonly reason: string;
}

function lossText(rpo: RpoDecision, input: PlanInput): string {
  if (rpo.proven) return `expected loss 0 (${input.ackName})`;
  const gap = rpo.observedGap === null ? 'unknown' : `${rpo.observedGap} ${input.unit} or more`;
  return `expected loss ${gap} (${input.ackMode === 'asynchronous' ? 'asynchronous' : `${input.ackName} not active`})`;
}

export function failoverPlan(input: PlanInput): FailoverPlan {
  const { candidates, excluded } = rankCandidates(input.candidates, input.ranking);
  const best = candidates[0];
  if (best === undefined) {
    const why = excluded.map((e) => `${e.node} ${e.reason}`).join('; ');
    return {
      action: 'none',
      followers: [],
      reason: `if the primary fails now: no failover, no replica can be promoted (${why || 'no replicas'})`,
    };
  }
  const rpo = proveRpo({
    mode: input.ackMode,
    candidate: best.node,
    replicas: input.candidates.map((c) => ({
      node: c.node,
      reachable: c.reachable,
      received: c.received,
      inAckSet: input.ackSet.has(c.node),
    })),
    primaryLastPosition: input.primaryLastPosition,
    unit: input.unit,
    ...(input.acceptAsyncLoss === undefined ? {} : { acceptAsyncLoss: input.acceptAsyncLoss }),
  });
  const followers = input.candidates.map((c) => c.node).filter((n) => n !== best.node);
  if (rpo.action === 'refuse') {
    return {
      action: 'none',
      followers: [],
      rpo,
      reason: `if the primary fails now: no automatic failover — ${rpo.reason}`,
    };
  }
  const follow =
    followers.length > 0
      ? `; ${followers.join(', ')} follow${followers.length === 1 ? 's' : ''} ${best.node}`
      : '';
  return {
    action: 'promote',
    candidate: best.node,
    followers,
    rpo,
    reason: `if the primary fails now: promote ${best.node} (${input.positionLabel(best.node)}, ${best.reason})${follow}; ${lossText(rpo, input)}`,
  };
}
