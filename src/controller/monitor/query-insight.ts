// Query insight through the engines (Engine.openQueryInsight): top statements and running queries of one node or
// of every node at once (each bounded by a timeout; a node that fails gives an error entry, not a failed request),
// and the `query.kill` job: cancelling a statement is a change on a production server, so it is a job (audited:
// who asked, on which node, which query id) with an event of its own.
import { z } from 'zod';
import { NinesError, toNinesError } from '../../core/errors.ts';
import type { ClusterSpec, NodeSpec } from '../../core/spec.ts';
import type { QueryInsight, RunningQuery, StatementStat } from '../../engines/engine.ts';
import type { JobType } from '../jobs/types.ts';

export type OpenInsight = (spec: ClusterSpec, node: NodeSpec) => QueryInsight;

export interface NodeResult<T> {
  readonly node: string;
  readonly rows: readonly T[];
  readonly error?: { readonly code: string; readonly message: string };
}

export const INSIGHT_TIMEOUT_MS = 10_000;

/** Finds a node of the spec by host:port, or by host when only one node lives on that host. */
export function findNode(spec: ClusterSpec, name: string): NodeSpec {
  const exact = spec.nodes.find((n) => `${n.host}:${n.port}` === name);
  const byHost = spec.nodes.filter((n) => n.host === name);
  const node = exact ?? (byHost.length === 1 ? byHost[0] : undefined);
  if (!node) {
    throw new NinesError('NINES_E_NODE_NOT_FOUND', `cluster ${spec.name} has no node ${name}`, {
      context: { cluster: spec.name, node: name, nodes: spec.nodes.map((n) => `${n.host}:${n.port}`) },
    });
  }
  return node;
}

async function withInsight<T>(
  open: OpenInsight,
  spec: ClusterSpec,
  node: NodeSpec,
  fn: (q: QueryInsight) => Promise<T>,
): Promise<T> {
  const insight = open(spec, node);
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new NinesError('NINES_E_MONITOR_PROBE_TIMEOUT', `${node.host}:${node.port}: query insight`, {
              context: { node: `${node.host}:${node.port}`, timeoutMs: INSIGHT_TIMEOUT_MS },
            }),
          ),
        INSIGHT_TIMEOUT_MS,
      );
    });
    return await Promise.race([fn(insight), timeout]);
  } finally {
    clearTimeout(timer);
    await insight.close().catch(() => undefined);
  }
}

/** Runs fn on one node (when given) or every node concurrently. */
export async function perNode<T>(
  open: OpenInsight,
  spec: ClusterSpec,
  node: string | undefined,
  fn: (q: QueryInsight) => Promise<T[]>,
): Promise<NodeResult<T>[]> {
  const nodes = node ? [findNode(spec, node)] : spec.nodes;
  return Promise.all(
    nodes.map(async (n): Promise<NodeResult<T>> => {
      const key = `${n.host}:${n.port}`;
      try {
        return { node: key, rows: await withInsight(open, spec, n, fn) };
      } catch (err) {
        const e = toNinesError(err);
        return { node: key, rows: [], error: { code: e.code, message: e.message } };
      }
    }),
  );
}

export function topStatements(
  open: OpenInsight,
  spec: ClusterSpec,
  options: { node?: string; limit: number; orderBy: 'totalTime' | 'calls' | 'rows' },
): Promise<NodeResult<StatementStat>[]> {
  return perNode(open, spec, options.node, (q) =>
    q.topStatements({ limit: options.limit, orderBy: options.orderBy }),
  );
}

export function runningQueries(
  open: OpenInsight,
  spec: ClusterSpec,
  node?: string,
): Promise<NodeResult<RunningQuery>[]> {
  return perNode(open, spec, node, (q) => q.runningQueries());
}

export const KillParams = z.strictObject({
  node: z.string().min(1, 'expected host:port'),
  id: z.number('expected a query id').int('expected an integer').min(0, 'expected >= 0'),
  terminate: z.boolean().optional(),
});
export type KillParams = z.infer<typeof KillParams>;

/** The query.kill job. `fullSpec` returns the cluster's spec with credentials (from the store). */
export function queryKillJob(
  open: OpenInsight,
  fullSpec: (cluster: string) => ClusterSpec,
): JobType<KillParams> {
  return {
    type: 'query.kill',
    writes: false,
    params: KillParams,
    async run(ctx) {
      const cluster = ctx.job.cluster ?? '';
      const spec = fullSpec(cluster);
      const node = findNode(spec, ctx.params.node);
      const key = `${node.host}:${node.port}`;
      const how = ctx.params.terminate ? 'terminate the session of' : 'cancel';
      const by = ctx.job.requestedBy ?? 'unknown';
      ctx.log(`${by} asked to ${how} query ${ctx.params.id} on ${key}`);
      await ctx.step('kill', async () => {
        const running = await withInsight(open, spec, node, (q) => q.runningQueries());
        const target = running.find((r) => r.id === ctx.params.id);
        ctx.log(
          target
            ? `query ${target.id} of ${target.user} running for ${target.seconds} s: ${target.text.slice(0, 200)}`
            : `query ${ctx.params.id} is not among the running client statements; sending the kill anyway`,
        );
        await withInsight(open, spec, node, (q) =>
          q.killQuery(ctx.params.id, ctx.params.terminate ? { terminate: true } : {}),
        );
        return { node: key, id: ctx.params.id };
      });
      ctx.services.events.emit({
        cluster,
        type: 'query.killed',
        severity: 'warning',
        message: `query ${ctx.params.id} on ${key} ${ctx.params.terminate ? 'terminated' : 'cancelled'} by ${by}`,
        data: {
          node: key,
          queryId: ctx.params.id,
          terminate: ctx.params.terminate === true,
          by,
          jobId: ctx.job.id,
        },
      });
    },
  };
}
