// Is the primary dead, or only unreachable from us? A primary is declared failed only when the controller's own
// probes say so AND the other vantage points agree (replicas' replication links, the replicas' hosts checking the
// database port, the proxies' health checks). A primary the controller still reaches but that nobody else does is
// failed too — the application cannot write through the endpoint — and is fenced through the controller's link.

/** What one vantage point says about the primary. */
export type Verdict = 'up' | 'down' | 'unknown';

export interface ReplicaVantage {
  readonly node: string;
  /** The controller reached this replica (otherwise it says nothing: 'unknown'). */
  readonly reachable: boolean;
  /** The replica's replication link (IO thread / WAL receiver) to the primary: up, down, or not known. */
  readonly link: Verdict;
  /** The replica's host tried the primary's database port over SSH within the bound; 'unknown' = no answer. */
  readonly portCheck: Verdict;
}

export interface ProxyVantage {
  readonly proxy: string;
  /** The proxy's own health check of the primary as its write backend; 'unknown' when the proxy did not answer. */
  readonly writer: Verdict;
  /**
   * What the proxy's check proves: 'tcp' = a TCP connect (the kernel of a frozen server still completes it, so an
   * 'up' says nothing about the database and counts as unknown; a 'down' still counts); 'protocol' = the
   * database answered. Default 'protocol'.
   */
  readonly checkLevel?: 'tcp' | 'protocol';
}

/** A proxy's verdict as evidence: a TCP-level 'up' proves nothing about the database process. */
export function proxyVerdict(p: ProxyVantage): Verdict {
  return p.writer === 'up' && p.checkLevel === 'tcp' ? 'unknown' : p.writer;
}

export interface DetectionInput {
  /** Failed controller probes of the primary in a row. */
  readonly controllerFailures: number;
  /** Probes in a row before the controller believes the primary down (the monitor's downAfterFailures). */
  readonly downAfterFailures: number;
  readonly replicas: readonly ReplicaVantage[];
  readonly proxies: readonly ProxyVantage[];
}

export type DetectionAction =
  /** Nothing wrong with the primary. */
  | 'healthy'
  /** Something looks wrong but not long enough or not confirmed yet: look again on the next tick. */
  | 'watch'
  /** The primary is failed: fail over. */
  | 'failed'
  /** The controller cannot reach the primary but others can: do not fail over, raise an alarm. */
  | 'unreachable-from-controller';

export interface Detection {
  readonly action: DetectionAction;
  readonly reason: string;
  /** Vantage points that said down / up (node or proxy names), for the event. */
  readonly agreeing: readonly string[];
  readonly disagreeing: readonly string[];
}

/**
 * A replica's combined verdict. The port check is the fresher observation (an IO thread can report "running" for
 * up to slave_net_timeout after its source vanished without a reset), so it decides when it answered; the link
 * decides otherwise. `portCheck` 'up' means the database sent its protocol greeting, not just that TCP connected
 * (a frozen server's kernel still completes the handshake).
 */
export function replicaVerdict(r: ReplicaVantage): Verdict {
  if (!r.reachable) return 'unknown';
  return r.portCheck !== 'unknown' ? r.portCheck : r.link;
}

function tally(input: DetectionInput): { down: string[]; up: string[] } {
  const down: string[] = [];
  const up: string[] = [];
  for (const r of input.replicas) {
    const v = replicaVerdict(r);
    if (v === 'down') down.push(r.node);
    else if (v === 'up') up.push(r.node);
  }
  for (const p of input.proxies) {
    const v = proxyVerdict(p);
    if (v === 'down') down.push(`proxy ${p.proxy}`);
    else if (v === 'up') up.push(`proxy ${p.proxy}`);
  }
  return { down, up };
}

function list(names: readonly string[]): string {
  return names.join(', ');
}

/**
 * The truth table. With C = the controller believes the primary down (failures ≥ downAfterFailures), D = vantage
 * points saying down, U = saying up:
 * - C, U empty, D non-empty -> failed (everyone who can tell agrees);
 * - C, U non-empty -> unreachable-from-controller (never fail over a primary others still reach);
 * - C, nobody can tell (no replica or proxy answered) -> watch: a failover without a second opinion could be a
 *   controller-side network problem, and with no reachable replica there is nothing to promote anyway;
 * - not C but failing -> watch;
 * - not C, D non-empty, U empty, and D covers every replica and proxy that answered, at least one of each kind
 *   present -> failed (isolated primary: the application cannot reach it);
 * - otherwise healthy (a single replica's broken link is a replication alarm, not a dead primary).
 */
export function analysePrimary(input: DetectionInput): Detection {
  const { down, up } = tally(input);
  const controllerDown = input.controllerFailures >= input.downAfterFailures;
  if (controllerDown) {
    if (up.length > 0) {
      return {
        action: 'unreachable-from-controller',
        reason: `not failing over: the primary is unreachable from the controller but ${list(up)} still reach it`,
        agreeing: down,
        disagreeing: up,
      };
    }
    if (down.length === 0) {
      return {
        action: 'watch',
        reason: `the controller missed ${input.controllerFailures} probes of the primary, but no replica or proxy could confirm it is down`,
        agreeing: [],
        disagreeing: [],
      };
    }
    return {
      action: 'failed',
      reason: `primary down: the controller missed ${input.controllerFailures} probes and ${list(down)} agree`,
      agreeing: down,
      disagreeing: [],
    };
  }
  if (input.controllerFailures > 0) {
    return {
      action: 'watch',
      reason: `the controller missed ${input.controllerFailures} of ${input.downAfterFailures} probes of the primary`,
      agreeing: down,
      disagreeing: up,
    };
  }
  if (isolated(input, down, up)) {
    return {
      action: 'failed',
      reason: `primary isolated: the controller reaches it but ${list(down)} cannot; the application cannot write through the endpoint`,
      agreeing: down,
      disagreeing: [],
    };
  }
  return { action: 'healthy', reason: 'the primary answers', agreeing: down, disagreeing: up };
}

function isolated(input: DetectionInput, down: readonly string[], up: readonly string[]): boolean {
  if (up.length > 0 || down.length === 0) return false;
  const replicasDown = input.replicas.filter((r) => replicaVerdict(r) === 'down').length;
  const proxiesDown = input.proxies.filter((p) => p.writer === 'down').length;
  // Both kinds must say so when both exist: replicas alone may share one broken switch with the primary; proxies
  // alone may be the ones cut off. Where there are no proxies, every reachable replica must agree.
  const needProxies = input.proxies.length > 0;
  return replicasDown > 0 && (!needProxies || proxiesDown === input.proxies.length);
}
