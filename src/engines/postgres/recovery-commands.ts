// The host commands of the failover verbs, as argv (pure, unit-tested): the port check (a protocol greeting under
// `timeout`), the stop that fences a node (standby.signal first, then a fast shutdown, immediate when that does
// not finish), pg_controldata's final position, and pg_rewind against the new primary. Every value reaches the
// host as its own argv element; the scripts take them as positional parameters, never spliced into the text.
import type { PortVerdict } from '../engine.ts';
import type { ClusterSpec, NodeSpec } from '../../core/spec.ts';
import { PG_USERS, pgPaths } from './config.ts';
import { RUN_AS_POSTGRES } from './server.ts';
import { conninfoValue } from './syntax.ts';

// The port check speaks the first step of the protocol itself (bash's /dev/tcp): a startup packet for the admin
// user, then the first message of the answer. 'R' (the server asks for authentication): accepting connections; 'E'
// with SQLSTATE 57P03: rejecting (starting up, shutting down, in crash recovery); no connection or no answer: 2.
// The same verdicts as pg_isready (0/1/2), but pg_isready ends with a Terminate message in the middle of the
// SCRAM exchange, which the server logs as FATAL "expected SASL response" on every check; closing the socket
// there instead is an end of file during authentication, which PostgreSQL does not log.
const PORT_CHECK_SCRIPT = String.raw`
h=$1; p=$2; u=$3
exec 3<>"/dev/tcp/$h/$p" 2>/dev/null || exit 2
n=$((33 + ${'${#u}'}))
{
  printf '\000\000\000'; printf "\\$(printf %03o "$n")"; printf '\000\003\000\000'
  printf 'user\000%s\000database\000postgres\000\000' "$u"
} >&3 2>/dev/null || exit 2
type=$(head -c 1 <&3 | od -An -c | tr -d ' \n')
set -- $(head -c 4 <&3 | od -An -tu1)
[ $# -eq 4 ] || exit 2
# The whole message is read before closing: unread bytes would make the close a reset, which the server logs.
body=$(head -c $((($1 << 24) + ($2 << 16) + ($3 << 8) + $4 - 4)) <&3 | tr -d '\000')
exec 3<&-
case "$type" in
  R) exit 0 ;;
  E) case "$body" in *C57P03*) exit 1 ;; esac; exit 0 ;;
  *) exit 2 ;;
esac
`;

/**
 * The port check from one host to another (PORT_CHECK_SCRIPT), killed by timeout after waitMs: a frozen server
 * (its kernel still completes the TCP handshake, postgres never answers) is then no answer. Host, port and user
 * are positional parameters of the script, never part of its text.
 */
export function portCheckArgv(target: NodeSpec, waitMs: number): string[] {
  const seconds = (Math.max(1, waitMs) / 1000).toFixed(3);
  return [
    'timeout',
    '-k',
    '0.2',
    seconds,
    'bash',
    '-c',
    PORT_CHECK_SCRIPT,
    'nines-portcheck',
    target.host,
    String(target.port),
    PG_USERS.admin,
  ];
}

/**
 * The port check's exit status (or timeout's) as a verdict. 0: the server accepts connections. 1: it answered but
 * rejects connections (starting up, shutting down, crash recovery) — it cannot serve, and the controller's own
 * probe counts the same SQLSTATE 57P03 as unreachable, so 'down'. 2: no connection or no answer; 124/137: timed
 * out. Anything else (127: no bash) says nothing about the target: 'unknown'.
 */
export function portVerdict(exitCode: number): PortVerdict {
  if (exitCode === 0) return 'up';
  if (exitCode === 1 || exitCode === 2 || exitCode === 124 || exitCode === 137) return 'down';
  return 'unknown';
}

const STOP_SCRIPT = String.raw`
export LC_ALL=C
v=$1; port=$2; fast=$3; immediate=$4
data=/var/lib/postgresql/$v/main; bin=/usr/lib/postgresql/$v/bin
cd /
running() {
  [ -f "$data/postmaster.pid" ] || return 1
  pid=$(head -n1 "$data/postmaster.pid")
  [ -n "$pid" ] && [ "$(cat /proc/$pid/comm 2>/dev/null)" = postgres ]
}
# Waits up to $1 tenths of a second for the server to be gone.
stopped_within() {
  i=0
  while running; do
    [ "$i" -ge "$1" ] && return 1
    sleep 0.1; i=$((i + 1))
  done
}
if [ -f "$data/PG_VERSION" ]; then
  if runuser -u postgres -- touch "$data/standby.signal"; then echo standby_signal=1; fi
else
  echo nodata=1
fi
how=already-stopped
if running; then
  how=fast
  runuser -u postgres -- "$bin/pg_ctl" -D "$data" -m fast -W stop >/dev/null 2>&1
  if ! stopped_within "$fast"; then
    how=fast-timed-out
    if [ "$immediate" -gt 0 ]; then
      how=immediate
      runuser -u postgres -- "$bin/pg_ctl" -D "$data" -m immediate -W stop >/dev/null 2>&1
      stopped_within "$immediate" || how=immediate-failed
    fi
  fi
fi
echo "how=$how"
if running; then
  echo running=1
else
  echo running=0
  # The kernel keeps retransmitting what the dead server's sockets had not sent (cut off from its standbys, the
  # end of its WAL) and would deliver it once the network heals: destroy those sockets.
  ss -K -t "( sport = :$port )" >/dev/null 2>&1
fi
if [ -f "$data/global/pg_control" ]; then
  control=$("$bin/pg_controldata" -D "$data" 2>/dev/null)
  field() { printf '%s\n' "$control" | sed -n "s/^$1: *//p"; }
  state=$(field 'Database cluster state'); cp=$(field 'Latest checkpoint location')
  tl=$(field "Latest checkpoint's TimeLineID"); seg=$(field 'Bytes per WAL segment')
  echo "state=$state"; echo "checkpoint=$cp"; echo "timeline=$tl"; echo "segment_size=$seg"
  # After a clean shutdown the checkpoint record is the last one: its length gives the end of the WAL.
  if [ "$state" = "shut down" ] && [ -n "$cp" ] && [ -n "$tl" ]; then
    "$bin/pg_waldump" -p "$data/pg_wal" -t "$tl" -s "$cp" -n 1 2>/dev/null |
      sed -n 's/.*len (rec\/tot): *[0-9]*\/ *\([0-9]*\),.*/checkpoint_length=\1/p'
  fi
fi
`;

/**
 * Stops the node's server so that it can only come back as a standby: standby.signal is written first (a restart,
 * by hand or at boot, enters recovery and never accepts writes), then a fast shutdown given fastMs, then an
 * immediate one (given immediateMs) if the fast one did not finish; immediateMs 0 never does that (a switchover
 * needs the clean shutdown). The waits are polled in tenths of a second. Once stopped, the TCP sockets left on the
 * port are destroyed (ss -K). Prints key=value lines (parseStop).
 */
export function stopArgv(
  version: string,
  port: number,
  options: { readonly fastMs: number; readonly immediateMs: number },
): string[] {
  const tenths = (ms: number, min: number): string => String(Math.max(min, Math.floor(ms / 100)));
  return [
    'sh',
    '-c',
    STOP_SCRIPT,
    'nines-stop',
    version,
    String(port),
    tenths(options.fastMs, 1),
    tenths(options.immediateMs, 0),
  ];
}

export interface StopResult {
  /** Our server is not running (verified by postmaster.pid and /proc). */
  readonly stopped: boolean;
  /** 'already-stopped', 'fast', 'fast-timed-out', 'immediate', 'immediate-failed'. */
  readonly how: string;
  /** standby.signal is in the data directory. */
  readonly standbySignal: boolean;
  /** The node has no data directory at all. */
  readonly noData: boolean;
  /** pg_controldata "Database cluster state" ('shut down', 'shut down in recovery', 'in production', ...). */
  readonly state: string | null;
  /** "Latest checkpoint location": after a clean shutdown of a primary, its shutdown checkpoint (the last record). */
  readonly checkpointLsn: string | null;
  readonly timeline: number | null;
  /** The checkpoint record's total length (pg_waldump), after a clean shutdown; null when unknown. */
  readonly checkpointLength: number | null;
  /** "Bytes per WAL segment". */
  readonly segmentSize: number | null;
}

export function parseStop(stdout: string): StopResult {
  const kv = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) kv.set(line.slice(0, i).trim(), line.slice(i + 1).trim());
  }
  const positive = (k: string): number | null => {
    const n = Number(kv.get(k) || 'x');
    return Number.isInteger(n) && n > 0 ? n : null;
  };
  return {
    stopped: kv.get('running') === '0',
    how: kv.get('how') ?? 'unknown',
    standbySignal: kv.get('standby_signal') === '1',
    noData: kv.get('nodata') === '1',
    state: kv.get('state') || null,
    checkpointLsn: kv.get('checkpoint') || null,
    timeline: positive('timeline'),
    checkpointLength: positive('checkpoint_length'),
    segmentSize: positive('segment_size'),
  };
}

/** How a stop went, for the failover log. */
export function describeStop(r: StopResult): string {
  const how: Record<string, string> = {
    'already-stopped': 'server already stopped',
    fast: 'server stopped (fast shutdown)',
    'fast-timed-out': 'fast shutdown did not finish',
    immediate: 'server stopped (immediate shutdown after the fast one did not finish)',
    'immediate-failed': 'neither a fast nor an immediate shutdown stopped the server',
  };
  const signal = r.standbySignal
    ? 'standby.signal written: a restart comes up as a standby'
    : r.noData
      ? 'no data directory'
      : 'standby.signal could not be written';
  return `${how[r.how] ?? r.how}; ${signal}`;
}

/**
 * pg_rewind of `node`'s data directory from `primary`, as postgres. The admin password is read from a passfile
 * (paths.rewindPgpass), never argv. --config-file (PostgreSQL 15+) lets pg_rewind run the crash recovery a node
 * stopped by an immediate shutdown (or a crash) needs with Debian's configuration outside the data directory.
 */
export function rewindArgv(spec: ClusterSpec, primary: NodeSpec): string[] {
  const paths = pgPaths(spec.version);
  const conninfo = [
    `host=${conninfoValue(primary.host, 'host')}`,
    `port=${primary.port}`,
    `user=${conninfoValue(PG_USERS.admin, 'user')}`,
    'dbname=postgres',
    `passfile=${conninfoValue(paths.rewindPgpass, 'passfile')}`,
    'application_name=nines_rewind',
    'connect_timeout=5',
  ].join(' ');
  const configFile = Number(spec.version) >= 15 ? [`--config-file=${paths.confDir}/postgresql.conf`] : [];
  return [
    ...RUN_AS_POSTGRES,
    `${paths.bin}/pg_rewind`,
    `--target-pgdata=${paths.dataDir}`,
    `--source-server=${conninfo}`,
    ...configFile,
  ];
}

/** Touches standby.signal in the data directory, as postgres. */
export function standbySignalArgv(version: string): string[] {
  return [...RUN_AS_POSTGRES, 'touch', `${pgPaths(version).dataDir}/standby.signal`];
}

/** pg_rewind's outcome in a phrase, from its output ('no rewind required', 'diverged at 0/3000148 on timeline 1'). */
export function rewindSummary(output: string): string {
  if (/no rewind required/i.test(output)) return 'no rewind required';
  const m = /servers diverged at WAL location (\S+) on timeline (\d+)/.exec(output);
  const at = m ? `diverged at ${m[1]} on timeline ${m[2]}` : 'rewound';
  return /Done!/.test(output) ? at : `${at} (no "Done!" in its output)`;
}
