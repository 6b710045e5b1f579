// Code shared by the MariaDB engines (replication and Galera), and the SQL helpers other parts of nines reuse
// (the monitor: persistent per-node SqlClients + readReplicationState / readGaleraState).
export { connectSql, withSql, classifySqlError, sqlErrno, variablesMap, stringOf, ER } from './sql.ts';
export type { SqlClient, SqlEndpoint, SqlOptions, SqlRow } from './sql.ts';
export {
  readReplicationState,
  readGaleraState,
  parseReplicaStatus,
  parseReplicationState,
  parseGaleraStatus,
  galeraHealthy,
  REPLICATION_STATE_SQL,
  GALERA_STATUS_SQL,
} from './observe.ts';
export type { ReplicaStatus, ReplicationState, GaleraState } from './observe.ts';
export { adminEndpoint, monitorEndpoint, writeMarker, waitForMarker, newMarkerToken } from './marker.ts';
export { rootSql, rootPing, parseBatchOutput } from './root-sql.ts';
export type { TextRow } from './root-sql.ts';
export { PATHS, USERS, SERVICE_NAME, BUFFER_POOL_SIZE, serverId, sqlString, renderIni } from './config.ts';
export { userStatements } from './users.ts';
export { startServer, stopServer, serverRunning, errorLogTail } from './host.ts';
