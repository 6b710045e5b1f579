// Helpers shared by deploy, discover and nodes: the admin connection to a node, polling with a deadline,
// running per-node work in parallel with every failure reported.
import { ERRORS, NinesError, isNinesError } from '../../core/errors.ts';
import type { ClusterSpec, NodeSpec } from '../../core/spec.ts';
import { nodeAddress, type EngineContext } from '../engine.ts';
import { PG_USERS } from './config.ts';
import { withSql, type SqlClient, type SqlTarget } from './sql.ts';

/**
 * What the node-level helpers need of a context. Deploy jobs (EngineContext) and the failover verbs
 * (RecoveryContext) both have it; nothing here renders pg_hba (that needs EngineContext.controllerAddress).
 */
export type NodeContext = Pick<EngineContext, 'spec' | 'hosts' | 'log' | 'signal'>;

export function adminTarget(spec: ClusterSpec, node: NodeSpec): SqlTarget {
  return { host: node.host, port: node.port, user: PG_USERS.admin, password: spec.credentials.admin };
}

export function sameNode(a: Pick<NodeSpec, 'host' | 'port'>, b: Pick<NodeSpec, 'host' | 'port'>): boolean {
  return a.host === b.host && a.port === b.port;
}

/** Runs fn as the admin user on `node` over one short connection. */
export function asAdmin<T>(
  ctx: Pick<EngineContext, 'spec' | 'signal'>,
  node: NodeSpec,
  fn: (client: SqlClient) => Promise<T>,
): Promise<T> {
  return withSql(adminTarget(ctx.spec, node), { signal: ctx.signal, applicationName: 'nines-engine' }, fn);
}

/**
 * Calls fn until it returns a value other than undefined, or throws the last error / `onTimeout()` at the
 * deadline. Never a fixed sleep: the interval is only the pause between attempts.
 */
export async function pollUntil<T>(
  fn: () => Promise<T | undefined>,
  options: { timeoutMs: number; intervalMs?: number; signal?: AbortSignal; onTimeout: () => NinesError },
): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    options.signal?.throwIfAborted();
    const value = await fn();
    if (value !== undefined) return value;
    if (Date.now() >= deadline) throw options.onTimeout();
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 200));
  }
}

/** Like fn(node) for every node in parallel; if any failed, throws the first failure, naming every failed node. */
export async function eachNode(
  nodes: readonly NodeSpec[],
  fn: (node: NodeSpec) => Promise<void>,
): Promise<void> {
  const results = await Promise.allSettled(nodes.map((n) => fn(n)));
  const failed = results
    .map((r, i) => ({ r, node: nodes[i] }))
    .filter((x): x is { r: PromiseRejectedResult; node: NodeSpec } => x.r.status === 'rejected');
  const first = failed[0];
  if (!first) return;
  if (failed.length === 1) throw first.r.reason;
  const err: unknown = first.r.reason;
  const names = failed.map((f) => nodeAddress(f.node)).join(', ');
  if (isNinesError(err)) {
    const prefix = `${ERRORS[err.code].message}: `;
    const detail = err.message.startsWith(prefix) ? err.message.slice(prefix.length) : err.message;
    throw new NinesError(err.code, `${names} failed; first: ${detail}`, {
      cause: err,
      context: { ...err.context, failedNodes: names },
      hint: err.hint,
    });
  }
  throw err;
}
