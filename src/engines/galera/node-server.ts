// Self-healing of a Galera member: a mariadbd that died on a live host is started again with its last committed
// position (grastate.dat after a clean stop, else --wsrep-recover from InnoDB), so it rejoins the running Primary
// component by IST when the donor's gcache still holds what it missed, and by SST only when not. The controller
// starts a member only while another one is Synced in a Primary component (needsServingPeer).
import { untilAborted } from '../../core/abort.ts';
import type { NodeSpec } from '../../core/spec.ts';
import type { Executor } from '../../hosts/executor.ts';
import type { NodeServer, RecoveryContext, ServerRole } from '../engine.ts';
import { PATHS } from '../mysql/config.ts';
import { startServer } from '../mysql/host.ts';
import { boundedSignal, mysqlRunning, startFailure } from '../mysql/node-server.ts';
import { executorOf } from '../mysql/prepare.ts';
import { waitSynced } from './deploy.ts';
import { readGrastate, recoverPosition } from './status.ts';

/** How a joiner got its state, from its error log since it started. Pure. */
export function stateTransfer(log: string): 'IST' | 'SST' | 'none' {
  // The joiner runs the SST script either way (for IST it only hands over the position): "rsync IST completed"
  // vs "rsync SST completed" says which happened.
  if (/\bSST completed on joiner/.test(log)) return 'SST';
  if (/\bIST completed on joiner|Receiving IST: \d+ writesets|IST received/.test(log)) return 'IST';
  return 'none';
}

async function logSize(ex: Executor): Promise<number> {
  const r = await ex.exec(['stat', '-c', '%s', '--', PATHS.errorLog], { sudo: true, check: false });
  const n = Number(r.stdout.trim());
  return Number.isFinite(n) && r.exitCode === 0 ? n : 0;
}

async function logSince(ex: Executor, offset: number): Promise<string> {
  const r = await ex.exec(['tail', '-c', `+${offset + 1}`, '--', PATHS.errorLog], {
    sudo: true,
    check: false,
    timeoutMs: 10_000,
  });
  return r.stdout;
}

/** uuid:seqno the node committed last: grastate.dat when the stop was clean, else InnoDB's (--wsrep-recover). */
export async function lastPosition(ex: Executor, signal: AbortSignal): Promise<string | undefined> {
  const g = await readGrastate(ex);
  if (g && g.seqno >= 0) return `${g.uuid}:${g.seqno}`;
  const r = await recoverPosition(ex, signal);
  return r ? `${r.uuid}:${r.seqno}` : undefined;
}

async function start(
  ctx: RecoveryContext,
  node: NodeSpec,
  _role: ServerRole,
  timeoutMs: number,
): Promise<string> {
  const ex = executorOf(ctx, node);
  const began = Date.now();
  const signal = boundedSignal(ctx, timeoutMs);
  const offset = await logSize(ex);
  const position = await untilAborted(lastPosition(ex, signal), signal);
  try {
    const extraArgs = position ? [`--wsrep-start-position=${position}`] : [];
    await untilAborted(
      startServer(ex, { extraArgs, readyTimeoutMs: Math.max(1000, timeoutMs - (Date.now() - began)) }),
      signal,
    );
    await untilAborted(
      waitSynced({ hosts: ctx.hosts, signal }, node, Math.max(1000, timeoutMs - (Date.now() - began))),
      signal,
    );
  } catch (err) {
    throw await startFailure(ex, node, err);
  }
  const transfer = stateTransfer(await logSince(ex, offset).catch(() => ''));
  const how = transfer === 'none' ? 'no state transfer needed' : `state transfer by ${transfer}`;
  return `mariadbd started from ${position ?? 'an unknown position'} and Synced in ${Date.now() - began} ms (${how})`;
}

export const galeraServer: NodeServer = {
  needsServingPeer: true,
  running: mysqlRunning,
  start,
};
