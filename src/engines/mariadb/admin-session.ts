// The admin session of a recovery verb: one budget (a deadline for every connect, statement and wait in the
// verb), a fresh admin connection opened within it and always closed, and the verbs' error shapes.
import { NinesError } from '../../core/errors.ts';
import type { ClusterSpec, NodeSpec } from '../../core/spec.ts';
import { nodeAddress } from '../engine.ts';
import { adminEndpoint } from '../mysql/marker.ts';
import { connectSql, type SqlClient } from '../mysql/sql.ts';

/** A verb's time: one deadline for every connect, statement and wait in it. */
export class Budget {
  readonly #end: number;
  readonly totalMs: number;
  constructor(ms: number) {
    this.totalMs = ms;
    this.#end = Date.now() + ms;
  }
  left(): number {
    return this.#end - Date.now();
  }
  /** What is left, at least 1 ms (a statement bound). */
  ms(): number {
    return Math.max(1, this.left());
  }
}

export function failed(node: string, detail: string, context: Record<string, unknown> = {}): NinesError {
  return new NinesError('NINES_E_RECOVERY_FAILED', `${node}: ${detail}`, { context: { node, ...context } });
}

/** A deadline passed: the controller's own code for a failover step that did not complete in time. */
export function timedOut(node: string, detail: string, context: Record<string, unknown> = {}): NinesError {
  return new NinesError('NINES_E_FAILOVER_TIMEOUT', `${node}: ${detail}`, { context: { node, ...context } });
}

export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** `promise`, or a NINES_E_FAILOVER_TIMEOUT rejection after `ms` (the work itself goes on; its outcome is dropped). */
export async function bounded<T>(promise: Promise<T>, ms: number, node: string, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  promise.catch(() => undefined);
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(timedOut(node, `${what}: no answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** One admin connection within the budget; a connection that completes after the bound is closed at once. */
export async function open(spec: ClusterSpec, node: NodeSpec, b: Budget): Promise<SqlClient> {
  const ms = b.ms();
  const pending = connectSql(adminEndpoint(spec, node), { connectTimeoutMs: ms, queryTimeoutMs: ms });
  try {
    return await bounded(pending, ms + 50, nodeAddress(node), 'connect');
  } catch (err) {
    void pending.then(
      (c) => c.close(),
      () => undefined,
    );
    throw err;
  }
}

/** Runs fn on a fresh admin connection and always closes it (bounded: a dead server cannot hold the verb). */
export async function withAdmin<T>(
  spec: ClusterSpec,
  node: NodeSpec,
  b: Budget,
  fn: (c: SqlClient) => Promise<T>,
): Promise<T> {
  const c = await open(spec, node, b);
  try {
    return await fn(c);
  } finally {
    await bounded(c.close(), 300, nodeAddress(node), 'close').catch(() => undefined);
  }
}
