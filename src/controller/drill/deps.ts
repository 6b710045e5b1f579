// The drill's real dependencies: SSH through the controller's ClusterHosts, the labs of this machine, lab faults,
// the drill SQL of each type and the engine's application user.
import type { ClusterType } from '../../core/spec.ts';
import { engineFor, ensureAppUser } from '../../engines/registry.ts';
import { findInventory, labFault, labNetworkUp, listLabNames, isFaultName } from '../../lab/index.ts';
import { NinesError } from '../../core/errors.ts';
import type { ClusterHosts } from '../cluster-hosts.ts';
import type { DrillDeps } from './job.ts';
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

export function realDrillDeps(pool: ClusterHosts): DrillDeps {
  return {
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
