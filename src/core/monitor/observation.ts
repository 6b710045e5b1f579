// What the monitor sees: one NodeObservation per node per probe tick, gathered into a frozen ClusterSnapshot that
// every monitoring decision (health, alarms) reads and nothing mutates (Patroni: observe, freeze, then decide).
// Engine-neutral fields at the top level; what only one engine has lives in an optional sub-object
// (`replication` with a `kind`, `galera`). Pure: no I/O. Times are epoch milliseconds.
import { z } from 'zod';
import { NinesError } from '../errors.ts';
import { deepFreeze, type ClusterType } from '../spec.ts';
import { issuesToProblems, problemsDetail } from '../validation.ts';

/** The role a node showed when probed ('member' = Galera node; 'unknown' = not reachable or not determined). */
export type ObservedNodeRole = 'primary' | 'replica' | 'member' | 'unknown';

/** Why a probe failed: a stable NinesError code (e.g. NINES_E_HOST_UNREACHABLE) and a message without secrets. */
export interface ObservationError {
  readonly code: string;
  readonly message: string;
}

/** A MariaDB replica's view of its replication (SHOW REPLICA STATUS). */
export interface MariadbReplication {
  readonly kind: 'mariadb';
  /** host:port of the source (Master_Host:Master_Port); null when no source is configured. */
  readonly source: string | null;
  /** Slave_IO_Running = Yes. */
  readonly ioRunning: boolean;
  /** Slave_SQL_Running = Yes. */
  readonly sqlRunning: boolean;
  /** Seconds_Behind_Master; null when MariaDB does not know (a thread is stopped). */
  readonly lagSeconds: number | null;
  /** Last_IO_Error or Last_SQL_Error, whichever is set; null when none. */
  readonly lastError: string | null;
  /** Last_IO_Errno or Last_SQL_Errno (the one lastError comes from); 0 when none. */
  readonly lastErrno?: number;
  /** Using_Gtid: 'Slave_Pos', 'Current_Pos' or 'No'. */
  readonly usingGtid?: string;
  /** Gtid_IO_Pos: the GTID position received from the source. */
  readonly gtidIoPos?: string;
}

/** A PostgreSQL standby's view of its replication (pg_stat_wal_receiver, pg_last_wal_*_lsn). */
export interface PostgresReplication {
  readonly kind: 'postgres';
  /** host:port of the upstream (from primary_conninfo); null when unknown. */
  readonly source: string | null;
  /** pg_stat_wal_receiver.status ('streaming', 'startup', 'catchup', 'stopping', ...); null = no WAL receiver. */
  readonly receiverStatus: string | null;
  /** pg_last_wal_receive_lsn() as text (e.g. '0/3000148'); null when nothing received. */
  readonly receivedLsn: string | null;
  /** pg_last_wal_replay_lsn() as text; null when nothing replayed. */
  readonly replayedLsn: string | null;
  /** WAL received and not replayed yet: received - replayed, bytes (0 when nothing is left); null when unknown. */
  readonly lagBytes: number | null;
  /**
   * Seconds behind, 0 when everything received is replayed (idle time is not lag); while a gap lasts, the shorter
   * of the last replayed transaction's age and the gap's duration; null when unknown (no WAL receiver and nothing
   * left to replay). See src/core/monitor/lag.ts.
   */
  readonly lagSeconds: number | null;
  /**
   * pg_stat_wal_receiver.latest_end_lsn: the sender's WAL end in its latest message. Information only: it can sit
   * at the end of a WAL page past the last complete record, so lag is not measured against it.
   */
  readonly upstreamLsn?: string;
  /** Replay paused (pg_wal_replay_pause()): WAL is received but not applied. */
  readonly replayPaused?: boolean;
  /** The replication slot the WAL receiver streams through (pg_stat_wal_receiver.slot_name). */
  readonly slotName?: string | null;
}

export type ReplicationObservation = MariadbReplication | PostgresReplication;

/** A Galera node's wsrep status variables. */
export interface GaleraObservation {
  /** wsrep_cluster_status: 'Primary', 'non-Primary' or 'Disconnected'. */
  readonly clusterStatus: string;
  /** wsrep_cluster_size: members of the component this node is in. */
  readonly clusterSize: number;
  /** wsrep_local_state_comment: 'Synced', 'Donor/Desynced', 'Joining', 'Joined', ... */
  readonly localState: string;
  /** wsrep_ready = ON: the node accepts queries. */
  readonly ready: boolean;
  /** wsrep_flow_control_paused: fraction of time paused by flow control since the last read (0..1). */
  readonly flowControlPaused: number;
  /** wsrep_local_recv_queue: write-sets waiting to be applied. */
  readonly recvQueue: number;
  /** wsrep_last_committed: seqno of the last committed write-set. */
  readonly lastCommitted: number;
  /** wsrep_connected = ON: the node has a network connection to other members. */
  readonly connected?: boolean;
  /** wsrep_cluster_state_uuid: the history (data set) the node belongs to. */
  readonly stateUuid?: string;
  /** wsrep_local_send_queue: write-sets waiting to be sent. */
  readonly sendQueue?: number;
  /** wsrep_local_cert_failures per second since the previous observation (certification conflicts). */
  readonly certFailuresPerSecond?: number;
}

/** InnoDB figures of a MariaDB server (replication and Galera). Rates are over the time since the last probe. */
export interface InnodbObservation {
  /** Buffer pool reads served from memory, percent 0..100, since the previous observation; null when no reads. */
  readonly bufferPoolHitPct: number | null;
  /** Innodb_row_lock_current_waits: transactions waiting for a row lock now. */
  readonly rowLockWaitsNow: number;
  /** Innodb_row_lock_waits per second since the previous observation. */
  readonly rowLockWaitsPerSecond?: number;
  /** Innodb_history_list_length: undo records not purged yet (grows with long transactions). */
  readonly historyLength: number;
}

/** Server-wide MariaDB state (every MariaDB node, replication and Galera). */
export interface MariadbServerObservation {
  readonly serverId: number;
  /** @@gtid_current_pos, @@gtid_slave_pos, @@gtid_binlog_pos ('' when empty). */
  readonly gtidCurrentPos: string;
  readonly gtidSlavePos: string;
  readonly gtidBinlogPos: string;
  /** Seconds since the server started (a drop means it restarted). */
  readonly uptimeSeconds: number;
  readonly innodb: InnodbObservation;
  /** Semi-synchronous replication (absent when the plugin variables are not there). */
  readonly semiSync?: SemiSyncObservation;
}

/** Semi-sync state of a MariaDB node (both sides are configured on every node: any may become the primary). */
export interface SemiSyncObservation {
  /** rpl_semi_sync_master_enabled. */
  readonly masterEnabled: boolean;
  /** Rpl_semi_sync_master_status: the primary waits for ACKs now (OFF after it fell back to asynchronous). */
  readonly masterActive: boolean;
  /** Rpl_semi_sync_master_clients: semi-sync replicas connected. */
  readonly clients: number;
  /** Rpl_semi_sync_slave_status: this replica acknowledges to its source. */
  readonly slaveActive: boolean;
}

/** A replication slot of a PostgreSQL node (pg_replication_slots). */
export interface PostgresSlot {
  readonly name: string;
  /** 'physical' or 'logical'. */
  readonly type: string;
  /** A consumer is connected now. */
  readonly active: boolean;
  /** restart_lsn as text; null when the slot has never been used. */
  readonly restartLsn: string | null;
  /** WAL kept on disk for this slot: current (or replayed, on a standby) LSN - restart_lsn, bytes; null if unknown. */
  readonly retainedBytes: number | null;
  /** wal_status: 'reserved', 'extended', 'unreserved', 'lost'; null when unknown. */
  readonly walStatus: string | null;
}

/** Server-wide PostgreSQL state (primary and standbys). */
export interface PostgresServerObservation {
  /** The timeline the node is on (primary: of its current WAL; standby: received, else last checkpoint). */
  readonly timeline: number | null;
  /** pg_current_wal_lsn() on a primary; null on a standby. */
  readonly currentLsn: string | null;
  readonly slots: readonly PostgresSlot[];
  /** synchronous_standby_names as the server runs it ('' when asynchronous). */
  readonly synchronousStandbyNames?: string;
  /** On a primary: its WAL senders (pg_stat_replication), one per connected standby. */
  readonly standbys?: readonly PostgresStandbyState[];
}

/** One row of pg_stat_replication on a primary. */
export interface PostgresStandbyState {
  readonly applicationName: string;
  /** client_addr as text; null for a local (socket) connection. */
  readonly address: string | null;
  /** 'streaming', 'catchup', 'startup', ... */
  readonly state: string;
  /** 'async', 'potential', 'sync' or 'quorum'. */
  readonly syncState: string;
  readonly sentLsn: string | null;
  readonly flushLsn: string | null;
  readonly replayLsn: string | null;
}

/** Operating-system figures of the node's host (collected over SSH, less often than SQL probes). */
export interface HostStats {
  /** CPU busy, percent 0..100. */
  readonly cpuPct?: number;
  /** Memory used (excluding page cache), percent 0..100. */
  readonly memPct?: number;
  /** Use of the filesystem holding the data directory, percent 0..100. */
  readonly diskPct?: number;
  /** 1-minute load average. */
  readonly load1?: number;
  readonly load5?: number;
  readonly load15?: number;
  /** Online CPUs (load averages compare to this). */
  readonly cpuCount?: number;
  readonly memTotalBytes?: number;
  /** MemAvailable: memory a new workload can get without swapping. */
  readonly memAvailableBytes?: number;
  readonly diskTotalBytes?: number;
  readonly diskUsedBytes?: number;
  /** Bytes per second received / sent on every interface but lo, since the previous reading. */
  readonly netRxBytesPerSecond?: number;
  readonly netTxBytesPerSecond?: number;
}

/** What one probe tick saw of one node. Only `time` and `reachable` are always present. */
export interface NodeObservation {
  /** When the probe finished. */
  readonly time: number;
  /** The probe reached the database and got answers. */
  readonly reachable: boolean;
  /** Why the probe failed (set when reachable is false; may also describe a partial failure). */
  readonly error?: ObservationError;
  /** The role the node reported; 'unknown' when unreachable. */
  readonly role: ObservedNodeRole;
  /** The node refuses writes (read_only / default_transaction_read_only / standby). */
  readonly readOnly?: boolean;
  /** Set on MariaDB replicas and PostgreSQL standbys. */
  readonly replication?: ReplicationObservation;
  /** Set on Galera nodes. */
  readonly galera?: GaleraObservation;
  /** Set on MariaDB nodes (replication and Galera): GTID positions, InnoDB. */
  readonly mariadb?: MariadbServerObservation;
  /** Set on PostgreSQL nodes: timeline, current LSN, replication slots. */
  readonly postgres?: PostgresServerObservation;
  /** Client connections open now. */
  readonly connections?: number;
  /** Configured maximum of client connections. */
  readonly maxConnections?: number;
  readonly queriesPerSecond?: number;
  readonly transactionsPerSecond?: number;
  /** Age in seconds of the oldest running statement of a client (not replication threads); 0 when none. */
  readonly longestQuerySeconds?: number;
  readonly host?: HostStats;
  /** How long the probe took (connect included when it had to connect), ms. */
  readonly probeMs?: number;
}

/** A maintenance window: alarms are not raised for its scope until `until`. */
export interface MaintenanceWindow {
  readonly until: number;
  /** Free text from the operator ("kernel upgrade"). */
  readonly reason?: string;
}

/** A threshold with two levels and a clear margin (hysteresis): raised above a level, cleared below level - margin. */
export interface LevelThreshold {
  readonly warning: number;
  /** Absent: the value never becomes critical. */
  readonly critical?: number;
  readonly clearMargin: number;
}

/** Numbers the health classification and the alarm rules use; configurable per cluster. */
export interface MonitorThresholds {
  /** Consecutive failed probes before a node is down (one failure = pending). */
  readonly downAfterFailures: number;
  /** Replication lag (seconds): warning level = the spec's options.maxLagSeconds. */
  readonly lagSeconds: LevelThreshold;
  readonly diskPct: LevelThreshold;
  readonly memPct: LevelThreshold;
  readonly cpuPct: LevelThreshold;
  /** Age (seconds) of the oldest running client statement. */
  readonly longQuerySeconds: LevelThreshold;
}

export const DEFAULT_THRESHOLDS: MonitorThresholds = deepFreeze({
  downAfterFailures: 2,
  lagSeconds: { warning: 30, clearMargin: 5 },
  diskPct: { warning: 85, critical: 95, clearMargin: 3 },
  memPct: { warning: 90, critical: 97, clearMargin: 3 },
  cpuPct: { warning: 90, clearMargin: 10 },
  longQuerySeconds: { warning: 300, critical: 3600, clearMargin: 0 },
});

/** A two-level threshold; every number finite, positive and at most `max` (100 for percentages, 1 year of seconds). */
const level = (max: number) => {
  const n = z
    .number('expected a number')
    .positive('expected a positive number')
    .max(max, `expected at most ${max}`);
  return z
    .strictObject({
      warning: n,
      critical: n.optional(),
      clearMargin: z
        .number('expected a number')
        .min(0, 'expected 0 or more')
        .max(max, `expected at most ${max}`),
    })
    .partial();
};
const PCT = level(100);
const SECONDS = level(31_536_000);
const ThresholdsSchema = z.strictObject({
  downAfterFailures: z
    .number('expected a number')
    .int('expected an integer 1-100')
    .min(1, 'expected an integer 1-100')
    .max(100, 'expected an integer 1-100')
    .optional(),
  lagSeconds: SECONDS.optional(),
  diskPct: PCT.optional(),
  memPct: PCT.optional(),
  cpuPct: PCT.optional(),
  longQuerySeconds: SECONDS.optional(),
});
export type MonitorThresholdsInput = z.input<typeof ThresholdsSchema>;
const LEVEL_KEYS = ['lagSeconds', 'diskPct', 'memPct', 'cpuPct', 'longQuerySeconds'] as const;

/**
 * Validates per-cluster threshold overrides and merges them over the defaults (maxLagSeconds from the spec, when
 * given, is the lag warning level). The result is frozen. Throws NINES_E_MONITOR_CONFIG_INVALID naming each problem.
 */
export function resolveThresholds(input: unknown = {}, maxLagSeconds?: number): MonitorThresholds {
  const parsed = ThresholdsSchema.safeParse(input, { reportInput: true });
  if (!parsed.success) throw invalid(issuesToProblems(ThresholdsSchema, parsed.error.issues));
  const o = parsed.data;
  const lagBase =
    maxLagSeconds === undefined
      ? DEFAULT_THRESHOLDS.lagSeconds
      : { ...DEFAULT_THRESHOLDS.lagSeconds, warning: maxLagSeconds };
  const result: MonitorThresholds = {
    downAfterFailures: o.downAfterFailures ?? DEFAULT_THRESHOLDS.downAfterFailures,
    lagSeconds: { ...lagBase, ...o.lagSeconds },
    diskPct: { ...DEFAULT_THRESHOLDS.diskPct, ...o.diskPct },
    memPct: { ...DEFAULT_THRESHOLDS.memPct, ...o.memPct },
    cpuPct: { ...DEFAULT_THRESHOLDS.cpuPct, ...o.cpuPct },
    longQuerySeconds: { ...DEFAULT_THRESHOLDS.longQuerySeconds, ...o.longQuerySeconds },
  };
  const problems = LEVEL_KEYS.flatMap((key) => {
    const t = result[key];
    if (t.critical !== undefined && t.critical < t.warning) {
      return [`${key}.critical: expected at least the warning level ${t.warning}, got ${t.critical}`];
    }
    return t.clearMargin >= t.warning ? [`${key}.clearMargin: expected less than the warning level`] : [];
  });
  if (problems.length > 0) throw invalid(problems);
  return deepFreeze(result);
}

function invalid(problems: readonly string[]): NinesError {
  return new NinesError('NINES_E_MONITOR_CONFIG_INVALID', problemsDetail(problems), {
    context: { problems },
  });
}

/** One node of a snapshot: where it is, what the last probe saw, and how many probes in a row failed. */
export interface NodeSnapshot {
  readonly host: string;
  readonly port: number;
  /** The latest probe; absent when the node was never probed. */
  readonly observation?: NodeObservation;
  /** The latest probe that reached the node (its role is the last known role); absent when none did. */
  readonly lastGood?: NodeObservation;
  /** Failed probes in a row, ending with the latest (0 when the latest succeeded). */
  readonly consecutiveFailures: number;
  readonly maintenance?: MaintenanceWindow;
}

/** Everything the monitoring decisions know about one cluster at one instant. Deeply frozen. */
export interface ClusterSnapshot {
  readonly cluster: string;
  readonly type: ClusterType;
  /** Nodes the spec declares (a Galera component smaller than this is degraded). */
  readonly expectedNodes: number;
  /** When the snapshot was taken. */
  readonly time: number;
  readonly nodes: readonly NodeSnapshot[];
  readonly maintenance?: MaintenanceWindow;
  readonly thresholds: MonitorThresholds;
}

/** Freezes a snapshot (deeply) so no decision can change what another one reads. */
export function freezeSnapshot(snapshot: ClusterSnapshot): ClusterSnapshot {
  return deepFreeze(snapshot);
}

/** The next NodeSnapshot after a probe: counts failures in a row and remembers the last good observation. */
export function nextNodeSnapshot(
  prev: NodeSnapshot | undefined,
  node: { readonly host: string; readonly port: number; readonly maintenance?: MaintenanceWindow },
  observation: NodeObservation,
): NodeSnapshot {
  const lastGood = observation.reachable ? observation : prev?.lastGood;
  return {
    host: node.host,
    port: node.port,
    observation,
    ...(lastGood ? { lastGood } : {}),
    consecutiveFailures: observation.reachable ? 0 : (prev?.consecutiveFailures ?? 0) + 1,
    ...(node.maintenance ? { maintenance: node.maintenance } : {}),
  };
}

/** True while the window is open at `now`. */
export function inMaintenance(window: MaintenanceWindow | undefined, now: number): boolean {
  return window !== undefined && window.until > now;
}

export function nodeKey(node: { readonly host: string; readonly port: number }): string {
  return `${node.host}:${node.port}`;
}
