// Reading a MariaDB server's state: replication (SHOW SLAVE STATUS, read_only, GTID positions) and Galera
// (wsrep status). Parsers are pure and take rows from either path (TCP SqlClient or root over SSH); the
// `read*` functions run the queries over an SqlClient, so the monitor can call them on its persistent
// per-node connections every second.
import type { SqlClient } from './sql.ts';
import { stringOf, variablesMap } from './sql.ts';

type Row = Readonly<Record<string, unknown>>;

export interface ReplicaStatus {
  readonly sourceHost: string;
  readonly sourcePort: number;
  readonly ioRunning: 'Yes' | 'No' | 'Connecting';
  readonly sqlRunning: boolean;
  readonly secondsBehind: number | null;
  readonly lastIoErrno: number;
  readonly lastIoError: string;
  readonly lastSqlErrno: number;
  readonly lastSqlError: string;
  readonly usingGtid: string;
  readonly gtidIoPos: string;
}

export interface ReplicationState {
  readonly readOnly: boolean;
  readonly serverId: number;
  readonly gtidCurrentPos: string;
  readonly gtidBinlogPos: string;
  readonly gtidSlavePos: string;
  /** Undefined when the server has no replication configured (no SHOW SLAVE STATUS row). */
  readonly replica?: ReplicaStatus;
}

function num(value: unknown, fallback = 0): number {
  const text = stringOf(value);
  if (text === '') return fallback;
  const n = Number(text);
  return Number.isFinite(n) ? n : fallback;
}

function onOff(value: unknown): boolean {
  const text = stringOf(value).toUpperCase();
  return text === '1' || text === 'ON' || text === 'YES' || text === 'TRUE';
}

/** The first row of SHOW SLAVE STATUS, or undefined when replication is not configured. */
export function parseReplicaStatus(rows: readonly Row[]): ReplicaStatus | undefined {
  const row = rows[0];
  if (!row) return undefined;
  const host = stringOf(row.Master_Host);
  if (host === '') return undefined;
  const io = stringOf(row.Slave_IO_Running);
  const behind = stringOf(row.Seconds_Behind_Master);
  return {
    sourceHost: host,
    sourcePort: num(row.Master_Port, 3306),
    ioRunning: io === 'Yes' || io === 'Connecting' ? io : 'No',
    sqlRunning: stringOf(row.Slave_SQL_Running) === 'Yes',
    secondsBehind: behind === '' || behind === 'NULL' ? null : num(behind),
    lastIoErrno: num(row.Last_IO_Errno),
    lastIoError: stringOf(row.Last_IO_Error),
    lastSqlErrno: num(row.Last_SQL_Errno),
    lastSqlError: stringOf(row.Last_SQL_Error),
    usingGtid: stringOf(row.Using_Gtid),
    gtidIoPos: stringOf(row.Gtid_IO_Pos),
  };
}

export const REPLICATION_STATE_SQL =
  'SELECT @@global.read_only AS read_only, @@global.server_id AS server_id, @@global.gtid_current_pos AS gtid_current_pos, @@global.gtid_binlog_pos AS gtid_binlog_pos, @@global.gtid_slave_pos AS gtid_slave_pos';

export function parseReplicationState(vars: Row | undefined, slaveRows: readonly Row[]): ReplicationState {
  const replica = parseReplicaStatus(slaveRows);
  return {
    readOnly: onOff(vars?.read_only),
    serverId: num(vars?.server_id),
    gtidCurrentPos: stringOf(vars?.gtid_current_pos),
    gtidBinlogPos: stringOf(vars?.gtid_binlog_pos),
    gtidSlavePos: stringOf(vars?.gtid_slave_pos),
    ...(replica ? { replica } : {}),
  };
}

/** read_only, server_id, GTID positions and the replica status of a server (needs SLAVE MONITOR). */
export async function readReplicationState(client: SqlClient, timeoutMs?: number): Promise<ReplicationState> {
  const opts = timeoutMs === undefined ? {} : { timeoutMs };
  const [vars] = await client.query(REPLICATION_STATE_SQL, [], opts);
  const slave = await client.query('SHOW SLAVE STATUS', [], opts);
  return parseReplicationState(vars, slave);
}

export interface GaleraState {
  /** Primary | non-Primary | Disconnected */
  readonly clusterStatus: string;
  /** Synced | Donor/Desynced | Joining | Joined | Initialized ... */
  readonly localState: string;
  readonly clusterSize: number;
  readonly clusterStateUuid: string;
  /** host:port of each member's SQL endpoint, as the members announce them. */
  readonly incomingAddresses: readonly string[];
  readonly ready: boolean;
  readonly connected: boolean;
  readonly lastCommitted: number;
}

export function parseGaleraStatus(status: ReadonlyMap<string, string>): GaleraState {
  const incoming = (status.get('wsrep_incoming_addresses') ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0 && s !== 'AUTO');
  return {
    clusterStatus: status.get('wsrep_cluster_status') ?? 'Disconnected',
    localState: status.get('wsrep_local_state_comment') ?? '',
    clusterSize: num(status.get('wsrep_cluster_size')),
    clusterStateUuid: status.get('wsrep_cluster_state_uuid') ?? '',
    incomingAddresses: incoming,
    ready: onOff(status.get('wsrep_ready')),
    connected: onOff(status.get('wsrep_connected')),
    lastCommitted: num(status.get('wsrep_last_committed')),
  };
}

export const GALERA_STATUS_SQL = "SHOW GLOBAL STATUS LIKE 'wsrep\\_%'";

/** The wsrep status of a node (works even while the node is not ready: SHOW STATUS is always allowed). */
export async function readGaleraState(client: SqlClient, timeoutMs?: number): Promise<GaleraState> {
  const rows = await client.query(GALERA_STATUS_SQL, [], timeoutMs === undefined ? {} : { timeoutMs });
  return parseGaleraStatus(variablesMap(rows));
}

/** Synced member of a Primary component. */
export function galeraHealthy(s: GaleraState): boolean {
  return s.clusterStatus === 'Primary' && s.localState === 'Synced' && s.ready;
}
