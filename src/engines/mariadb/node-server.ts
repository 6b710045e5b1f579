// Self-healing of a MariaDB replication node: its mariadbd started again on a live host. Its config keeps
// read_only=ON and relay_log_recovery=ON, so a replica comes back refusing writes, discards a relay log a crash
// may have cut and fetches again from its GTID position (replication starts by itself: no skip_slave_start).
import { untilAborted } from '../../core/abort.ts';
import type { NodeSpec } from '../../core/spec.ts';
import type { NodeServer, RecoveryContext, ServerRole } from '../engine.ts';
import { startServer } from '../mysql/host.ts';
import { boundedSignal, mysqlRunning, startFailure } from '../mysql/node-server.ts';
import { executorOf } from '../mysql/prepare.ts';
import { replicaStatus } from './replication.ts';

async function start(
  ctx: RecoveryContext,
  node: NodeSpec,
  role: ServerRole,
  timeoutMs: number,
): Promise<string> {
  const ex = executorOf(ctx, node);
  const began = Date.now();
  const signal = boundedSignal(ctx, timeoutMs);
  try {
    await untilAborted(startServer(ex, { readyTimeoutMs: Math.max(1000, timeoutMs - 500) }), signal);
  } catch (err) {
    throw await startFailure(ex, node, err);
  }
  const ms = Date.now() - began;
  if (role !== 'replica') return `mariadbd started in ${ms} ms (read_only=ON by its config)`;
  const st = await untilAborted(replicaStatus(ex, signal), signal).catch(() => undefined);
  const repl = st
    ? `replicating from ${st.sourceHost}:${st.sourcePort} (IO thread ${st.ioRunning}, SQL thread ${st.sqlRunning ? 'Yes' : 'No'})`
    : 'no replication configured';
  return `mariadbd started in ${ms} ms, read_only=ON, ${repl}`;
}

export const mariadbServer: NodeServer = {
  needsServingPeer: false,
  running: mysqlRunning,
  start,
};
