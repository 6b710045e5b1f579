// Self-healing of a PostgreSQL node: a postgres that died on a live host (or a host back from a reboot) is started
// again; it runs crash recovery by itself. A standby is started only with standby.signal in its data directory
// (written first when missing), so a standby never comes up as a primary; a former primary that was failed over
// is the rejoin loop's business (fenced: never restarted here).
import { untilAborted } from '../../core/abort.ts';
import { NinesError, toNinesError } from '../../core/errors.ts';
import type { NodeSpec } from '../../core/spec.ts';
import type { NodeServer, RecoveryContext, ServerRole } from '../engine.ts';
import { lastErrorLine } from '../../hosts/output.ts';
import { pgPaths } from './config.ts';
import { standbySignalArgv } from './recovery-commands.ts';
import { budget } from './recovery-steps.ts';
import { logTail, probeArgv, parseProbe, psql, service } from './server.ts';

async function probe(ctx: RecoveryContext, node: NodeSpec, timeoutMs: number) {
  const ex = ctx.hosts.executor(node.host);
  const r = await ex.exec(probeArgv(ctx.spec.version, node.port), {
    timeoutMs,
    signal: budget(ctx, timeoutMs).signal,
  });
  return parseProbe(r.stdout);
}

async function start(
  ctx: RecoveryContext,
  node: NodeSpec,
  role: ServerRole,
  timeoutMs: number,
): Promise<string> {
  const ex = ctx.hosts.executor(node.host);
  const began = Date.now();
  const signal = budget(ctx, timeoutMs).signal;
  const p = await probe(ctx, node, Math.min(5000, timeoutMs));
  if (p.running) return 'postgres already runs';
  if (!p.dataExists) {
    throw new NinesError('NINES_E_SERVICE', `${node.host}:${node.port}: no data directory to start from`, {
      hint: `Rebuild it: nines node rebuild ${ctx.spec.name} --host ${node.host}`,
    });
  }
  const wroteSignal = role === 'replica' && !p.standbySignal;
  if (wroteSignal) await ex.exec(standbySignalArgv(ctx.spec.version), { sudo: true, signal });
  try {
    const waitSeconds = Math.max(1, Math.floor((timeoutMs - (Date.now() - began)) / 1000));
    await untilAborted(service(ex, ctx.spec, 'start', p.systemd, { waitSeconds, signal }), signal);
  } catch (err) {
    const line = lastErrorLine(await logTail(ex, pgPaths(ctx.spec.version), 5000));
    throw new NinesError(
      'NINES_E_SERVICE',
      `${node.host}:${node.port}: postgres did not start${line ? `: ${line}` : `: ${toNinesError(err).message}`}`,
      { cause: err, context: { host: node.host, port: node.port, logLine: line } },
    );
  }
  const inRecovery = (await untilAborted(psql(ex, ctx.spec, node, 'SELECT pg_is_in_recovery();\n'), signal))
    .trim()
    .startsWith('t');
  if (role === 'replica' && !inRecovery) {
    throw new NinesError('NINES_E_SERVICE', `${node.host}:${node.port} started but is not in recovery`);
  }
  return `postgres started in ${Date.now() - began} ms${inRecovery ? ' as a standby' : ''}${wroteSignal ? ' (standby.signal was missing: written first)' : ''}`;
}

export const postgresServer: NodeServer = {
  needsServingPeer: false,
  async running(ctx, node, timeoutMs) {
    return (await probe(ctx, node, timeoutMs)).running;
  },
  start,
};
