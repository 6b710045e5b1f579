// The drill's real dependencies: SSH through the controller's ClusterHosts, the labs of this machine, lab faults,
// the drill SQL of each type and the engine's application user.
import type { ClusterType } from '../../core/spec.ts';
import { engineFor, ensureAppUser } from '../../engines/registry.ts';
import { findInventory, labFault, labNetworkUp, listLabNames, isFaultName } from '../../lab/index.ts';
import { NinesError } from '../../core/errors.ts';
import type { ClusterHosts } from '../cluster-hosts.ts';
import type { DrillDeps } from './job.ts';
import type { FailoverReadiness } from './run.ts';
import type { LabView } from './params.ts';
import { DRILL_SQL } from './sql.ts';

/** The labs whose inventory is readable under the lab directory ($NINES_LAB_DIR or /var/lib/nines/labs). */
function machineLabs(): LabView[] {
  const out: LabView[] = [];
  for (const name of listLabNames()) {
    try {
      const inv = findInventory(name);
      if (inv) out.push({ name: inv.name, up: labNetworkUp(inv), hosts: inv.hosts });
    } catch {
      // An unreadable inventory is not a lab the drill can use.
    }
  }
  return out;
}

/** What the drill reads of the controller's recovery (its status for one cluster). */
export interface RecoveryView {
  status(cluster: string): {
    readonly supported: boolean;
    readonly enabled: boolean;
    readonly plan: {
      readonly action: string;
      readonly reason: string;
      readonly rpo?: { readonly action: string };
    } | null;
    readonly cooldownUntil: number | null;
    readonly running: { readonly phase: string } | null;
  };
}

/** Would the controller fail over now? Undefined when automatic failover is off or unsupported. */
export function failoverReadiness(recovery: RecoveryView, cluster: string): FailoverReadiness | undefined {
  const s = recovery.status(cluster);
  if (!s.supported || !s.enabled) return undefined;
  if (s.running) return { ready: false, reason: `a failover is running (phase ${s.running.phase})` };
  if (s.cooldownUntil !== null) {
    return {
      ready: false,
      reason: `in the failover cooldown until ${new Date(s.cooldownUntil).toISOString()}`,
    };
  }
  if (!s.plan) return { ready: false, reason: 'no live failover plan yet' };
  const ready = s.plan.action === 'promote' && s.plan.rpo?.action !== 'refuse';
  return { ready, reason: s.plan.reason };
}

/** `recovery`: the controller's recovery, looked up when a run asks (it is built after the drill's deps). */
export function realDrillDeps(pool: ClusterHosts, recovery?: () => RecoveryView): DrillDeps {
  return {
    ...(recovery ? { failoverReadiness: (cluster: string) => failoverReadiness(recovery(), cluster) } : {}),
    hosts: (spec) => pool.access(spec),
    labs: machineLabs,
    fault: async (lab, host, fault) => {
      if (!isFaultName(fault))
        throw new NinesError('NINES_E_INVALID_ARGUMENT', `unknown lab fault '${fault}'`);
      await labFault(lab, host, fault);
    },
    sql: (type: ClusterType) => DRILL_SQL[type],
    singlePrimary: (type: ClusterType) => engineFor(type).capabilities.singlePrimary,
    ensureAppUser,
  };
}
