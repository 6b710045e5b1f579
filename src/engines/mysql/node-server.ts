// Self-healing's view of a mariadbd on its host (MariaDB replication and Galera): is nines' server running, and
// starting it with a failure that says why in one line of its error log. Every call is bounded.
import { untilAborted } from '../../core/abort.ts';
import { NinesError, toNinesError } from '../../core/errors.ts';
import type { NodeSpec } from '../../core/spec.ts';
import type { Executor } from '../../hosts/executor.ts';
import type { RecoveryContext } from '../engine.ts';
import { PATHS } from './config.ts';
import { errorLogTail, serverRunning } from './host.ts';

/** A signal that fires at the end of `timeoutMs` or when the context is aborted. */
export function boundedSignal(ctx: RecoveryContext, timeoutMs: number): AbortSignal {
  return AbortSignal.any([ctx.signal, AbortSignal.timeout(Math.max(1, Math.floor(timeoutMs)))]);
}

export function executorFor(ctx: RecoveryContext, node: NodeSpec): Executor {
  return ctx.hosts.executor(node.host);
}

/** Whether nines' mariadbd runs on the node's host; throws when the host does not answer in time. */
export async function mysqlRunning(
  ctx: RecoveryContext,
  node: NodeSpec,
  timeoutMs: number,
): Promise<boolean> {
  return untilAborted(serverRunning(executorFor(ctx, node)), boundedSignal(ctx, timeoutMs));
}

/**
 * The line of a server log that says why it stopped: the last `[ERROR]` line (MariaDB), `FATAL:`/`PANIC:`
 * (PostgreSQL), else the last non-empty line. Pure.
 */
export function lastErrorLine(log: string): string {
  const lines = log
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
  // "[ERROR] Aborting" and "database system is shut down" only say that it stopped, not why.
  const bad = lines.filter(
    (l) => /\[ERROR\]|\bFATAL:|\bPANIC:|\bERROR:/.test(l) && !/\[ERROR\] Aborting\s*$/.test(l),
  );
  return bad.at(-1) ?? lines.at(-1) ?? '';
}

/** NINES_E_SERVICE for a server that did not start, with the error-log line that says why. */
export async function startFailure(ex: Executor, node: NodeSpec, err: unknown): Promise<NinesError> {
  const log = await errorLogTail(ex, 40);
  const line = lastErrorLine(log);
  const e = toNinesError(err);
  return new NinesError(
    'NINES_E_SERVICE',
    `${node.host}:${node.port}: mariadbd did not start${line ? `: ${line}` : `: ${e.message}`}`,
    { cause: err, context: { host: node.host, port: node.port, errorLog: PATHS.errorLog, logLine: line } },
  );
}
