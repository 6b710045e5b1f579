// Two actions a failover takes outside the engine: the cluster's running writing job is pre-empted (a failover
// never waits behind a job), and the old primary is taken out of every proxy's write backend at once through the
// HAProxy runtime API (milliseconds; open sessions to it are shut), tolerating a dead proxy.
import { toNinesError } from '../../core/errors.ts';
import type { ClusterSpec } from '../../core/spec.ts';
import type { HostAccess } from '../../engines/engine.ts';
import { WRITE_BACKEND } from '../../proxies/endpoint-view.ts';
import { runtimeChange } from '../../proxies/haproxy/runtime.ts';
import type { EventBus } from '../events.ts';
import type { JobRunner } from '../jobs/runner.ts';
import type { Logger } from '../logger.ts';
import type { Store } from '../store/store.ts';

/** Cancels the running writing job of the cluster (a clone, a node add …), with an event saying why. */
export function preemptWritingJobs(
  d: { readonly store: Store; readonly jobs: JobRunner; readonly events: EventBus; readonly logger: Logger },
  cluster: string,
  failoverId: number,
): void {
  for (const job of d.store.jobs.byState('running')) {
    if (job.cluster !== cluster || d.jobs.jobType(job.type)?.writes !== true) continue;
    try {
      d.jobs.cancel(job.id, `failover ${failoverId}`);
      d.events.emit({
        cluster,
        type: 'failover.preempted',
        severity: 'warning',
        message: `job ${job.id} (${job.type}) of ${cluster} cancelled: failover ${failoverId} takes precedence`,
        data: { failover: failoverId, job: job.id, jobType: job.type },
      });
    } catch (err) {
      d.logger.warn({ err, cluster, job: job.id }, 'could not cancel a job for a failover');
    }
  }
}

/** Puts `server` in maintenance in every proxy's write backend and shuts its sessions; one line per proxy. */
export async function cutWriter(
  spec: ClusterSpec,
  hosts: HostAccess,
  server: string,
  signal: AbortSignal,
  boundMs: number,
): Promise<string[]> {
  const proxies = spec.endpoint?.proxies ?? [];
  const bound = AbortSignal.any([signal, AbortSignal.timeout(boundMs)]);
  const results = await Promise.allSettled(
    proxies.map((p) =>
      runtimeChange(
        hosts.executor(p),
        [
          `set server ${WRITE_BACKEND}/${server} state maint`,
          `shutdown sessions server ${WRITE_BACKEND}/${server}`,
        ],
        bound,
      ),
    ),
  );
  return results.map((r, i) =>
    r.status === 'fulfilled'
      ? `${proxies[i]}: ${server} out of the write backend`
      : `${proxies[i]}: ${toNinesError(r.reason).message}`,
  );
}
