// The job types that change clusters on their hosts: cluster.create (deploy, and retry of a failed deploy),
// cluster.import (discover without changing anything), node.add and node.remove. Each engine step is a job
// step, each engine log line a job log line. None is resumable after a controller restart: engine steps are
// idempotent, so the operator re-runs the operation instead (docs/operations.md), and a half-done step never
// resumes from a stale checkpoint.
import { z } from 'zod';
import { NinesError, toNinesError } from '../../core/errors.ts';
import { validateSpec, type ClusterSpec, type NodeSpec } from '../../core/spec.ts';
import type { Topology } from '../../engines/engine.ts';
import type { JobContext, JobType } from '../jobs/types.ts';
import { requireRegisteredKey } from '../cluster-hosts.ts';
import type { ClusterState, InventoryRepo } from '../store/inventory-repo.ts';
import {
  engineContext,
  probeHosts,
  recordTopology,
  requireCluster,
  specHosts,
  storedSpec,
  topologySummary,
} from './context.ts';
import type { DeployDeps, EndpointSummary } from './deps.ts';

/** States in which `cluster create` with the same spec runs the deploy again. */
export const RETRYABLE_STATES: ReadonlySet<ClusterState> = new Set(['failed', 'deploying']);
/** States in which nodes may be added or removed. */
export const CHANGEABLE_STATES: ReadonlySet<ClusterState> = new Set(['healthy', 'degraded']);

const SpecParams = z.object({ spec: z.record(z.string(), z.unknown()), retry: z.boolean().optional() });
type SpecParams = z.infer<typeof SpecParams>;

const host = z.string('expected a host name or address').min(1, 'expected a host name or address');
const port = z
  .number('expected a port')
  .int('expected a port')
  .min(1, 'expected 1-65535')
  .max(65535, 'expected 1-65535');

export const NodeAddParams = z.strictObject({
  host,
  port: port.optional(),
  datacenter: z.string('expected a datacenter label').optional(),
  priority: z
    .number('expected 0-1000')
    .int()
    .min(0, 'expected 0-1000')
    .max(1000, 'expected 0-1000')
    .optional(),
});
export type NodeAddParams = z.infer<typeof NodeAddParams>;

export const NodeRemoveParams = z.strictObject({
  host,
  port: port.optional(),
  force: z.boolean('expected true or false').default(false),
});
export type NodeRemoveParams = z.infer<typeof NodeRemoveParams>;

function paramsSpec(ctx: JobContext<SpecParams>): ClusterSpec {
  return validateSpec({ ...ctx.params.spec, credentials: ctx.secrets() }).spec;
}

const label = (n: { host: string; port: number }): string => `${n.host}:${n.port}`;

function describeTopology(t: Topology): string {
  return t.nodes.map((n) => `${label(n)} ${n.role}${n.state ? ` (${n.state})` : ''}`).join(', ');
}

async function controllerAddress(
  ctx: JobContext<unknown>,
  spec: ClusterSpec,
  deps: DeployDeps,
): Promise<string> {
  return ctx.step('controller address', async () => {
    const address = await deps.controllerAddress(spec, ctx.signal);
    ctx.log(`the nodes see the controller as ${address}`);
    return address;
  });
}

/** Marks a cluster `failed` with the error, when the failing job left it `deploying`. */
function markFailed(inventory: InventoryRepo, name: string, jobId: number, err: unknown): void {
  if (inventory.getCluster(name)?.state !== 'deploying') return;
  const e = toNinesError(err);
  inventory.setClusterState(name, 'failed', {
    error: { code: e.code, message: e.message, hint: e.hint, job: jobId },
  });
}

async function deployAll(
  ctx: JobContext<SpecParams>,
  spec: ClusterSpec,
  deps: DeployDeps,
): Promise<{ topology: Topology; endpoint: EndpointSummary | null; address: string }> {
  await ctx.step('connectivity', () => probeHosts(ctx, spec, specHosts(spec), deps.probeHost));
  const address = await controllerAddress(ctx, spec, deps);
  ctx.progress(15);
  const ectx = engineContext(ctx, spec, deps, address, { from: 15, to: 80 });
  const topology = await deps.engineFor(spec.type).deploy(ectx);
  ctx.log(`topology: ${describeTopology(topology)}`);
  ctx.progress(80);
  const endpoint = spec.endpoint
    ? await deps.deployEndpoint(engineContext(ctx, spec, deps, address, { from: 80, to: 98 }), topology)
    : null;
  return { topology, endpoint, address };
}

export function clusterCreateJob(deps: DeployDeps): JobType<SpecParams> {
  return {
    type: 'cluster.create',
    writes: true,
    resumable: false,
    params: SpecParams,
    async run(ctx) {
      const { inventory } = ctx.services.store;
      const name = ctx.job.cluster ?? '';
      const spec = paramsSpec(ctx);
      try {
        await ctx.step('validate', () => {
          requireRegisteredKey(ctx.services.store.keys, spec.ssh.key);
          const existing = inventory.getCluster(name);
          if (existing && !RETRYABLE_STATES.has(existing.state)) {
            throw new NinesError('NINES_E_CLUSTER_EXISTS', `${name} (${existing.state})`);
          }
          ctx.log(`spec of ${spec.type} cluster ${spec.name} (${spec.nodes.length} nodes) is valid`);
        });
        ctx.progress(5);
        await ctx.step('store in the inventory', () => {
          if (inventory.hasCluster(name)) {
            inventory.replaceSpec(spec);
            inventory.setClusterState(name, 'deploying', { error: null });
            ctx.log(`cluster ${name} exists from an earlier attempt: deploying again (steps are idempotent)`);
          } else {
            inventory.createCluster(spec, 'deploying');
            ctx.log(`cluster ${name} stored in the inventory as deploying (credentials encrypted)`);
          }
        });
        const { topology, endpoint, address } = await deployAll(ctx, spec, deps);
        await ctx.step('record topology', () => {
          recordTopology(inventory, name, topology);
          inventory.setClusterState(name, 'healthy', {
            topology: topologySummary(topology),
            endpoint,
            controllerAddress: address,
            deployedAt: new Date().toISOString(),
            error: null,
          });
          ctx.services.events.emit({
            cluster: name,
            type: 'cluster.created',
            message: `cluster ${name} created: deployed and healthy (${spec.type}, ${spec.nodes.length} nodes)`,
            data: { jobId: ctx.job.id },
          });
          ctx.log(`cluster ${name} is healthy`);
        });
      } catch (err) {
        markFailed(inventory, name, ctx.job.id, err);
        throw err;
      }
    },
  };
}

export function clusterImportJob(deps: DeployDeps): JobType<SpecParams> {
  return {
    type: 'cluster.import',
    writes: true,
    resumable: false,
    params: SpecParams,
    async run(ctx) {
      const { inventory } = ctx.services.store;
      const name = ctx.job.cluster ?? '';
      const spec = paramsSpec(ctx);
      await ctx.step('validate', () => {
        requireRegisteredKey(ctx.services.store.keys, spec.ssh.key);
        if (inventory.hasCluster(name)) throw new NinesError('NINES_E_CLUSTER_EXISTS', name);
        ctx.log(
          `importing ${spec.type} cluster ${name} (${spec.nodes.length} nodes); nothing is changed on the hosts`,
        );
      });
      await ctx.step('connectivity', () =>
        probeHosts(ctx, spec, [...new Set(spec.nodes.map((n) => n.host))], deps.probeHost),
      );
      deps.forget(name);
      const address = await controllerAddress(ctx, spec, deps);
      const ectx = engineContext(ctx, spec, deps, address, { from: 20, to: 90 });
      const topology = await deps.engineFor(spec.type).discover(ectx);
      ctx.log(`topology: ${describeTopology(topology)}`);
      const unknown = topology.nodes.filter((n) => n.role === 'unknown');
      const state: ClusterState = unknown.length > 0 ? 'degraded' : 'healthy';
      if (unknown.length > 0) ctx.log(`warning: no answer from ${unknown.map(label).join(', ')}`);
      await ctx.step('store in the inventory', () => {
        if (inventory.hasCluster(name)) throw new NinesError('NINES_E_CLUSTER_EXISTS', name);
        inventory.createCluster(spec, state);
        recordTopology(inventory, name, topology);
        inventory.setClusterState(name, state, {
          topology: topologySummary(topology),
          controllerAddress: address,
          importedAt: new Date().toISOString(),
        });
        ctx.services.events.emit({
          cluster: name,
          type: 'cluster.imported',
          severity: state === 'healthy' ? 'info' : 'warning',
          message: `cluster ${name} imported (${state})`,
          data: { jobId: ctx.job.id },
        });
        ctx.log(`cluster ${name} stored as ${state}`);
      });
    },
  };
}

function changeableSpec(ctx: JobContext<unknown>): { spec: ClusterSpec; state: ClusterState } {
  const { inventory } = ctx.services.store;
  const cluster = requireCluster(inventory, ctx.job.cluster ?? '');
  if (!CHANGEABLE_STATES.has(cluster.state)) {
    throw new NinesError('NINES_E_CLUSTER_NOT_READY', `cluster ${cluster.name} is ${cluster.state}`);
  }
  return { spec: storedSpec(inventory, cluster), state: cluster.state };
}

/** The spec with the node of `params` appended (defaults of the type applied); throws if it is there already. */
export function specWithNode(
  spec: ClusterSpec,
  params: NodeAddParams,
): { spec: ClusterSpec; node: NodeSpec } {
  const next = validateSpec({
    ...spec,
    nodes: [
      ...spec.nodes,
      {
        host: params.host,
        ...(params.port !== undefined ? { port: params.port } : {}),
        ...(params.datacenter !== undefined ? { datacenter: params.datacenter } : {}),
        ...(params.priority !== undefined ? { priority: params.priority } : {}),
      },
    ],
  }).spec;
  const node = next.nodes.at(-1);
  if (!node) throw new Error('unreachable: the spec has the node just added');
  if (spec.nodes.some((n) => n.host === node.host && n.port === node.port)) {
    throw new NinesError(
      'NINES_E_INVALID_ARGUMENT',
      `${label(node)} is already a node of cluster ${spec.name}`,
    );
  }
  return { spec: next, node };
}

/** The node of `params` in the spec, and the spec without it. */
export function specWithoutNode(spec: ClusterSpec, params: { host: string; port?: number | undefined }) {
  const matches = spec.nodes.filter(
    (n) => n.host === params.host && (params.port === undefined || n.port === params.port),
  );
  const what = params.port === undefined ? params.host : `${params.host}:${params.port}`;
  const node = matches[0];
  if (!node) throw new NinesError('NINES_E_NODE_NOT_FOUND', `${what} in cluster ${spec.name}`);
  if (matches.length > 1) {
    throw new NinesError(
      'NINES_E_INVALID_ARGUMENT',
      `${what} runs ${matches.length} nodes of ${spec.name}: give the port`,
    );
  }
  if (spec.nodes.length === 1) {
    throw new NinesError(
      'NINES_E_REMOVE_REFUSED',
      `${label(node)} is the last node of ${spec.name}: delete the cluster instead`,
    );
  }
  const rest = validateSpec({ ...spec, nodes: spec.nodes.filter((n) => n !== node) }).spec;
  return { node, rest };
}

function finishChange(
  ctx: JobContext<unknown>,
  next: ClusterSpec,
  topology: Topology,
  endpoint: EndpointSummary | null,
  event: { type: string; message: string },
): void {
  const { inventory } = ctx.services.store;
  const name = next.name;
  inventory.replaceSpec(next);
  recordTopology(inventory, name, topology);
  const unknown = topology.nodes.some((n) => n.role === 'unknown');
  inventory.setClusterState(name, unknown ? 'degraded' : 'healthy', {
    topology: topologySummary(topology),
    ...(endpoint ? { endpoint } : {}),
  });
  ctx.services.events.emit({
    cluster: name,
    type: event.type,
    message: event.message,
    data: { jobId: ctx.job.id },
  });
  ctx.log(event.message);
}

export function nodeAddJob(deps: DeployDeps): JobType<NodeAddParams> {
  return {
    type: 'node.add',
    writes: true,
    resumable: false,
    params: NodeAddParams,
    async run(ctx) {
      const { spec: current } = changeableSpec(ctx);
      const { spec: next, node } = specWithNode(current, ctx.params);
      ctx.log(`adding ${label(node)} to ${current.type} cluster ${current.name}`);
      await ctx.step('connectivity', () => probeHosts(ctx, next, [node.host], deps.probeHost));
      const address = await controllerAddress(ctx, current, deps);
      const ectx = engineContext(ctx, next, deps, address);
      const topology = await deps.engineFor(next.type).addNode(ectx, node);
      ctx.log(`topology: ${describeTopology(topology)}`);
      const endpoint = next.endpoint ? await deps.updateEndpoint(ectx, topology) : null;
      await ctx.step('record topology', () =>
        finishChange(ctx, next, topology, endpoint, {
          type: 'node.added',
          message: `node ${label(node)} added to cluster ${next.name}`,
        }),
      );
    },
  };
}

export function nodeRemoveJob(deps: DeployDeps): JobType<NodeRemoveParams> {
  return {
    type: 'node.remove',
    writes: true,
    resumable: false,
    params: NodeRemoveParams,
    async run(ctx) {
      const { spec: current } = changeableSpec(ctx);
      const { node, rest } = specWithoutNode(current, ctx.params);
      ctx.log(`removing ${label(node)} from cluster ${current.name}${ctx.params.force ? ' (forced)' : ''}`);
      const address = await controllerAddress(ctx, current, deps);
      const ectx = engineContext(ctx, current, deps, address);
      const observed = await deps.engineFor(current.type).removeNode(ectx, node, { force: ctx.params.force });
      const topology: Topology = {
        type: observed.type,
        nodes: observed.nodes.filter((n) => !(n.host === node.host && n.port === node.port)),
      };
      ctx.log(`topology: ${describeTopology(topology)}`);
      const endpoint = rest.endpoint
        ? await deps.updateEndpoint(engineContext(ctx, rest, deps, address), topology)
        : null;
      await ctx.step('record topology', () =>
        finishChange(ctx, rest, topology, endpoint, {
          type: 'node.removed',
          message: `node ${label(node)} removed from cluster ${rest.name}`,
        }),
      );
    },
  };
}

/** Registers the four job types on a runner. */
export function deployJobTypes(deps: DeployDeps): JobType<never>[] {
  return [
    clusterCreateJob(deps),
    clusterImportJob(deps),
    nodeAddJob(deps),
    nodeRemoveJob(deps),
  ] as unknown as JobType<never>[];
}
