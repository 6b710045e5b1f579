// Which replica to promote: a pure total order over the replicas of a cluster whose primary is lost
// (CloudNativePG's `Less`: errors last, then received, then replayed position, then name). Engines turn what they
// observed into comparable positions (MariaDB: GTID progress; PostgreSQL: LSN bytes); this file only orders.

/** What the decision needs to know of one replica. Positions are comparable within one cluster. */
export interface CandidateInput {
  /** host:port, the stable identity used for the final tie-break. */
  readonly node: string;
  /** The controller reached the node on its latest probe. */
  readonly reachable: boolean;
  /** Received from the old primary (MariaDB: Gtid_IO_Pos progress; PostgreSQL: pg_last_wal_receive_lsn). */
  readonly received: bigint | null;
  /** Applied/replayed (MariaDB: gtid_slave_pos progress; PostgreSQL: pg_last_wal_replay_lsn). */
  readonly applied: bigint | null;
  /** Seconds the node needs to apply what it received; null when unknown (e.g. the SQL thread is stopped). */
  readonly applyBacklogSeconds: number | null;
  readonly datacenter: string;
  /** Spec priority: 0 = never promote; higher first. */
  readonly priority: number;
  /** Persisted per-node state that forbids promotion. */
  readonly doNotPromote?: boolean;
  readonly fenced?: boolean;
  readonly rejoining?: boolean;
  readonly inMaintenance?: boolean;
  /** The replica's applier reports an error (SQL thread error / replay error). */
  readonly applyError?: string | null;
  /** Transactions this node has that no known writer wrote (errant GTIDs); 0 or absent when none. */
  readonly errantTransactions?: number;
}

export interface RankingContext {
  /** Datacenter of the primary that failed: a replica there is preferred at equal position. */
  readonly primaryDatacenter: string;
  /** A replica that needs longer than this to apply its backlog is not a candidate. */
  readonly maxApplyBacklogSeconds: number;
  /** The operator forces the choice: errant transactions no longer exclude (never reachability). */
  readonly force?: boolean;
}

export interface RankedCandidate {
  readonly node: string;
  /** Why it is where it is, for the failover plan and the event. */
  readonly reason: string;
}

export interface Exclusion {
  readonly node: string;
  readonly reason: string;
}

export interface Ranking {
  /** Eligible candidates, best first. */
  readonly candidates: readonly RankedCandidate[];
  readonly excluded: readonly Exclusion[];
}

/** Why a replica can never be promoted right now; null when it can. */
export function exclusionReason(c: CandidateInput, ctx: RankingContext): string | null {
  return stateExclusion(c) ?? positionExclusion(c, ctx);
}

/** Exclusions by what the node is (unreachable, marked, busy). */
function stateExclusion(c: CandidateInput): string | null {
  if (!c.reachable) return 'not reachable from the controller';
  if (c.priority === 0) return 'priority 0 (never promoted)';
  if (c.doNotPromote === true) return 'marked do-not-promote';
  if (c.fenced === true) return 'fenced';
  if (c.rejoining === true) return 'still rejoining';
  if (c.inMaintenance === true) return 'in maintenance';
  return null;
}

/** Exclusions by what the node holds (unknown or unusable position, errant writes). */
function positionExclusion(c: CandidateInput, ctx: RankingContext): string | null {
  if (c.received === null) return 'its received position is unknown';
  if (c.applyError !== undefined && c.applyError !== null && c.applyError !== '') {
    return `its applier failed: ${c.applyError}`;
  }
  if (c.applyBacklogSeconds === null) return 'cannot tell how long it needs to apply what it received';
  if (c.applyBacklogSeconds > ctx.maxApplyBacklogSeconds) {
    return `needs ${c.applyBacklogSeconds} s to apply its backlog (max ${ctx.maxApplyBacklogSeconds} s)`;
  }
  if ((c.errantTransactions ?? 0) > 0 && ctx.force !== true) {
    return `has ${c.errantTransactions} errant transaction(s) the old primary never had`;
  }
  return null;
}

function cmpBig(a: bigint | null, b: bigint | null): number {
  const x = a ?? -1n;
  const y = b ?? -1n;
  return x === y ? 0 : x > y ? -1 : 1;
}

/**
 * The total order: most received first, then most applied, then the old primary's datacenter, then higher
 * priority, then node name (ascending) so two runs over the same snapshot always agree.
 */
export function compareCandidates(a: CandidateInput, b: CandidateInput, ctx: RankingContext): number {
  return (
    cmpBig(a.received, b.received) ||
    cmpBig(a.applied, b.applied) ||
    Number(b.datacenter === ctx.primaryDatacenter) - Number(a.datacenter === ctx.primaryDatacenter) ||
    b.priority - a.priority ||
    (a.node < b.node ? -1 : a.node > b.node ? 1 : 0)
  );
}

function why(c: CandidateInput, best: CandidateInput | undefined, ctx: RankingContext): string {
  const parts: string[] = [];
  if (best === undefined) parts.push('most advanced');
  else if (c.received !== best.received) parts.push('behind the first candidate');
  else if (c.applied !== best.applied) parts.push('applied less than the first candidate');
  else parts.push('as advanced as the first candidate');
  parts.push(c.datacenter === ctx.primaryDatacenter ? 'same datacenter' : `datacenter ${c.datacenter}`);
  parts.push(`priority ${c.priority}`);
  return parts.join(', ');
}

/** Splits replicas into eligible candidates (ordered) and exclusions (with the reason each). */
export function rankCandidates(inputs: readonly CandidateInput[], ctx: RankingContext): Ranking {
  const excluded: Exclusion[] = [];
  const eligible: CandidateInput[] = [];
  for (const c of inputs) {
    const reason = exclusionReason(c, ctx);
    if (reason === null) eligible.push(c);
    else excluded.push({ node: c.node, reason });
  }
  eligible.sort((a, b) => compareCandidates(a, b, ctx));
  const best = eligible[0];
  const candidates = eligible.map((c, i) => ({
    node: c.node,
    reason: why(c, i === 0 ? undefined : best, ctx),
  }));
  return { candidates, excluded };
}
