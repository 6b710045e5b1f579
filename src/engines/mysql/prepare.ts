// The deploy steps both MariaDB engines share, from a bare host to an initialised (not yet started) server:
// reachable -> packages -> port -> option files -> data directory. Each step covers the given nodes in
// parallel and is idempotent.
import { NinesError, toNinesError } from '../../core/errors.ts';
import type { ClusterSpec, NodeSpec } from '../../core/spec.ts';
import type { Executor } from '../../hosts/executor.ts';
import type { ConfigFile, EngineContext } from '../engine.ts';
import { checkPort, checkReachable, ensurePackages, initDatadir, writeConfigFiles } from './host.ts';

export function executorOf(ctx: Pick<EngineContext, 'hosts'>, node: Pick<NodeSpec, 'host'>): Executor {
  return ctx.hosts.executor(node.host);
}

export function label(node: Pick<NodeSpec, 'host' | 'port'>): string {
  return `${node.host}:${node.port}`;
}

export function labels(nodes: readonly NodeSpec[]): string {
  return nodes.map(label).join(', ');
}

/**
 * Runs fn for every node at once and waits for all of them; if any failed, throws the first failure (in node
 * order) after the others finished, so no command is left running behind the error.
 */
export async function forEachNode<T>(
  nodes: readonly NodeSpec[],
  fn: (node: NodeSpec) => Promise<T>,
): Promise<T[]> {
  const settled = await Promise.allSettled(nodes.map((n) => fn(n)));
  const failures = settled.flatMap((s, i) =>
    s.status === 'rejected' ? [{ node: nodes[i], reason: s.reason as unknown }] : [],
  );
  const first = failures[0];
  if (first) {
    const err = toNinesError(first.reason);
    if (failures.length > 1) {
      const others = failures.slice(1).map((f) => (f.node ? label(f.node) : '?'));
      err.message += ` (also failed: ${others.join(', ')})`;
    }
    throw err;
  }
  return settled.map((s) => (s as PromiseFulfilledResult<T>).value);
}

export interface PrepareOptions {
  readonly packages: (spec: ClusterSpec) => readonly string[];
  readonly render: (spec: ClusterSpec, node: NodeSpec) => readonly ConfigFile[];
  /** Files to delete when render does not produce them (e.g. SST credentials after a method change). */
  readonly staleFiles?: (spec: ClusterSpec, node: NodeSpec) => readonly string[];
}

/** Prepares nodes up to an initialised data directory. Returns the nodes whose server already ran. */
export async function prepareNodes(
  ctx: EngineContext,
  nodes: readonly NodeSpec[],
  options: PrepareOptions,
): Promise<string[]> {
  const { spec } = ctx;
  const what = labels(nodes);
  await ctx.step(`check hosts reachable (${what})`, () =>
    forEachNode(nodes, (n) => checkReachable(executorOf(ctx, n), ctx.signal)),
  );
  await ctx.step(`check packages (${what})`, () =>
    forEachNode(nodes, (n) => ensurePackages(executorOf(ctx, n), options.packages(spec), (l) => ctx.log(l))),
  );
  const running = await ctx.step(`check ports (${what})`, async () => {
    const ours = await forEachNode(nodes, (n) => checkPort(executorOf(ctx, n), n.port));
    return nodes.filter((_n, i) => ours[i]).map(label);
  });
  if (running.length > 0) ctx.log(`already running (left as they are): ${running.join(', ')}`);
  await ctx.step(`write configuration (${what})`, () =>
    forEachNode(nodes, async (n) => {
      const ex = executorOf(ctx, n);
      await writeConfigFiles(ex, options.render(spec, n));
      for (const path of options.staleFiles?.(spec, n) ?? []) {
        await ex.exec(['rm', '-f', '--', path], { sudo: true });
      }
    }),
  );
  await ctx.step(`initialise data directories (${what})`, async () => {
    const initialised = await forEachNode(nodes, (n) => initDatadir(executorOf(ctx, n), ctx.signal));
    const fresh = nodes.filter((_n, i) => initialised[i]).map(label);
    if (fresh.length > 0) ctx.log(`initialised ${fresh.join(', ')}`);
  });
  return running;
}

/** The node's address in the spec, or a NINES_E_INVALID_ARGUMENT naming it. */
export function requireSpecNode(spec: ClusterSpec, node: Pick<NodeSpec, 'host' | 'port'>): NodeSpec {
  const found = spec.nodes.find((n) => n.host === node.host && n.port === node.port);
  if (!found) {
    throw new NinesError('NINES_E_INVALID_ARGUMENT', `${label(node)} is not a node of cluster ${spec.name}`);
  }
  return found;
}
