// The armed fence of a PostgreSQL primary (ReplicationRecovery.armFence): a superuser session opened while the
// primary is healthy and kept idle. Fired by a failover, its one statement makes the server write standby.signal
// and ask its postmaster for a fast shutdown: new connections are refused from that moment and every backend is
// terminated. A frozen primary cannot run it — the statement waits in the socket, and at the thaw this backend
// runs it at once, while any new connection (a client's, a probe's) still has to be forked and authenticated: no
// client sees the thawed node accept a write. The SSH fence and the standing fence stay as they were; this one
// only closes the window between a thaw and their stop.
import { isNinesError } from '../../core/errors.ts';
import type { NodeSpec } from '../../core/spec.ts';
import { nodeAddress, type ArmedFence, type FenceResult, type RecoveryContext } from '../engine.ts';
import { adminTarget } from './common.ts';
import { connectSql, type SqlClient } from './sql.ts';

/**
 * Run by /bin/sh from the backend (COPY TO PROGRAM), whose working directory is the data directory; shell builtins
 * only, so one fork and exec. standby.signal first: a restart of the server, by anyone, comes up as a standby.
 * SIGINT to the postmaster is a fast shutdown. No value comes from outside: the text is constant.
 */
export const FENCE_PROGRAM = ': >> standby.signal; read p < postmaster.pid && kill -INT "$p"';

/** No row is written to the program (a row to a program that already exited would fail with EPIPE). */
export const FENCE_SQL = `COPY (SELECT 1 WHERE false) TO PROGRAM '${FENCE_PROGRAM}'`;

/** How long the fired statement may wait for a frozen server (it settles at the latest when the session ends). */
const FIRED_WAIT_MS = 10 * 60_000;

/** SQLSTATE 57P01 (admin_shutdown): the fast shutdown the statement asked for ended its own session. */
function endedByShutdown(err: unknown): boolean {
  const ctx = (err as { context?: { sqlState?: unknown } } | null)?.context;
  return ctx?.sqlState === '57P01';
}

export async function armFence(ctx: RecoveryContext, node: NodeSpec, timeoutMs: number): Promise<ArmedFence> {
  const a = nodeAddress(node);
  const c: SqlClient = await connectSql(adminTarget(ctx.spec, node), {
    connectTimeoutMs: timeoutMs,
    statementTimeoutMs: FIRED_WAIT_MS,
    applicationName: 'nines-fence',
    signal: ctx.signal,
  });
  let fired: Promise<FenceResult> | undefined;
  return {
    get usable() {
      return fired === undefined && !c.closed;
    },
    fire() {
      fired ??= c.query(FENCE_SQL).then(
        (): FenceResult => {
          void c.close();
          return {
            fenced: true,
            how: 'fast shutdown asked through the armed session (standby.signal written)',
          };
        },
        (err: unknown): FenceResult => {
          void c.close();
          if (endedByShutdown(err))
            return { fenced: true, how: 'fast shutdown through the armed session (standby.signal written)' };
          const why = isNinesError(err) ? err.message : String(err);
          ctx.log(`${a}: armed fence did not run: ${why}`);
          return { fenced: false, how: `armed session: ${why}` };
        },
      );
      return fired;
    },
    close() {
      void c.close();
    },
  };
}
