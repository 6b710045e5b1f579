// The HAProxy runtime API over SSH: commands go to the admin socket through socat on the proxy host
// (`socat stdio UNIX-CONNECT:/run/haproxy/admin.sock`, the commands on stdin). Several commands separated by
// ';' travel in one connection and run back to back, which is how a writer move happens in one go.
import { NinesError, isNinesError } from '../../core/errors.ts';
import type { Executor } from '../../hosts/executor.ts';
import { WRITE_BACKEND } from '../endpoint-view.ts';
import { HAPROXY_ADMIN_SOCKET } from './config.ts';
import { parseShowStat, setStateCommand, writerCommands } from './runtime-plan.ts';
import type { AdminState, BackendServerState } from './runtime-plan.ts';

const RUNTIME_TIMEOUT_MS = 10_000;
/** Only the commands nines sends; anything else is refused before it reaches the socket. */
const ALLOWED =
  /^(show (stat|info|servers state)( [^;\n]*)?|set server [^\s;/]+\/[^\s;]+ state (ready|maint|drain)|shutdown sessions server [^\s;/]+\/[^\s;]+)$/;

function runtimeError(proxy: Executor, detail: string, context: Record<string, unknown>, cause?: unknown) {
  return new NinesError('NINES_E_HAPROXY_RUNTIME', `${proxy.host}: ${detail}`, {
    context: { host: proxy.host, socket: HAPROXY_ADMIN_SOCKET, ...context },
    cause,
  });
}

/** Sends commands to the admin socket in one connection; returns the raw answer. */
export async function runtimeCommand(
  proxy: Executor,
  commands: readonly string[],
  signal?: AbortSignal,
): Promise<string> {
  if (commands.length === 0) return '';
  for (const c of commands) {
    if (!ALLOWED.test(c))
      throw new NinesError('NINES_E_INVALID_ARGUMENT', `not a runtime command nines sends: ${c}`);
  }
  const stdin = `${commands.join('; ')}\n`;
  const argv = ['socat', '-t', '2', 'stdio', `UNIX-CONNECT:${HAPROXY_ADMIN_SOCKET}`];
  const r = await proxy.exec(argv, {
    stdin,
    sudo: true,
    check: false,
    timeoutMs: RUNTIME_TIMEOUT_MS,
    ...(signal ? { signal } : {}),
  });
  if (r.exitCode !== 0) {
    throw runtimeError(proxy, `the admin socket did not answer: ${r.stderr.trim()}`, {
      commands,
      exitCode: r.exitCode,
      stderr: r.stderr,
    });
  }
  return r.stdout;
}

/** Runs commands that answer nothing on success (set/shutdown); any answer is the error text of one of them. */
export async function runtimeChange(
  proxy: Executor,
  commands: readonly string[],
  signal?: AbortSignal,
): Promise<void> {
  const answer = (await runtimeCommand(proxy, commands, signal)).trim();
  if (answer !== '') throw runtimeError(proxy, `refused: ${answer}`, { commands, answer });
}

/** Every server of every backend as the running HAProxy sees it (`show stat`, servers only). */
export async function readBackendStates(
  proxy: Executor,
  signal?: AbortSignal,
): Promise<BackendServerState[]> {
  const out = await runtimeCommand(proxy, ['show stat -1 4 -1'], signal);
  if (!out.startsWith('# '))
    throw runtimeError(proxy, `unexpected answer to show stat: ${out.slice(0, 200)}`, {});
  return parseShowStat(out);
}

/** Puts one server in ready, maint (no traffic) or drain (no new connections) state, e.g. a lagging replica. */
export async function setServerState(
  proxy: Executor,
  backend: string,
  server: string,
  state: AdminState,
): Promise<void> {
  await runtimeChange(proxy, [setStateCommand(backend, server, state)]);
}

/**
 * Moves the write backend to `writer` (a server name, host:port) in one socket connection: enable it, take
 * every other server out, shut down the sessions left on the old writer. Returns the commands sent.
 */
export async function setWriter(
  proxy: Executor,
  writer: string,
  signal?: AbortSignal,
): Promise<readonly string[]> {
  const states = await readBackendStates(proxy, signal);
  if (!states.some((s) => s.backend === WRITE_BACKEND && s.server === writer)) {
    throw runtimeError(proxy, `backend ${WRITE_BACKEND} has no server ${writer}`, {
      writer,
      servers: states.filter((s) => s.backend === WRITE_BACKEND).map((s) => s.server),
    });
  }
  const commands = writerCommands(states, writer);
  await runtimeChange(proxy, commands, signal);
  return commands;
}

/** The running HAProxy's worker pid (changes on a reload), or undefined when the socket does not answer. */
export async function haproxyWorkerPid(proxy: Executor): Promise<number | undefined> {
  try {
    const out = await runtimeCommand(proxy, ['show info']);
    const m = /^Pid: (\d+)$/m.exec(out);
    return m ? Number(m[1]) : undefined;
  } catch (err) {
    if (isNinesError(err, 'NINES_E_HAPROXY_RUNTIME')) return undefined;
    throw err;
  }
}
