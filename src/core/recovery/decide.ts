// Whether automatic recovery acts on a detection: the controls an operator has (recovery off, maintenance), the
// anti-flap cooldown and a failover already under way all come before acting, and each "no" has its sentence.
import type { CooldownDecision } from './cooldown.ts';
import type { Detection } from './detection.ts';

export interface AutoFailoverInput {
  readonly detection: Detection;
  /** `nines recovery off` was not given for the cluster. */
  readonly enabled: boolean;
  /** The cluster, or its primary node, is in a maintenance window. */
  readonly maintenance: boolean;
  readonly cooldown: CooldownDecision;
  /** A failover or switchover of the cluster is running. */
  readonly running: boolean;
}

export type AutoFailoverAction = 'failover' | 'alarm' | 'refuse' | 'none';

export interface AutoFailoverDecision {
  /** failover: start one; alarm: raise unreachable-from-controller; refuse: failed but a control says no. */
  readonly action: AutoFailoverAction;
  readonly reason: string;
}

export function decideAutoFailover(input: AutoFailoverInput): AutoFailoverDecision {
  const d = input.detection;
  if (d.action === 'unreachable-from-controller') return { action: 'alarm', reason: d.reason };
  if (d.action !== 'failed') return { action: 'none', reason: d.reason };
  if (input.running) {
    return { action: 'none', reason: `${d.reason}; a failover is already running` };
  }
  if (!input.enabled) {
    return {
      action: 'refuse',
      reason: `not failing over: automatic recovery is off for this cluster (${d.reason}); turn it on with nines recovery on, or fail over by hand`,
    };
  }
  if (input.maintenance) {
    return {
      action: 'refuse',
      reason: `not failing over: the cluster or its primary is in maintenance (${d.reason})`,
    };
  }
  if (input.cooldown.action === 'refuse') return { action: 'refuse', reason: input.cooldown.reason };
  return { action: 'failover', reason: d.reason };
}
