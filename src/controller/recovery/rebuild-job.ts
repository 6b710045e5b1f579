// node.rebuild: a node that cannot rejoin by itself (diverged, or broken) is re-cloned from the primary and
// started as its replica (`nines node rebuild CLUSTER --host H`). A writing job: it waits for the cluster's other
// writing jobs, and a failover pre-empts it.
import { z } from 'zod';
import { NinesError } from '../../core/errors.ts';
import { validateSpec } from '../../core/spec.ts';
import type { JobType } from '../jobs/types.ts';
import type { RecoveryService } from './recovery-service.ts';

export const NodeRebuildParams = z.strictObject({
  host: z.string('expected a host name or address').min(1, 'expected a host name or address').max(253),
  port: z
    .number('expected a port')
    .int()
    .min(1, 'expected 1-65535')
    .max(65535, 'expected 1-65535')
    .optional(),
});
export type NodeRebuildParams = z.infer<typeof NodeRebuildParams>;

export function nodeRebuildJob(recovery: RecoveryService): JobType<NodeRebuildParams> {
  return {
    type: 'node.rebuild',
    writes: true,
    resumable: false,
    params: NodeRebuildParams,
    async run(ctx) {
      const cluster = ctx.cluster();
      if (!cluster) throw new NinesError('NINES_E_CLUSTER_NOT_FOUND', ctx.job.cluster ?? '');
      const spec = validateSpec({
        ...cluster.spec,
        credentials: ctx.services.store.inventory.credentials(cluster.name),
      }).spec;
      const node = spec.nodes.find(
        (n) => n.host === ctx.params.host && (ctx.params.port === undefined || n.port === ctx.params.port),
      );
      if (!node) {
        throw new NinesError('NINES_E_NODE_NOT_FOUND', `${ctx.params.host} in cluster ${cluster.name}`, {
          context: { cluster: cluster.name, host: ctx.params.host },
        });
      }
      await ctx.step(`rebuild ${node.host}:${node.port} from the primary`, () =>
        recovery.rebuild(cluster.name, node, ctx.signal, (l) => ctx.log(l)),
      );
    },
  };
}
