// The commands the ServiceManager runs, as argv arrays (pure, unit-tested with the fake executor).
//
// Direct mode (no systemd, e.g. lab hosts): a daemon runs in the foreground under `setsid -f`, fully detached
// (stdin from /dev/null, output appended to its log) — otherwise the ssh channel that started it would stay
// open for as long as it runs. The PID goes to a pidfile, written by a tiny `sh` that then execs the daemon,
// so the PID is the daemon's own. `setpriv` switches user without forking (`runuser`/`su` would fork and the
// pidfile would name the wrong process). Next to the pidfile, `<pidfile>.cmd` records the daemon's argv[0]:
// status compares it with /proc/PID/cmdline so a recycled PID is not taken for the daemon.
import { NinesError } from '../core/errors.ts';
import { withEnv } from './remote-command.ts';

export const DEFAULT_RUN_DIR = '/run/nines';
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.@-]*$/;

export function checkServiceName(name: string): void {
  if (!NAME.test(name)) {
    throw new NinesError(
      'NINES_E_INVALID_ARGUMENT',
      `invalid service name ${JSON.stringify(name)} (letters, digits, _ . @ -)`,
    );
  }
}

export function defaultPidFile(name: string, runDir = DEFAULT_RUN_DIR): string {
  checkServiceName(name);
  return `${runDir}/${name}.pid`;
}

// Prints "running PID", "starting PID" (PID alive but not yet exec'd into the daemon — or caught mid-exec — or
// recycled), "stopped dead" (pidfile names a gone or zombie process) or "stopped none" (no pidfile).
const STATUS_FN = [
  'svc_status() {',
  '  pid=$(cat -- "$1" 2>/dev/null) || { echo stopped none; return; }',
  '  case $pid in ""|*[!0-9]*) echo stopped none; return;; esac',
  '  if [ ! -e "/proc/$pid" ]; then echo stopped dead; return; fi',
  '  got=$(tr "\\000" "\\n" < "/proc/$pid/cmdline" 2>/dev/null | head -n 1)',
  // An empty cmdline is a zombie (dead) or a process in the middle of exec (it has no mm for a moment).
  '  if [ -z "$got" ]; then',
  '    st=$(sed "s/.*) //" "/proc/$pid/stat" 2>/dev/null | cut -d " " -f 1)',
  '    if [ -z "$st" ] || [ "$st" = Z ] || [ "$st" = X ]; then echo stopped dead; else echo starting "$pid"; fi',
  '    return',
  '  fi',
  '  want=$(cat -- "$1.cmd" 2>/dev/null)',
  '  if [ -n "$want" ] && [ "$got" != "$want" ] && [ "${got##*/}" != "${want##*/}" ]; then echo starting "$pid"; return; fi',
  '  echo running "$pid"',
  '}',
].join('\n');

// Two starts at once (self-healing and an operator, say) must not launch two daemons: a lock per pidfile, and
// inside it the status again (a daemon another start launched meanwhile is left alone). The daemon does not
// inherit the lock's descriptor.
const START_SCRIPT = [
  STATUS_FN,
  'set -e',
  'pidfile=$1; log=$2; cwd=$3; user=$4; argv0=$5; shift 5',
  'mkdir -p -- "$(dirname -- "$pidfile")" "$(dirname -- "$log")"',
  'if command -v flock >/dev/null 2>&1; then exec 9>"$pidfile.lock"; flock -w 30 9; fi',
  'case "$(svc_status "$pidfile")" in running*|starting*) exit 0;; esac',
  'rm -f -- "$pidfile"',
  'printf "%s" "$argv0" > "$pidfile.cmd"',
  'cd -- "$cwd"',
  'if [ -n "$user" ]; then',
  '  gid=$(id -g -- "$user")',
  '  set -- setpriv --reuid="$user" --regid="$gid" --init-groups -- "$@"',
  'fi',
  'setsid -f sh -c \'echo "$$" > "$0"; exec "$@"\' "$pidfile" "$@" </dev/null >>"$log" 2>&1 9>&-',
].join('\n');

const STOP_SCRIPT = [
  STATUS_FN,
  'pidfile=$1; tries=$2',
  'set -- $(svc_status "$pidfile")',
  'if [ "$1" != running ]; then rm -f -- "$pidfile" "$pidfile.cmd"; echo stopped; exit 0; fi',
  'pid=$2',
  'alive() { [ -n "$(tr -d "\\000" < "/proc/$pid/cmdline" 2>/dev/null)" ]; }',
  'kill -TERM "$pid" 2>/dev/null || true',
  'n=0',
  'while alive; do',
  '  n=$((n+1))',
  '  if [ "$n" -gt "$tries" ]; then kill -KILL "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true; fi',
  '  if [ "$n" -gt $((tries + 50)) ]; then echo "still running $pid"; exit 1; fi',
  '  sleep 0.1',
  'done',
  'rm -f -- "$pidfile" "$pidfile.cmd"',
  'if [ "$n" -gt "$tries" ]; then echo killed; else echo stopped; fi',
].join('\n');

export interface DirectStartInput {
  readonly argv: readonly string[];
  readonly pidFile: string;
  readonly logFile: string;
  readonly cwd?: string | undefined;
  readonly user?: string | undefined;
  readonly env?: Readonly<Record<string, string>> | undefined;
}

export function directStartArgv(input: DirectStartInput): string[] {
  const [argv0] = input.argv;
  if (argv0 === undefined)
    throw new NinesError('NINES_E_INVALID_ARGUMENT', 'a service needs a command (argv)');
  for (const p of [input.pidFile, input.logFile, input.cwd ?? '/']) {
    if (!p.startsWith('/'))
      throw new NinesError('NINES_E_INVALID_ARGUMENT', `service paths must be absolute, got ${p}`);
  }
  return [
    'sh',
    '-c',
    START_SCRIPT,
    'nines-start',
    input.pidFile,
    input.logFile,
    input.cwd ?? '/',
    input.user ?? '',
    argv0,
    ...withEnv(input.argv, input.env),
  ];
}

export function directStatusArgv(pidFile: string): string[] {
  return ['sh', '-c', `${STATUS_FN}\nsvc_status "$1"`, 'nines-status', pidFile];
}

export function directStopArgv(pidFile: string, graceMs: number): string[] {
  return ['sh', '-c', STOP_SCRIPT, 'nines-stop', pidFile, String(Math.max(1, Math.ceil(graceMs / 100)))];
}

export type DirectState =
  | { state: 'running'; pid: number }
  | { state: 'starting'; pid: number }
  | { state: 'stopped'; dead: boolean };

export function parseDirectStatus(stdout: string): DirectState {
  const [word, arg] = stdout.trim().split(/\s+/);
  const pid = Number(arg);
  if ((word === 'running' || word === 'starting') && Number.isSafeInteger(pid) && pid > 1)
    return { state: word, pid };
  return { state: 'stopped', dead: arg === 'dead' };
}

export const DETECT_SYSTEMD_ARGV: readonly string[] = [
  'sh',
  '-c',
  'if [ -d /run/systemd/system ] && [ "$(cat /proc/1/comm 2>/dev/null)" = systemd ]; then echo systemd; else echo direct; fi',
];

export function unitName(name: string, unit: string | undefined): string {
  if (unit !== undefined) return unit;
  checkServiceName(name);
  return `${name}.service`;
}
