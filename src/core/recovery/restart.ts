// Pure decisions of self-healing: whether nines may start a node's server that does not answer, how long it
// waits between attempts, and when a primary restarted read-only is made writable again. The controller
// (src/controller/recovery/restart-loop.ts) executes them and emits an event for each change of the answer.

export interface RestartInput {
  /** The node's role in the inventory ('primary', 'replica', 'member', …); null when unknown. */
  readonly role: string | null;
  /** The last probe reached the database. */
  readonly reachable: boolean;
  /** Engines with one primary and replicas (a dead primary is failover's business). */
  readonly singlePrimary: boolean;
  /** Fenced or diverged former primary (the rejoin loop owns it). */
  readonly fenced: boolean;
  /** `nines node lock`: do not touch. */
  readonly locked: boolean;
  /** The cluster or the node is in a maintenance window. */
  readonly maintenance: boolean;
  /** Automatic recovery is on for the cluster (and the controller). */
  readonly enabled: boolean;
  /** A failover or switchover of the cluster runs (or starts). */
  readonly failoverRunning: boolean;
  /** Type of a job of the cluster that runs now (deploy, node add/remove/rebuild …); undefined when none. */
  readonly jobRunning: string | undefined;
  /** The engine starts a node only to join a serving member (Galera)… */
  readonly needsServingPeer: boolean;
  /** …and another member is Synced in a Primary component that no longer counts this node. */
  readonly servingPeer: boolean;
}

export type RestartDecision =
  /** Nothing to do (the node answers, or it is not self-healing's to start). */
  | { readonly action: 'none'; readonly reason: string }
  /** It would be started, but something forbids it now: said once in an event. */
  | { readonly action: 'hold'; readonly reason: string }
  /** Ask its host whether the server runs; start it when it does not. */
  | { readonly action: 'start'; readonly reason: string };

export function decideRestart(i: RestartInput): RestartDecision {
  if (i.reachable) return { action: 'none', reason: 'it answers' };
  if (i.fenced) return { action: 'none', reason: 'a fenced former primary: the rejoin loop starts it' };
  if (i.singlePrimary && i.role === 'primary') {
    return { action: 'none', reason: 'the primary: failover decides what happens to it' };
  }
  if (i.locked) return { action: 'hold', reason: 'the node is locked (nines node unlock to allow)' };
  if (i.maintenance) return { action: 'hold', reason: 'maintenance window' };
  if (!i.enabled) return { action: 'hold', reason: 'automatic recovery is off (nines recovery on to allow)' };
  if (i.failoverRunning) return { action: 'hold', reason: 'a failover or switchover runs' };
  if (i.jobRunning !== undefined)
    return { action: 'hold', reason: `job ${i.jobRunning} runs on the cluster` };
  if (i.needsServingPeer && !i.servingPeer) {
    return {
      action: 'hold',
      reason:
        'no Primary component to join without it yet (its members have not evicted it, or none runs: full-cluster recovery decides)',
    };
  }
  return { action: 'start', reason: 'it does not answer' };
}

/** Failed starts before the critical alarm; after it, one attempt every SLOW_RETRY_MS. */
export const MAX_START_FAILURES = 4;
export const SLOW_RETRY_MS = 300_000;

/** Pause before the next start attempt after `failures` failed ones: 1, 2, 4 s …, then SLOW_RETRY_MS. */
export function restartDelayMs(failures: number, baseMs = 1000): number {
  if (failures <= 0) return 0;
  if (failures >= MAX_START_FAILURES) return SLOW_RETRY_MS;
  return baseMs * 2 ** (failures - 1);
}

export interface ReopenInput {
  /** The primary (inventory) answers, is read-only, and does not replicate from anyone. */
  readonly primaryReadOnly: boolean;
  readonly primaryReplicates: boolean;
  /** Other nodes: reachable and writable (a second writer: never reopen then). */
  readonly othersWritable: readonly string[];
  /** Other nodes the probes did not reach (they may be anything). */
  readonly othersUnreachable: readonly string[];
  readonly totalNodes: number;
  readonly enabled: boolean;
  readonly maintenance: boolean;
  readonly failoverRunning: boolean;
  /** `nines node lock` on the primary. */
  readonly locked: boolean;
  /** Snapshots in a row that showed the primary so (a restart is seen twice before acting). */
  readonly seenTimes: number;
}

export type ReopenDecision =
  | { readonly action: 'none'; readonly reason: string }
  | { readonly action: 'hold'; readonly reason: string }
  | { readonly action: 'reopen'; readonly reason: string };

/**
 * A MariaDB primary that restarted before any failover comes back read_only=ON (its config): nines makes it
 * writable again once it is still the primary in the inventory, no failover runs, no other node is writable and
 * a majority of the nodes (itself included) answered, so no failover can have promoted another one out of sight.
 */
export function decideReopen(i: ReopenInput): ReopenDecision {
  if (!i.primaryReadOnly) return { action: 'none', reason: 'the primary is writable' };
  if (i.primaryReplicates) return { action: 'none', reason: 'the primary replicates from another node' };
  if (!i.enabled) return { action: 'hold', reason: 'automatic recovery is off' };
  if (i.locked) return { action: 'hold', reason: 'the node is locked (nines node unlock to allow)' };
  if (i.maintenance) return { action: 'hold', reason: 'maintenance window' };
  if (i.failoverRunning) return { action: 'hold', reason: 'a failover or switchover runs' };
  if (i.othersWritable.length > 0) {
    return {
      action: 'hold',
      reason: `${i.othersWritable.join(', ')} accept(s) writes: not making a second writer`,
    };
  }
  const answering = i.totalNodes - i.othersUnreachable.length;
  if (answering * 2 <= i.totalNodes) {
    return {
      action: 'hold',
      reason: `only ${answering} of ${i.totalNodes} nodes answer (${i.othersUnreachable.join(', ')} do not): cannot prove no other writer`,
    };
  }
  if (i.seenTimes < 2)
    return { action: 'none', reason: 'seen read-only once; confirming at the next snapshot' };
  return {
    action: 'reopen',
    reason: 'the primary restarted read-only; it is still the primary and no other node accepts writes',
  };
}
