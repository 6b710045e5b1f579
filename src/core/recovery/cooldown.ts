// Anti-flap: after a failover, a second automatic one on the same cluster waits for the cooldown to pass (a node
// that fails again right after promotion is more likely a systemic problem than a second dead server). Visible,
// explained and overridable.

export interface CooldownInput {
  readonly now: number;
  /** When the last failover of this cluster finished (done or aborted after acting); null when never. */
  readonly lastFailoverAt: number | null;
  readonly cooldownMs: number;
  readonly force?: boolean;
}

export interface CooldownDecision {
  readonly action: 'allow' | 'refuse';
  readonly reason: string;
  /** When automatic failover is allowed again; null when it is now. */
  readonly until: number | null;
}

export function checkCooldown(input: CooldownInput): CooldownDecision {
  if (input.lastFailoverAt === null) return { action: 'allow', reason: 'no earlier failover', until: null };
  const until = input.lastFailoverAt + input.cooldownMs;
  if (input.now >= until)
    return { action: 'allow', reason: 'the cooldown after the last failover is over', until: null };
  const left = Math.ceil((until - input.now) / 1000);
  if (input.force === true) {
    return { action: 'allow', reason: `forced during the cooldown (${left} s left)`, until };
  }
  return {
    action: 'refuse',
    reason: `not failing over: the last failover was ${Math.round((input.now - input.lastFailoverAt) / 1000)} s ago and the cooldown has ${left} s left (force it with --force)`,
    until,
  };
}
