// What the engine does on a node over its Executor: probe the node's state in one round trip, install the
// package, create the Debian cluster, write files, start/stop/reload the server, run SQL as the local postgres
// superuser, clone a standby. Commands are argv arrays; the pure argv builders are unit-tested.
import { NinesError, isNinesError } from '../../core/errors.ts';
import { credentialSecrets } from '../../core/redact.ts';
import type { ClusterSpec, NodeSpec } from '../../core/spec.ts';
import type { Executor } from '../../hosts/executor.ts';
import type { ConfigFile } from '../engine.ts';
import { PG_USERS, pgPaths, slotName, type PgPaths } from './config.ts';

export const RUN_AS_POSTGRES = ['env', '-C', '/', 'runuser', '-u', 'postgres', '--'];

/** What one node looks like before we touch it. */
export interface NodeProbe {
  readonly systemd: boolean;
  readonly packageInstalled: boolean;
  readonly configExists: boolean;
  readonly dataExists: boolean;
  readonly standbySignal: boolean;
  /** Our server (postmaster.pid of our datadir names a live postgres process). */
  readonly running: boolean;
  /** Something listens on the node's port. */
  readonly portBusy: boolean;
  /** pg_controldata "Database system identifier" ('' when there is no data). */
  readonly systemIdentifier: string;
}

const PROBE_SCRIPT = String.raw`
v=$1; port=$2; conf=/etc/postgresql/$v/main; data=/var/lib/postgresql/$v/main
yn() { if "$@" >/dev/null 2>&1; then echo 1; else echo 0; fi; }
echo "systemd=$(yn test -d /run/systemd/system)"
echo "package=$(dpkg-query -W -f='${'${Status}'}' postgresql-$v 2>/dev/null | grep -c 'install ok installed')"
echo "conf=$(yn test -f $conf/postgresql.conf)"
echo "data=$(yn test -f $data/PG_VERSION)"
echo "standby_signal=$(yn test -f $data/standby.signal)"
running=0
if [ -f $data/postmaster.pid ]; then
  pid=$(head -n1 $data/postmaster.pid)
  [ -n "$pid" ] && [ "$(cat /proc/$pid/comm 2>/dev/null)" = postgres ] && running=1
fi
echo "running=$running"
echo "port_busy=$(ss -Hltn "sport = :$port" 2>/dev/null | grep -c .)"
sysid=
if [ -f $data/global/pg_control ] && [ -x /usr/lib/postgresql/$v/bin/pg_controldata ]; then
  sysid=$(/usr/lib/postgresql/$v/bin/pg_controldata -D $data 2>/dev/null | sed -n 's/^Database system identifier: *//p')
fi
echo "sysid=$sysid"
`;

export function probeArgv(version: string, port: number): string[] {
  return ['sh', '-c', PROBE_SCRIPT, 'nines-probe', version, String(port)];
}

export function parseProbe(stdout: string): NodeProbe {
  const kv = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) kv.set(line.slice(0, i).trim(), line.slice(i + 1).trim());
  }
  const flag = (k: string): boolean => Number(kv.get(k) ?? '0') > 0;
  return {
    systemd: flag('systemd'),
    packageInstalled: flag('package'),
    configExists: flag('conf'),
    dataExists: flag('data'),
    standbySignal: flag('standby_signal'),
    running: flag('running'),
    portBusy: flag('port_busy'),
    systemIdentifier: kv.get('sysid') ?? '',
  };
}

export async function probeNode(ex: Executor, spec: ClusterSpec, node: NodeSpec, signal?: AbortSignal) {
  const r = await ex.exec(probeArgv(spec.version, node.port), { timeoutMs: 20_000, signal });
  return parseProbe(r.stdout);
}

/** Installs postgresql-<version> with apt when missing; NINES_E_PACKAGE_MISSING when that is not possible. */
export async function ensurePackage(ex: Executor, version: string, signal?: AbortSignal): Promise<void> {
  const pkg = `postgresql-${version}`;
  const r = await ex.exec(['apt-get', 'install', '-y', '-q', '--no-install-recommends', pkg], {
    sudo: true,
    check: false,
    timeoutMs: 300_000,
    signal,
    env: { DEBIAN_FRONTEND: 'noninteractive' },
  });
  if (r.exitCode !== 0) {
    throw new NinesError('NINES_E_PACKAGE_MISSING', `${pkg} on ${ex.host} (apt-get install failed)`, {
      context: { host: ex.host, package: pkg, stderr: r.stderr.slice(-1000) },
    });
  }
}

/**
 * pg_createcluster (config in /etc/postgresql/V/main, data in /var/lib/postgresql/V/main). A half-created
 * cluster (config without data) is dropped first. `noSync` for standbys, whose data is replaced by a clone.
 */
export function createClusterArgv(version: string, port: number, noSync: boolean): string[] {
  const script = [
    'set -e',
    'v=$1; port=$2; nosync=$3',
    'if [ -f /etc/postgresql/$v/main/postgresql.conf ] && [ -f /var/lib/postgresql/$v/main/PG_VERSION ]; then exit 0; fi',
    'if [ -d /etc/postgresql/$v/main ]; then rm -rf /etc/postgresql/$v/main; fi',
    'if [ "$nosync" = 1 ]; then pg_createcluster -p "$port" "$v" main -- --no-sync; else pg_createcluster -p "$port" "$v" main; fi',
  ].join('\n');
  return ['sh', '-c', script, 'nines-createcluster', version, String(port), noSync ? '1' : '0'];
}

export async function createCluster(ex: Executor, spec: ClusterSpec, node: NodeSpec, noSync: boolean) {
  await ex.exec(createClusterArgv(spec.version, node.port, noSync), { sudo: true, timeoutMs: 120_000 });
}

export async function writeFiles(ex: Executor, files: readonly ConfigFile[]): Promise<void> {
  for (const f of files) await ex.putFile(f.path, f.content, { mode: f.mode, owner: f.owner, sudo: true });
}

export async function removeFile(ex: Executor, path: string): Promise<void> {
  await ex.exec(['rm', '-f', '--', path], { sudo: true });
}

export type ServiceAction = 'start' | 'stop' | 'reload';

/**
 * The one place that chooses how the server is run: the Debian unit where systemd is PID 1, pg_ctl otherwise
 * (pg_ctl -w manages its own pidfile and waits until the server accepts connections).
 */
export function serviceArgv(
  paths: PgPaths,
  action: ServiceAction,
  systemd: boolean,
  waitSeconds = 60,
): string[] {
  if (systemd) return ['systemctl', action, paths.unit];
  const pgCtl = `${paths.bin}/pg_ctl`;
  const common = ['-D', paths.dataDir];
  const wait = ['-w', '-t', String(waitSeconds)];
  switch (action) {
    case 'start':
      return [
        ...RUN_AS_POSTGRES,
        pgCtl,
        ...common,
        '-o',
        `-c config_file=${paths.confDir}/postgresql.conf`,
        '-l',
        paths.logFile,
        ...wait,
        'start',
      ];
    case 'stop':
      return [...RUN_AS_POSTGRES, pgCtl, ...common, '-m', 'fast', ...wait, 'stop'];
    case 'reload':
      return [...RUN_AS_POSTGRES, pgCtl, ...common, 'reload'];
  }
}

export async function logTail(ex: Executor, paths: PgPaths, timeoutMs = 60_000): Promise<string> {
  const r = await ex
    .exec(['tail', '-n', '15', paths.logFile], { sudo: true, check: false, timeoutMs })
    .catch(() => null);
  return r?.stdout.trim() ?? '';
}

/**
 * Start/stop/reload; a failure carries the tail of the server log. `waitSeconds` bounds how long pg_ctl waits
 * for the server to accept connections (start) or to stop (default 60; the command gets 30 s more).
 */
export async function service(
  ex: Executor,
  spec: ClusterSpec,
  action: ServiceAction,
  systemd: boolean,
  options: { readonly waitSeconds?: number; readonly signal?: AbortSignal } = {},
): Promise<void> {
  const paths = pgPaths(spec.version);
  const waitSeconds = options.waitSeconds ?? 60;
  try {
    if (action === 'start' && !systemd) {
      // After a host crash the pid in postmaster.pid may belong to another process of the new boot.
      await ex.exec(['sh', '-c', STALE_PID_SCRIPT, 'nines-stale-pid', paths.dataDir], { sudo: true });
    }
    await ex.exec(serviceArgv(paths, action, systemd, waitSeconds), {
      sudo: true,
      timeoutMs: (waitSeconds + 30) * 1000,
      signal: options.signal,
    });
  } catch (err) {
    if (!isNinesError(err, 'NINES_E_COMMAND_FAILED')) throw err;
    // Started meanwhile by someone else (self-healing and an operator at once): what was asked is true.
    if (action === 'start' && (await runningNow(ex, spec))) return;
    const log = await logTail(ex, paths);
    throw new NinesError('NINES_E_SERVICE', `${action} PostgreSQL on ${ex.host}: ${log || err.message}`, {
      cause: err,
      context: { host: ex.host, action, logFile: paths.logFile },
    });
  }
}

async function runningNow(ex: Executor, spec: ClusterSpec): Promise<boolean> {
  const r = await ex.exec(probeArgv(spec.version, 0), { check: false, timeoutMs: 20_000 }).catch(() => null);
  return r !== null && parseProbe(r.stdout).running;
}

const STALE_PID_SCRIPT = String.raw`
f=$1/postmaster.pid
[ -f "$f" ] || exit 0
pid=$(head -n1 "$f")
[ "$(cat /proc/$pid/comm 2>/dev/null)" = postgres ] || rm -f "$f"
`;

/** Runs SQL (from stdin, so nothing secret is in argv) as the local postgres superuser through the socket. */
/**
 * Runs SQL as the local postgres superuser (on stdin, never argv). The spec's credentials and `secrets` are
 * redacted from anything a failure reports (psql echoes the failing line with its error).
 */
export async function psql(
  ex: Executor,
  spec: ClusterSpec,
  node: NodeSpec,
  sql: string,
  options: { readonly secrets?: readonly string[] } = {},
): Promise<string> {
  const paths = pgPaths(spec.version);
  const argv = [
    ...RUN_AS_POSTGRES,
    `${paths.bin}/psql`,
    '-X',
    '-q',
    '-A',
    '-t',
    '-v',
    'ON_ERROR_STOP=1',
    '-p',
    String(node.port),
    '-d',
    'postgres',
  ];
  const secrets = [...credentialSecrets(spec.credentials), ...(options.secrets ?? [])];
  const r = await ex.exec(argv, { sudo: true, stdin: sql, timeoutMs: 60_000, secrets });
  return r.stdout;
}

/** Stops our server if it runs and empties the data directory (a standby about to be cloned again). */
export async function wipeData(
  ex: Executor,
  spec: ClusterSpec,
  probe: NodeProbe,
  signal?: AbortSignal,
): Promise<void> {
  if (probe.running) await service(ex, spec, 'stop', probe.systemd, { signal });
  const paths = pgPaths(spec.version);
  const script =
    'set -e; d=$1; mkdir -p "$d"; find "$d" -mindepth 1 -delete; chown postgres:postgres "$d"; chmod 700 "$d"';
  await ex.exec(['sh', '-c', script, 'nines-wipe', paths.dataDir], {
    sudo: true,
    timeoutMs: 120_000,
    signal,
  });
}

export function baseBackupArgv(spec: ClusterSpec, node: NodeSpec, primary: NodeSpec): string[] {
  const paths = pgPaths(spec.version);
  return [
    ...RUN_AS_POSTGRES,
    'env',
    `PGPASSFILE=${paths.pgpass}`,
    `PGAPPNAME=nines_clone`,
    `${paths.bin}/pg_basebackup`,
    '-h',
    primary.host,
    '-p',
    String(primary.port),
    '-U',
    PG_USERS.replication,
    '-D',
    paths.dataDir,
    '-X',
    'stream',
    '-S',
    slotName(node),
    '-c',
    'fast',
    '-w',
  ];
}

/** pg_basebackup from the primary through the standby's slot, then standby.signal (last: marks a whole clone). */
export async function cloneFrom(
  ex: Executor,
  spec: ClusterSpec,
  node: NodeSpec,
  primary: NodeSpec,
  signal?: AbortSignal,
) {
  const paths = pgPaths(spec.version);
  await ex.exec(baseBackupArgv(spec, node, primary), { sudo: true, timeoutMs: 3_600_000, signal });
  await ex.exec([...RUN_AS_POSTGRES, 'touch', `${paths.dataDir}/standby.signal`], { sudo: true, signal });
}
