// The command strings nines sends to a shell on a host. Pure functions, unit-tested.
//
// Why the wrapper: closing an ssh channel does not kill the remote command (`sleep 100` keeps running), so a
// timeout or abort must kill it explicitly. Every command therefore runs in its own session and process group
// (`setsid -w`), and the first thing the group leader does is to print its PID — which is also the group id —
// on stderr as a marker line. nines strips that line and, to stop the command, kills the whole group with
// `kill -- -PGID` over another channel of the same connection. `setsid -w` waits for the group leader, so the
// exit status still reaches the channel; the inner `sh` waits for the command (`"$@"; exit $?`) so a command
// killed by a signal reports 128+N like in any shell.
//
// The marker also tells whether sudo let the wrapper run: a sudo refusal exits before the marker is printed,
// which classifies NINES_E_SUDO without reading sudo's message text.
import { NinesError } from '../core/errors.ts';
import { quoteArgv } from './quote.ts';

export const PGID_MARKER = 'nines-pgid=';
const WRAPPER_SCRIPT = `printf '${PGID_MARKER}%s\\n' "$$" >&2; "$@"; exit $?`;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Grace between TERM and KILL when a command is stopped. */
export const DEFAULT_KILL_GRACE_MS = 2000;

export interface WrapOptions {
  readonly env?: Readonly<Record<string, string>> | undefined;
  /** Prefix `sudo -n --` (the caller decides whether sudo is needed for its user). */
  readonly sudo?: boolean | undefined;
}

/** `env K=V ...` in front of argv (never ssh setenv: sshd's AcceptEnv refuses most names). */
export function withEnv(
  argv: readonly string[],
  env: Readonly<Record<string, string>> | undefined,
): string[] {
  const entries = Object.entries(env ?? {});
  if (entries.length === 0) return [...argv];
  for (const [name] of entries) {
    if (!ENV_NAME.test(name)) {
      throw new NinesError(
        'NINES_E_INVALID_ARGUMENT',
        `invalid environment variable name ${JSON.stringify(name)}`,
      );
    }
  }
  return ['env', ...entries.map(([k, v]) => `${k}=${v}`), ...argv];
}

// Fast path without sudo: sshd already starts the user's shell as a session and group leader, so the shell can
// report its own PID and exec the command (saving two forks and two execs, about half the cost of a short
// command). The shell checks that it leads its group (field 5 of /proc/$$/stat, read without forking) and
// otherwise takes the setsid path.
const FAST_PATH =
  'read -r _ _ _ _ g _ < /proc/$$/stat 2>/dev/null; ' +
  `if [ "$g" = "$$" ]; then printf '${PGID_MARKER}%s\n' "$$" >&2; exec "$@"; fi; `;

/** The shell string that runs argv in its own process group and reports the group id (see top of file). */
export function wrapCommand(argv: readonly string[], options: WrapOptions = {}): string {
  const inner = withEnv(argv, options.env);
  const wrapped = ['setsid', '-w', 'sh', '-c', WRAPPER_SCRIPT, 'nines'];
  if (options.sudo) return `exec ${quoteArgv(['sudo', '-n', '--', ...wrapped, ...inner])}`;
  return `set -- ${quoteArgv(inner)}; ${FAST_PATH}exec ${quoteArgv(wrapped)} "$@"`;
}

/**
 * Kills process group `pgid`: TERM, then KILL if anything of the group is still alive after `graceMs`.
 * Returns quickly when the group is already gone.
 */
export function killGroupCommand(pgid: number, graceMs: number, sudo: boolean): string {
  if (!Number.isSafeInteger(pgid) || pgid <= 1) {
    throw new NinesError('NINES_E_INTERNAL', `refusing to kill process group ${pgid}`);
  }
  const tries = Math.max(1, Math.ceil(graceMs / 100));
  // "alive" ignores zombies: orphans of the killed group stay zombies until init reaps them.
  const script =
    'alive() { ps -e -o pgid= -o stat= | awk -v g="$1" \'$1 == g && $2 !~ /^Z/ { f = 1 } END { exit !f }\'; }; ' +
    'kill -TERM "-$1" 2>/dev/null || exit 0; n=0; ' +
    'while alive "$1"; do n=$((n+1)); ' +
    'if [ "$n" -gt "$2" ]; then kill -KILL "-$1" 2>/dev/null; exit 0; fi; sleep 0.1; done';
  const argv = ['sh', '-c', script, 'nines-kill', String(pgid), String(tries)];
  return quoteArgv(sudo ? ['sudo', '-n', '--', ...argv] : argv);
}

/**
 * Removes the marker line from the start of a stderr stream. Feed chunks with `push`; it returns what belongs
 * to the command's real stderr. `pgid` is set once the marker was seen.
 */
export class PgidMarkerFilter {
  #head: Buffer | undefined = Buffer.alloc(0);
  pgid: number | undefined;
  readonly #onPgid: (pgid: number) => void;

  constructor(onPgid: (pgid: number) => void = () => undefined) {
    this.#onPgid = onPgid;
  }

  push(chunk: Buffer): Buffer {
    if (this.#head === undefined) return chunk;
    const head = Buffer.concat([this.#head, chunk]);
    const nl = head.indexOf(0x0a);
    const marker = Buffer.from(PGID_MARKER);
    const prefixLen = Math.min(head.length, marker.length);
    if (!head.subarray(0, prefixLen).equals(marker.subarray(0, prefixLen))) return this.#release(head);
    if (nl < 0) {
      if (head.length > 64) return this.#release(head);
      this.#head = head;
      return Buffer.alloc(0);
    }
    const pgid = Number(head.subarray(marker.length, nl).toString('latin1'));
    if (!Number.isSafeInteger(pgid) || pgid <= 1) return this.#release(head);
    this.pgid = pgid;
    this.#head = undefined;
    this.#onPgid(pgid);
    return head.subarray(nl + 1);
  }

  /** Whatever was held back waiting for a complete first line (when the stream ends). */
  flush(): Buffer {
    return this.#release(this.#head ?? Buffer.alloc(0));
  }

  #release(data: Buffer): Buffer {
    this.#head = undefined;
    return data;
  }
}

/** Exit status as a shell reports it: the code, or 128 + signal number for a signal death. */
export function exitStatus(
  code: number | null,
  signal: string | null | undefined,
  signals: Record<string, number>,
): number {
  if (typeof code === 'number') return code;
  const name = signal?.startsWith('SIG') ? signal : `SIG${signal ?? ''}`;
  const num = signals[name];
  return num === undefined ? 255 : 128 + num;
}
