// Self-healing's view of a mariadbd on its host (MariaDB replication and Galera): is nines' server running, and
// starting it with a failure that says why in one line of its error log. Every call is bounded.
import { untilAborted } from '../../core/abort.ts';
import { NinesError, toNinesError } from '../../core/errors.ts';
import type { NodeSpec } from '../../core/spec.ts';
import type { Executor } from '../../hosts/executor.ts';
import { lastErrorLine } from '../../hosts/output.ts';
import type { RecoveryContext } from '../engine.ts';
import { PATHS } from './config.ts';
import { errorLogTail, serverRunning } from './host.ts';
import { executorOf } from './prepare.ts';

/** A signal that fires at the end of `timeoutMs` or when the context is aborted. */
export function boundedSignal(ctx: RecoveryContext, timeoutMs: number): AbortSignal {
  return AbortSignal.any([ctx.signal, AbortSignal.timeout(Math.max(1, Math.floor(timeoutMs)))]);
}

/** Whether nines' mariadbd runs on the node's host; throws when the host does not answer in time. */
export async function mysqlRunning(
  ctx: RecoveryContext,
  node: NodeSpec,
  timeoutMs: number,
): Promise<boolean> {
  return untilAborted(serverRunning(executorOf(ctx, node)), boundedSignal(ctx, timeoutMs));
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
