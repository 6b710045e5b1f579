// Fencing a (former) primary of mariadb-replication: read_only=ON and its client sessions killed over SQL,
// verified; its server killed over SSH instead when commits wait for a semi-sync ACK (killed sessions would
// complete them), or stopped over SSH when SQL cannot reach it; and a fence that waits for a silent node's first
// answer (a frozen server's thaw). Part of the recovery verbs of recovery.ts.
import { untilAborted } from '../../core/abort.ts';
import { NinesError } from '../../core/errors.ts';
import type { ClusterSpec, NodeSpec } from '../../core/spec.ts';
import type { FenceResult, RecoveryContext } from '../engine.ts';
import { nodeAddress } from '../engine.ts';
import { killServer, serverRunning, stopServer } from '../mysql/host.ts';
import { sqlErrno, stringOf, type SqlClient } from '../mysql/sql.ts';
import { sleep } from '../mysql/wait.ts';
import { Budget, bounded, failed, messageOf, timedOut, withAdmin } from './admin-session.ts';
import { FENCE_SESSIONS_SQL, SEMI_SYNC_WAITERS_SQL } from './recovery-plan.ts';

/** Share of a fence's bound given to the SQL path; the rest is for stopping the server over SSH. */
const FENCE_SQL_SHARE = 0.5;
/** How long a fence waits for killed sessions to disappear (reported, not required). */
const FENCE_GONE_WAIT_MS = 300;
const UNKNOWN_THREAD = 1094;
/** Bound of killing a server over SSH (and of killing its sessions when that fails) at its first answer. */
const FENCE_KILL_MS = 3000;

/** Kills every client session (FENCE_SESSIONS_SQL); returns their ids. */
async function killClients(c: SqlClient, b: Budget): Promise<number[]> {
  const rows = await c.query(FENCE_SESSIONS_SQL, [], { timeoutMs: b.ms() });
  const ids = rows.map((r) => Number(stringOf(r.id))).filter((id) => Number.isSafeInteger(id) && id > 0);
  await Promise.all(
    ids.map((id) =>
      c.execute('KILL CONNECTION ?', [id], { timeoutMs: b.ms() }).catch((err: unknown) => {
        // Gone meanwhile: nothing to kill.
        if (sqlErrno(err) !== UNKNOWN_THREAD) throw err;
      }),
    ),
  );
  return ids;
}

/** Sessions of `ids` still present (a killed session rolls back, then disappears). */
async function stillThere(c: SqlClient, ids: readonly number[], b: Budget): Promise<number> {
  if (ids.length === 0) return 0;
  const marks = ids.map(() => '?').join(', ');
  const rows = await c.query(
    `SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE ID IN (${marks})`,
    ids,
    { timeoutMs: b.ms() },
  );
  return Number(stringOf(rows[0]?.n));
}

export async function waitGone(
  c: SqlClient,
  ids: readonly number[],
  b: Budget,
  maxMs: number,
): Promise<number> {
  const until = Date.now() + Math.min(maxMs, Math.max(0, b.left() - 50));
  for (;;) {
    const n = await stillThere(c, ids, b);
    if (n === 0 || Date.now() >= until) return n;
    await sleep(10);
  }
}

/**
 * read_only=ON and every client session killed, verified. The sessions are killed before read_only as well: SET
 * GLOBAL read_only waits for running statements (at most lock_wait_timeout, 1 s here), and killed they end. Kill
 * and read_only are sent back to back, so a client reconnecting in between is caught by the second kill.
 */
export async function fenceSession(
  c: SqlClient,
  node: string,
  b: Budget,
): Promise<{ killed: number[]; readOnlyWas: boolean }> {
  await c.execute('SET SESSION lock_wait_timeout = 1', [], { timeoutMs: b.ms() });
  const [before] = await c.query('SELECT @@global.read_only AS ro', [], { timeoutMs: b.ms() });
  const first = await killClients(c, b);
  await c.execute('SET GLOBAL read_only = ON', [], { timeoutMs: b.ms() });
  const second = await killClients(c, b);
  const [row] = await c.query('SELECT @@global.read_only AS ro', [], { timeoutMs: b.ms() });
  if (stringOf(row?.ro) !== '1') throw failed(node, 'read_only is still OFF after SET GLOBAL read_only = ON');
  return { killed: [...new Set([...first, ...second])], readOnlyWas: stringOf(before?.ro) === '1' };
}

/**
 * A fence found commits waiting for a semi-sync ACK (a thawed primary, or one cut off from its replicas): killing
 * their sessions would complete them in InnoDB — transactions no replica has, and the node could not rejoin — so the
 * server is killed instead and the rejoin's --init-rpl-role=SLAVE start rolls them back (see the top of the file).
 */
class CommitsWaiting extends Error {
  readonly count: number;
  constructor(count: number) {
    super(`${count} commit(s) waiting for a semi-sync ACK`);
    this.count = count;
  }
}

async function semiSyncWaiters(c: SqlClient, b: Budget): Promise<number> {
  const rows = await c.query(SEMI_SYNC_WAITERS_SQL, [], { timeoutMs: b.ms() });
  return Number(stringOf(rows[0]?.n));
}

/** `waiters`: 'kill-server' throws CommitsWaiting when commits wait for an ACK; 'kill-sessions' fences anyway. */
async function fenceOverSql(
  spec: ClusterSpec,
  node: NodeSpec,
  b: Budget,
  waiters: 'kill-server' | 'kill-sessions',
): Promise<string> {
  const key = nodeAddress(node);
  return withAdmin(spec, node, b, async (c) => {
    if (waiters === 'kill-server') {
      const n = await semiSyncWaiters(c, b);
      if (n > 0) throw new CommitsWaiting(n);
    }
    const { killed, readOnlyWas } = await fenceSession(c, key, b);
    const left = await waitGone(c, killed, b, FENCE_GONE_WAIT_MS);
    const ro = readOnlyWas ? 'read_only was already ON' : 'read_only=ON';
    return `${ro}, ${killed.length} client connection(s) killed${left > 0 ? ` (${left} still closing)` : ''}`;
  });
}

/**
 * The server stopped through its host (TERM, KILL after half of what is left), verified. Each step starts only
 * within the budget: a fence that already gave up (the host was frozen and answers later) must never stop a
 * server afterwards, when the controller has moved on.
 */
async function stopOverSsh(ctx: RecoveryContext, node: NodeSpec, b: Budget): Promise<string> {
  const key = nodeAddress(node);
  const ex = ctx.hosts.executor(node.host);
  const inTime = (what: string): void => {
    if (b.left() <= 0) throw timedOut(key, `no time left to ${what}`);
  };
  inTime('ask the host');
  const running = await serverRunning(ex);
  if (!running) return 'its server is not running (verified over SSH)';
  inTime('stop the server');
  const grace = Math.max(100, Math.floor(b.left() / 2));
  await stopServer(ex, grace);
  if (await serverRunning(ex)) throw failed(key, 'its server still runs after the stop');
  return `server stopped over SSH (TERM, KILL after ${grace} ms)`;
}

/**
 * The server killed over SSH because commits wait for a semi-sync ACK; when the host cannot do it in time, the
 * sessions are killed after all (fenced first; the node may then hold transactions no replica has: diverged).
 */
async function killWaiting(
  ctx: RecoveryContext,
  node: NodeSpec,
  b: Budget,
  waiting: CommitsWaiting,
): Promise<string> {
  const key = nodeAddress(node);
  try {
    const ex = ctx.hosts.executor(node.host);
    await bounded(killServer(ex, b.ms()), b.ms(), key, 'kill over SSH');
    return `${waiting.message}: server killed over SSH (killed sessions would complete them; the rejoin rolls them back)`;
  } catch (err) {
    if (ctx.signal.aborted) throw err;
    const how = await fenceOverSql(ctx.spec, node, new Budget(Math.max(1000, b.left())), 'kill-sessions');
    return `${waiting.message}, the server could not be killed (${messageOf(err)}): ${how}`;
  }
}

export async function fence(ctx: RecoveryContext, node: NodeSpec, timeoutMs: number): Promise<FenceResult> {
  const key = nodeAddress(node);
  const b = new Budget(timeoutMs);
  let sqlWhy: string;
  try {
    const how = await fenceOverSql(
      ctx.spec,
      node,
      new Budget(Math.max(1, Math.floor(timeoutMs * FENCE_SQL_SHARE))),
      'kill-server',
    );
    ctx.log(`${key} fenced: ${how}`);
    return { fenced: true, how };
  } catch (err) {
    if (err instanceof CommitsWaiting) {
      try {
        const how = await killWaiting(ctx, node, b, err);
        ctx.log(`${key} fenced: ${how}`);
        return { fenced: true, how };
      } catch (e) {
        sqlWhy = `${err.message}; neither kill worked: ${messageOf(e)}`;
      }
    } else sqlWhy = messageOf(err);
  }
  if (ctx.signal.aborted) throw new NinesError('NINES_E_COMMAND_ABORTED', `fence of ${key}`);
  try {
    const how = `SQL failed (${sqlWhy}); ${await bounded(stopOverSsh(ctx, node, b), b.ms(), key, 'stop over SSH')}`;
    ctx.log(`${key} fenced: ${how}`);
    return { fenced: true, how };
  } catch (err) {
    const how = `unreachable: SQL: ${sqlWhy}; SSH: ${messageOf(err)}`;
    ctx.log(`${key} not fenced: ${how}`);
    return { fenced: false, how };
  }
}

/**
 * A fenced former primary that does not answer (frozen: its kernel accepted the connection, the server has not
 * greeted; or its host is down): waits up to timeoutMs for its greeting and fences it the moment it answers.
 * read_only=ON is sent with the login, before the connection does anything else, so the server is read-only
 * within one round trip of its thaw instead of one probe later. Never throws: `fenced: false` without an answer.
 */
export async function fenceOnAnswer(
  ctx: RecoveryContext,
  node: NodeSpec,
  timeoutMs: number,
): Promise<FenceResult> {
  const key = nodeAddress(node);
  const b = new Budget(timeoutMs);
  try {
    const how = await untilAborted(
      withAdmin(ctx.spec, node, b, async (c) => {
        // A controller that stopped meanwhile changes nothing.
        if (ctx.signal.aborted) throw new NinesError('NINES_E_COMMAND_ABORTED', `fence of ${key}`);
        // Pipelined: one round trip (a running statement holds read_only at most lock_wait_timeout; a commit
        // waiting for an ACK holds it that long, and then the server is killed instead).
        const lwt = c.execute('SET SESSION lock_wait_timeout = 1', [], { timeoutMs: b.ms() });
        const waiting = semiSyncWaiters(c, b);
        const ro = c.execute('SET GLOBAL read_only = ON', [], { timeoutMs: b.ms() });
        ro.catch(() => undefined);
        await lwt;
        const n = await waiting;
        if (n > 0) throw new CommitsWaiting(n);
        await ro;
        const { killed } = await fenceSession(c, key, b);
        return `read_only=ON at its first answer, ${killed.length} client connection(s) killed`;
      }),
      ctx.signal,
    );
    ctx.log(`${key} fenced: ${how}`);
    return { fenced: true, how };
  } catch (err) {
    if (err instanceof CommitsWaiting && !ctx.signal.aborted) {
      try {
        const how = `at its first answer: ${await killWaiting(ctx, node, new Budget(FENCE_KILL_MS), err)}`;
        ctx.log(`${key} fenced: ${how}`);
        return { fenced: true, how };
      } catch (e) {
        return { fenced: false, how: `${err.message}; neither kill worked: ${messageOf(e)}` };
      }
    }
    return { fenced: false, how: `no answer: ${messageOf(err)}` };
  }
}
