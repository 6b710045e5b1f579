// Cluster lifecycle job types. `cluster.create` is the placeholder the deploy work grows: validate -> store ->
// connectivity -> activate, each a checkpointed step (the job resumes after a restart). The connectivity step
// uses the injected ProbeHost so deploy can replace it without touching this file's callers.
import { z } from 'zod';
import { NinesError, toNinesError } from '../../core/errors.ts';
import { validateSpec, type ClusterSpec } from '../../core/spec.ts';
import { checkKeyFile, type ProbeHost } from '../probe.ts';
import type { JobContext, JobType } from './types.ts';

const CreateParams = z.object({ spec: z.record(z.string(), z.unknown()) });
type CreateParams = z.infer<typeof CreateParams>;

/** Rebuilds the full spec: the redacted spec from params + the credentials from the job's encrypted secrets. */
function fullSpec(ctx: JobContext<CreateParams>): ClusterSpec {
  return validateSpec({ ...ctx.params.spec, credentials: ctx.secrets() }).spec;
}

async function probeAll(
  ctx: JobContext<CreateParams>,
  spec: ClusterSpec,
  probeHost: ProbeHost,
): Promise<string[]> {
  const hosts = [...new Set([...spec.nodes.map((n) => n.host), ...(spec.endpoint?.proxies ?? [])])];
  const results = await Promise.allSettled(
    hosts.map((host) =>
      probeHost(
        {
          host,
          port: spec.ssh.port,
          user: spec.ssh.user,
          keyFile: spec.ssh.keyFile,
          ...(spec.ssh.knownHostsFile ? { knownHostsFile: spec.ssh.knownHostsFile } : {}),
        },
        ctx.signal,
      ),
    ),
  );
  const failed: string[] = [];
  results.forEach((r, i) => {
    const host = hosts[i] ?? '?';
    if (r.status === 'fulfilled') ctx.log(`${host}: reachable (${r.value.detail})`);
    else {
      const e = toNinesError(r.reason);
      ctx.log(`${host}: NOT reachable: ${e.code}: ${e.message}`);
      failed.push(host);
    }
  });
  ctx.signal.throwIfAborted();
  if (failed.length > 0) {
    throw new NinesError(
      'NINES_E_HOST_UNREACHABLE',
      `${failed.length} of ${hosts.length} hosts: ${failed.join(', ')}`,
      {
        context: { hosts: failed },
      },
    );
  }
  return hosts;
}

export function clusterCreateJob(probeHost: ProbeHost): JobType<CreateParams> {
  return {
    type: 'cluster.create',
    writes: true,
    resumable: true,
    params: CreateParams,
    async run(ctx) {
      const { inventory } = ctx.services.store;
      const name = ctx.job.cluster ?? '';
      try {
        await ctx.step('validate', async () => {
          const spec = fullSpec(ctx);
          await checkKeyFile(spec.ssh.keyFile);
          if (inventory.hasCluster(spec.name)) throw new NinesError('NINES_E_CLUSTER_EXISTS', spec.name);
          ctx.log(`spec of ${spec.type} cluster ${spec.name} (${spec.nodes.length} nodes) is valid`);
        });
        ctx.progress(10);
        await ctx.step('store', () => {
          inventory.createCluster(fullSpec(ctx), 'creating');
          ctx.log(`cluster ${name} stored in the inventory (credentials encrypted)`);
        });
        ctx.progress(30);
        await ctx.step('connectivity', async () => {
          const spec = fullSpec(ctx);
          const hosts = await probeAll(ctx, spec, probeHost);
          for (const n of spec.nodes) inventory.updateNode(name, n, { state: 'reachable' });
          return { hosts };
        });
        ctx.progress(80);
        await ctx.step('activate', () => {
          inventory.setClusterState(name, 'active');
          ctx.services.events.emit({
            cluster: name,
            type: 'cluster.created',
            message: `cluster ${name} created`,
            data: { jobId: ctx.job.id },
          });
        });
      } catch (err) {
        const e = toNinesError(err);
        if (inventory.getCluster(name)?.state === 'creating' && !ctx.signal.aborted) {
          inventory.setClusterState(name, 'failed', { error: { code: e.code, message: e.message } });
        }
        throw err;
      }
    },
  };
}

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
