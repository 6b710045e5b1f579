// Add a standby to a running cluster, or remove one. The primary is the one observed (discover), not the spec's
// hint, so both work after a failover. pg_hba and synchronous_standby_names follow the new membership.
import { NinesError, isNinesError } from '../../core/errors.ts';
import type { ClusterSpec, NodeSpec } from '../../core/spec.ts';
import { nodeAddress, type EngineContext, type RemoveNodeOptions, type Topology } from '../engine.ts';
import { createSlotSql, slotName } from './config.ts';
import { asAdmin, eachNode, pollUntil, sameNode } from './common.ts';
import {
  checkNode,
  provisionStandby,
  standbysOf,
  verifyReplication,
  waitStreaming,
  writeNodeFiles,
} from './deploy.ts';
import { discover } from './discover.ts';
import { probeNode, service } from './server.ts';

function findNode(spec: ClusterSpec, address: string): NodeSpec | undefined {
  return spec.nodes.find((n) => nodeAddress(n) === address);
}

async function observedPrimary(ctx: EngineContext): Promise<NodeSpec> {
  const topology = await discover(ctx);
  const observed = topology.nodes.find((n) => n.role === 'primary');
  const primary = observed ? findNode(ctx.spec, nodeAddress(observed)) : undefined;
  if (!primary) {
    throw new NinesError('NINES_E_TOPOLOGY_INCONSISTENT', 'no node of the cluster runs as primary', {
      context: { nodes: topology.nodes },
    });
  }
  return primary;
}

/** Rewrites files on the running nodes (pg_hba, synchronous_standby_names) and reloads them. */
async function reconfigure(ctx: EngineContext, nodes: readonly NodeSpec[], primary: NodeSpec): Promise<void> {
  await eachNode(nodes, async (node) => {
    const ex = ctx.hosts.executor(node.host);
    await writeNodeFiles(ctx, node, primary);
    const probe = await probeNode(ex, ctx.spec, node, ctx.signal);
    if (probe.running) await service(ex, ctx.spec, 'reload', probe.systemd);
  });
}

export async function addNode(ctx: EngineContext, node: NodeSpec): Promise<Topology> {
  const primary = await observedPrimary(ctx);
  if (sameNode(node, primary)) {
    throw new NinesError('NINES_E_INVALID_ARGUMENT', `${nodeAddress(node)} is already the primary`);
  }
  const a = nodeAddress(node);
  const others = ctx.spec.nodes.filter((n) => !sameNode(n, node));
  await ctx.step(`${a}: check host`, async () => void (await checkNode(ctx, node)));
  await ctx.step(`allow ${a} on every node (pg_hba, synchronous_standby_names)`, () =>
    reconfigure(ctx, others, primary),
  );
  await ctx.step(`primary: replication slot for ${a}`, () =>
    asAdmin(ctx, primary, (c) => c.query(createSlotSql(slotName(node)))),
  );
  await ctx.step(`${a}: clone and start`, async () => {
    const rows = await asAdmin(ctx, primary, (c) =>
      c.query<{ id: string }>('SELECT system_identifier::text AS id FROM pg_control_system()'),
    );
    await provisionStandby(ctx, node, primary, rows[0]?.id ?? '');
  });
  await ctx.step(`${a}: streaming`, async () => {
    await waitStreaming(ctx, primary, [node]);
    await verifyReplication(ctx, primary, [node]);
  });
  return discover(ctx);
}

/** Stops the node; a node whose host is gone is only logged (it is being removed anyway). */
async function stopNode(ctx: EngineContext, node: NodeSpec): Promise<void> {
  const ex = ctx.hosts.executor(node.host);
  try {
    const probe = await probeNode(ex, ctx.spec, node, ctx.signal);
    if (probe.running) await service(ex, ctx.spec, 'stop', probe.systemd);
  } catch (err) {
    if (!isNinesError(err, 'NINES_E_HOST_UNREACHABLE')) throw err;
    ctx.log(`${nodeAddress(node)}: host unreachable; not stopped (${err.message})`);
  }
}

async function dropSlot(ctx: EngineContext, primary: NodeSpec, slot: string): Promise<void> {
  await pollUntil(
    async () => {
      const rows = await asAdmin(ctx, primary, (c) =>
        c.query<{ active: boolean }>('SELECT active FROM pg_replication_slots WHERE slot_name = $1', [slot]),
      );
      const row = rows[0];
      if (!row) return true;
      if (row.active) {
        await asAdmin(ctx, primary, (c) =>
          c.query('SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1', [
            slot,
          ]),
        );
        return undefined;
      }
      await asAdmin(ctx, primary, (c) => c.query('SELECT pg_drop_replication_slot($1)', [slot]));
      return true;
    },
    {
      timeoutMs: 15_000,
      signal: ctx.signal,
      onTimeout: () =>
        new NinesError('NINES_E_DB_QUERY', `slot ${slot} on ${nodeAddress(primary)} stays active`),
    },
  );
}

export async function removeNode(
  ctx: EngineContext,
  node: NodeSpec,
  options: RemoveNodeOptions,
): Promise<Topology> {
  const topology = await discover(ctx);
  const observed = topology.nodes.find((n) => n.role === 'primary');
  const primary = observed ? findNode(ctx.spec, nodeAddress(observed)) : undefined;
  const a = nodeAddress(node);
  if (primary && sameNode(primary, node) && !options.force) {
    throw new NinesError('NINES_E_REMOVE_REFUSED', `${a} is the primary`, {
      hint: 'Switch the primary over to another node first, or pass force to remove it anyway (the cluster is then without a primary).',
    });
  }
  const rest: ClusterSpec = { ...ctx.spec, nodes: ctx.spec.nodes.filter((n) => !sameNode(n, node)) };
  const restCtx: EngineContext = {
    ...ctx,
    spec: rest,
    log: (l) => ctx.log(l),
    step: (n, f) => ctx.step(n, f),
  };
  await ctx.step(`${a}: stop`, () => stopNode(ctx, node));
  if (primary && !sameNode(primary, node)) {
    await ctx.step(`primary: drop replication slot of ${a}`, () => dropSlot(ctx, primary, slotName(node)));
    await ctx.step(`remove ${a} from pg_hba and synchronous_standby_names`, () =>
      reconfigure(restCtx, standbysOf(rest, primary).concat([primary]), primary),
    );
  }
  return discover(restCtx);
}
