// Submitting a drill: the checks that answer at once (cluster drillable, on lab hosts, no other drill on it,
// params valid), then the queued drill.failover job. The job checks again when it starts.
import { NinesError } from '../../core/errors.ts';
import type { JobRunner } from '../jobs/runner.ts';
import type { JobRecord } from '../store/job-repo.ts';
import type { Store } from '../store/store.ts';
import { DRILL_JOB, drillTarget, type DrillDeps } from './job.ts';

export interface DrillHost {
  readonly store: Store;
  readonly jobs: JobRunner;
}

/** Queues drill.failover `{fault, repeat?, rate?, timeoutMs?}` on cluster `name`. */
export function submitDrill(
  host: DrillHost,
  deps: DrillDeps,
  name: string,
  params: unknown,
  requestedBy?: string,
): JobRecord {
  drillTarget(host.store.inventory, deps, name);
  const active = [...host.store.jobs.byState('running'), ...host.store.jobs.byState('queued')].find(
    (j) => j.type === DRILL_JOB && j.cluster === name,
  );
  if (active) {
    throw new NinesError('NINES_E_DRILL_BUSY', `job ${active.id} (${active.state}) on cluster ${name}`, {
      context: { cluster: name, jobId: active.id },
      hint: `Wait for job ${active.id} to finish ("nines job logs ${active.id} --follow"), or cancel it with "nines job cancel ${active.id}": the fault is reverted either way.`,
    });
  }
  // Invalid params are reported by submit, naming the field as params.x.
  return host.jobs.submit({
    type: DRILL_JOB,
    cluster: name,
    params: (params ?? {}) as Record<string, unknown>,
    requestedBy: requestedBy ?? null,
  });
}
