// The MariaDB node probe (replication and Galera): one persistent connection as the monitor user, and per
// observe() two pipelined statements sent together (one network round trip): one SELECT that returns every
// status and variable we need plus the age of the oldest client statement, and SHOW SLAVE STATUS. On Galera the
// session sets wsrep_dirty_reads so the SELECT still answers on a non-Primary node (where ordinary SELECTs fail
// with 1047); SHOW SLAVE STATUS is skipped there. Mapping rows to an observation is pure and unit-tested.
import type { NodeSpec } from '../../core/spec.ts';
import type {
  GaleraObservation,
  InnodbObservation,
  MariadbReplication,
  MariadbServerObservation,
  SemiSyncObservation,
} from '../../core/monitor/observation.ts';
import { counterRate, round, sharePct, type CounterReading } from '../../core/counter-rate.ts';
import type { NodeProbe, ProbeOptions } from '../engine.ts';
import { DEFAULT_PROBE_TIMEOUT_MS, createProbeSession, type ProbeReading } from '../probe-session.ts';
import { USERS } from './config.ts';
import { parseReplicaStatus, type ReplicaStatus } from './observe.ts';
import { connectSql, stringOf, type SqlClient, type SqlRow } from './sql.ts';

const STATUS_NAMES = [
  'UPTIME',
  'THREADS_CONNECTED',
  'QUESTIONS',
  'INNODB_BUFFER_POOL_READ_REQUESTS',
  'INNODB_BUFFER_POOL_READS',
  'INNODB_ROW_LOCK_CURRENT_WAITS',
  'INNODB_ROW_LOCK_WAITS',
  'INNODB_HISTORY_LIST_LENGTH',
  'WSREP_CLUSTER_STATUS',
  'WSREP_CLUSTER_SIZE',
  'WSREP_CLUSTER_STATE_UUID',
  'WSREP_LOCAL_STATE_COMMENT',
  'WSREP_READY',
  'WSREP_CONNECTED',
  'WSREP_FLOW_CONTROL_PAUSED',
  'WSREP_FLOW_CONTROL_PAUSED_NS',
  'WSREP_LOCAL_RECV_QUEUE',
  'WSREP_LOCAL_SEND_QUEUE',
  'WSREP_LAST_COMMITTED',
  'WSREP_LOCAL_CERT_FAILURES',
  'RPL_SEMI_SYNC_MASTER_STATUS',
  'RPL_SEMI_SYNC_MASTER_CLIENTS',
  'RPL_SEMI_SYNC_SLAVE_STATUS',
] as const;

const VARIABLE_NAMES = [
  'READ_ONLY',
  'MAX_CONNECTIONS',
  'SERVER_ID',
  'GTID_CURRENT_POS',
  'GTID_SLAVE_POS',
  'GTID_BINLOG_POS',
  'RPL_SEMI_SYNC_MASTER_ENABLED',
] as const;

/** Pseudo-variable: age in ms of the oldest statement of a client session (not system/replication threads). */
export const LONGEST_QUERY_KEY = 'nines_longest_query_ms';

/**
 * Client statements that are running: Query/Execute commands of real users. Replication (Slave_IO/SQL, Binlog
 * Dump), Galera appliers ('system user'), the event scheduler (Daemon) and idle sessions (Sleep) are left out.
 */
export const CLIENT_RUNNING_FILTER =
  "COMMAND IN ('Query', 'Execute') AND USER <> 'system user' AND ID <> CONNECTION_ID()";

const list = (names: readonly string[]): string => names.map((n) => `'${n}'`).join(', ');

/** Every status and variable the probe needs, and the oldest client statement, in one SELECT. */
export const MARIADB_PROBE_SQL = [
  `SELECT VARIABLE_NAME AS n, VARIABLE_VALUE AS v FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME IN (${list(STATUS_NAMES)})`,
  `UNION ALL SELECT VARIABLE_NAME, VARIABLE_VALUE FROM information_schema.GLOBAL_VARIABLES WHERE VARIABLE_NAME IN (${list(VARIABLE_NAMES)})`,
  `UNION ALL SELECT '${LONGEST_QUERY_KEY}', CAST(COALESCE(MAX(TIME_MS), 0) AS CHAR) FROM information_schema.PROCESSLIST WHERE ${CLIENT_RUNNING_FILTER}`,
].join(' ');

/** (n, v) rows as a map with lower-case names. */
export function probeValues(rows: readonly SqlRow[]): ReadonlyMap<string, string> {
  const out = new Map<string, string>();
  for (const row of rows) {
    const name = stringOf(row.n).toLowerCase();
    if (name !== '') out.set(name, stringOf(row.v));
  }
  return out;
}

/** Counter readings kept between two observations of the same probe (rates need two). */
export interface MariadbCounters {
  readonly uptime: number;
  readonly questions: CounterReading;
  readonly bufferPool: { readonly part: number; readonly total: number };
  readonly rowLockWaits: CounterReading;
  readonly flowControlPausedNs: CounterReading;
  readonly certFailures: CounterReading;
}

export interface MariadbSample {
  readonly values: ReadonlyMap<string, string>;
  /** SHOW SLAVE STATUS rows (empty on Galera or when replication is not configured). */
  readonly slave: readonly SqlRow[];
  /** When the values were read (epoch ms). */
  readonly time: number;
}

function num(values: ReadonlyMap<string, string>, name: string): number {
  const n = Number(values.get(name) ?? '');
  return Number.isFinite(n) ? n : 0;
}

function onOff(value: string | undefined): boolean {
  return ['1', 'ON', 'YES', 'TRUE'].includes((value ?? '').toUpperCase());
}

function reading(values: ReadonlyMap<string, string>, name: string, time: number): CounterReading {
  return { value: num(values, name), time };
}

/** The counters of a sample. */
export function mariadbCounters(sample: MariadbSample): MariadbCounters {
  const { values, time } = sample;
  const requests = num(values, 'innodb_buffer_pool_read_requests');
  return {
    uptime: num(values, 'uptime'),
    questions: reading(values, 'questions', time),
    // Hits = requests that did not go to disk.
    bufferPool: { part: requests - num(values, 'innodb_buffer_pool_reads'), total: requests },
    rowLockWaits: reading(values, 'innodb_row_lock_waits', time),
    flowControlPausedNs: reading(values, 'wsrep_flow_control_paused_ns', time),
    certFailures: reading(values, 'wsrep_local_cert_failures', time),
  };
}

/** Previous counters, unless the server restarted in between (then every rate starts over). */
function sameServer(prev: MariadbCounters | undefined, next: MariadbCounters): MariadbCounters | undefined {
  return prev && next.uptime >= prev.uptime ? prev : undefined;
}

/** SHOW SLAVE STATUS -> the observation's replication part. */
export function mariadbReplication(status: ReplicaStatus): MariadbReplication {
  const ioError = status.lastIoError !== '' ? status.lastIoError : null;
  const sqlError = status.lastSqlError !== '' ? status.lastSqlError : null;
  return {
    kind: 'mariadb',
    source: `${status.sourceHost}:${status.sourcePort}`,
    ioRunning: status.ioRunning === 'Yes',
    sqlRunning: status.sqlRunning,
    lagSeconds: status.secondsBehind,
    lastError: ioError ?? sqlError,
    lastErrno: ioError ? status.lastIoErrno : sqlError ? status.lastSqlErrno : 0,
    usingGtid: status.usingGtid,
    gtidIoPos: status.gtidIoPos,
  };
}

/** wsrep status -> the observation's Galera part; flow control paused is over the time since `prev`. */
export function galeraObservation(
  values: ReadonlyMap<string, string>,
  counters: MariadbCounters,
  prev: MariadbCounters | undefined,
): GaleraObservation {
  // wsrep_flow_control_paused_ns delta / elapsed ns = fraction paused since the previous probe.
  const pausedNs = counterRate(prev?.flowControlPausedNs, counters.flowControlPausedNs);
  const certFailures = counterRate(prev?.certFailures, counters.certFailures);
  return {
    clusterStatus: values.get('wsrep_cluster_status') ?? 'Disconnected',
    clusterSize: num(values, 'wsrep_cluster_size'),
    localState: values.get('wsrep_local_state_comment') ?? '',
    ready: onOff(values.get('wsrep_ready')),
    flowControlPaused: round(
      pausedNs === undefined ? num(values, 'wsrep_flow_control_paused') : Math.min(1, pausedNs / 1e9),
      4,
    ),
    recvQueue: num(values, 'wsrep_local_recv_queue'),
    lastCommitted: num(values, 'wsrep_last_committed'),
    connected: onOff(values.get('wsrep_connected')),
    stateUuid: values.get('wsrep_cluster_state_uuid') ?? '',
    sendQueue: num(values, 'wsrep_local_send_queue'),
    ...(certFailures === undefined ? {} : { certFailuresPerSecond: round(certFailures) }),
  };
}

function innodbObservation(
  values: ReadonlyMap<string, string>,
  counters: MariadbCounters,
  prev: MariadbCounters | undefined,
): InnodbObservation {
  const hit = sharePct(prev?.bufferPool, counters.bufferPool);
  const lockWaits = counterRate(prev?.rowLockWaits, counters.rowLockWaits);
  return {
    bufferPoolHitPct: hit === undefined ? null : round(hit),
    rowLockWaitsNow: num(values, 'innodb_row_lock_current_waits'),
    ...(lockWaits === undefined ? {} : { rowLockWaitsPerSecond: round(lockWaits) }),
    historyLength: num(values, 'innodb_history_list_length'),
  };
}

/**
 * Semi-sync state of both sides; undefined when the server has no semi-sync variables (a build without them:
 * they are built in since MariaDB 10.3, so Galera nodes report them too, all off).
 */
export function semiSyncObservation(values: ReadonlyMap<string, string>): SemiSyncObservation | undefined {
  if (!values.has('rpl_semi_sync_master_enabled')) return undefined;
  return {
    masterEnabled: onOff(values.get('rpl_semi_sync_master_enabled')),
    masterActive: onOff(values.get('rpl_semi_sync_master_status')),
    clients: num(values, 'rpl_semi_sync_master_clients'),
    slaveActive: onOff(values.get('rpl_semi_sync_slave_status')),
  };
}

function serverObservation(
  values: ReadonlyMap<string, string>,
  counters: MariadbCounters,
  prev: MariadbCounters | undefined,
): MariadbServerObservation {
  const semiSync = semiSyncObservation(values);
  return {
    serverId: num(values, 'server_id'),
    gtidCurrentPos: values.get('gtid_current_pos') ?? '',
    gtidSlavePos: values.get('gtid_slave_pos') ?? '',
    gtidBinlogPos: values.get('gtid_binlog_pos') ?? '',
    uptimeSeconds: counters.uptime,
    innodb: innodbObservation(values, counters, prev),
    ...(semiSync ? { semiSync } : {}),
  };
}

export interface MariadbObserveOptions {
  readonly galera: boolean;
  /** Statements the probe itself sends per observation (subtracted from Questions). */
  readonly ownStatements: number;
}

/**
 * Pure: one sample (and the counters of the previous one of the same probe) -> the observation and the counters
 * to keep. Role: Galera node = 'member'; a configured source in SHOW SLAVE STATUS = 'replica'; otherwise
 * 'primary' (with readOnly telling whether it takes writes).
 */
export function mariadbObservation(
  sample: MariadbSample,
  previous: MariadbCounters | undefined,
  options: MariadbObserveOptions,
): { reading: ProbeReading; counters: MariadbCounters } {
  const { values } = sample;
  const counters = mariadbCounters(sample);
  const prev = sameServer(previous, counters);
  const replica = options.galera ? undefined : parseReplicaStatus(sample.slave);
  const qps = counterRate(prev?.questions, counters.questions, options.ownStatements);
  const reading: ProbeReading = {
    reachable: true,
    role: options.galera ? 'member' : replica ? 'replica' : 'primary',
    readOnly: onOff(values.get('read_only')),
    ...(replica ? { replication: mariadbReplication(replica) } : {}),
    ...(options.galera ? { galera: galeraObservation(values, counters, prev) } : {}),
    mariadb: serverObservation(values, counters, prev),
    connections: num(values, 'threads_connected'),
    maxConnections: num(values, 'max_connections'),
    ...(qps === undefined ? {} : { queriesPerSecond: round(qps) }),
    longestQuerySeconds: round(num(values, LONGEST_QUERY_KEY) / 1000, 1),
  };
  return { reading, counters };
}

export interface MariadbProbeOptions {
  readonly galera: boolean;
}

/** A persistent probe of one MariaDB node as the monitor user (see the file comment). */
export function openMariadbProbe(
  node: Pick<NodeSpec, 'host' | 'port'>,
  options: ProbeOptions,
  kind: MariadbProbeOptions,
): NodeProbe {
  const endpoint = {
    host: node.host,
    port: node.port,
    user: USERS.monitor,
    password: options.credentials.monitor,
  };
  const timeoutMs = options.timeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS;
  let counters: MariadbCounters | undefined;
  const observeOptions: MariadbObserveOptions = { galera: kind.galera, ownStatements: kind.galera ? 1 : 2 };
  return createProbeSession<SqlClient>({
    address: `${node.host}:${node.port}`,
    timeoutMs,
    async connect(ms) {
      const client = await connectSql(endpoint, { connectTimeoutMs: ms, queryTimeoutMs: ms });
      if (kind.galera) {
        // Reads of information_schema keep working while the node is not in a Primary component.
        await client
          .execute('SET SESSION wsrep_dirty_reads = ON', [], { timeoutMs: ms })
          .catch(async (err) => {
            await client.close();
            throw err;
          });
      }
      return client;
    },
    usable: (client) => client.usable,
    async read(client, ms) {
      // Sent back to back on one connection (the connector pipelines them): one round trip.
      const [rows, slave] = await Promise.all([
        client.query(MARIADB_PROBE_SQL, [], { timeoutMs: ms }),
        kind.galera ? Promise.resolve([]) : client.query('SHOW SLAVE STATUS', [], { timeoutMs: ms }),
      ]);
      const sample = { values: probeValues(rows), slave, time: Date.now() };
      const result = mariadbObservation(sample, counters, observeOptions);
      counters = result.counters;
      return result.reading;
    },
  });
}
