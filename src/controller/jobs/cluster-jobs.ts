// Cluster lifecycle job types kept in the inventory only: cluster.delete. The jobs that work on hosts
// (cluster.create, cluster.import, node.add, node.remove) live in controller/deploy/.
import { NinesError } from '../../core/errors.ts';
import type { JobType } from './types.ts';

export const clusterDeleteJob: JobType<Record<string, never>> = {
  type: 'cluster.delete',
  writes: true,
  resumable: true,
  async run(ctx) {
    const name = ctx.job.cluster ?? '';
    const { inventory } = ctx.services.store;
    await ctx.step('mark', () => {
      if (!inventory.hasCluster(name)) throw new NinesError('NINES_E_CLUSTER_NOT_FOUND', name);
      inventory.setClusterState(name, 'deleting');
    });
    ctx.progress(50);
    await ctx.step('remove', () => {
      inventory.deleteCluster(name);
      ctx.log(`cluster ${name} removed from the inventory with its credentials`);
      ctx.services.events.emit({
        cluster: name,
        type: 'cluster.deleted',
        severity: 'warning',
        message: `cluster ${name} deleted`,
        data: { jobId: ctx.job.id },
      });
    });
  },
};
