// MariaDB probe mapping (pure): status/variable rows -> observation, SHOW SLAVE STATUS -> replication, wsrep
// status -> Galera, rates from two readings (own statements subtracted, restarts rebased), semi-sync state.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  LONGEST_QUERY_KEY,
  MARIADB_PROBE_SQL,
  mariadbObservation,
  probeValues,
  semiSyncObservation,
  type MariadbSample,
} from '../../../src/engines/mysql/probe.ts';

function sample(
  values: Record<string, string | number>,
  time: number,
  slave: Record<string, unknown>[] = [],
): MariadbSample {
  const rows = Object.entries(values).map(([n, v]) => ({ n: n.toUpperCase(), v: String(v) }));
  return { values: probeValues(rows), slave, time };
}

const base = {
  uptime: 100,
  threads_connected: 7,
  questions: 1000,
  innodb_buffer_pool_read_requests: 10_000,
  innodb_buffer_pool_reads: 100,
  innodb_row_lock_current_waits: 1,
  innodb_row_lock_waits: 5,
  innodb_history_list_length: 42,
  read_only: 'OFF',
  max_connections: 151,
  server_id: 7,
  gtid_current_pos: '0-7-10',
  gtid_slave_pos: '',
  gtid_binlog_pos: '0-7-10',
  [LONGEST_QUERY_KEY]: '2500.123',
};

const replicaRow = {
  Master_Host: '10.0.0.1',
  Master_Port: 3306,
  Slave_IO_Running: 'Yes',
  Slave_SQL_Running: 'No',
  Seconds_Behind_Master: null,
  Last_IO_Errno: 0,
  Last_IO_Error: '',
  Last_SQL_Errno: 1062,
  Last_SQL_Error: "Duplicate entry '1' for key 'PRIMARY'",
  Using_Gtid: 'Slave_Pos',
  Gtid_IO_Pos: '0-7-12',
};

test('one SELECT reads status, variables and the processlist', () => {
  assert.match(MARIADB_PROBE_SQL, /information_schema\.GLOBAL_STATUS/);
  assert.match(MARIADB_PROBE_SQL, /information_schema\.GLOBAL_VARIABLES/);
  assert.match(
    MARIADB_PROBE_SQL,
    /information_schema\.PROCESSLIST WHERE COMMAND IN \('Query', 'Execute'\) AND USER <> 'system user' AND ID <> CONNECTION_ID\(\)/,
  );
});

test('a writable server without replication is a primary; first reading has no rates', () => {
  const { reading } = mariadbObservation(sample(base, 1000), undefined, { galera: false, ownStatements: 2 });
  assert.deepEqual(reading, {
    reachable: true,
    role: 'primary',
    readOnly: false,
    mariadb: {
      serverId: 7,
      gtidCurrentPos: '0-7-10',
      gtidSlavePos: '',
      gtidBinlogPos: '0-7-10',
      uptimeSeconds: 100,
      innodb: { bufferPoolHitPct: null, rowLockWaitsNow: 1, historyLength: 42 },
    },
    connections: 7,
    maxConnections: 151,
    longestQuerySeconds: 2.5,
  });
});

test('rates come from the previous reading, without the probe own statements', () => {
  const first = mariadbObservation(sample(base, 1000), undefined, { galera: false, ownStatements: 2 });
  const next = sample(
    {
      ...base,
      uptime: 102,
      questions: 1202,
      innodb_buffer_pool_read_requests: 11_000,
      innodb_buffer_pool_reads: 150,
      innodb_row_lock_waits: 9,
    },
    3000,
  );
  const { reading } = mariadbObservation(next, first.counters, { galera: false, ownStatements: 2 });
  assert.equal(reading.queriesPerSecond, 100); // (202 - 2) / 2 s
  assert.equal(reading.mariadb?.innodb.bufferPoolHitPct, 95); // 950 of 1000 requests from memory
  assert.equal(reading.mariadb?.innodb.rowLockWaitsPerSecond, 2);
});

test('a restarted server (uptime went down) starts the rates over', () => {
  const first = mariadbObservation(sample(base, 1000), undefined, { galera: false, ownStatements: 2 });
  const restarted = sample({ ...base, uptime: 3, questions: 5 }, 3000);
  const { reading } = mariadbObservation(restarted, first.counters, { galera: false, ownStatements: 2 });
  assert.equal(reading.queriesPerSecond, undefined);
  assert.equal(reading.mariadb?.innodb.bufferPoolHitPct, null);
});

test('a counter that went backwards without a restart (FLUSH STATUS) gives no rate', () => {
  const first = mariadbObservation(sample(base, 1000), undefined, { galera: false, ownStatements: 2 });
  const flushed = sample({ ...base, uptime: 101, questions: 10 }, 2000);
  const { reading } = mariadbObservation(flushed, first.counters, { galera: false, ownStatements: 2 });
  assert.equal(reading.queriesPerSecond, undefined);
});

test('SHOW SLAVE STATUS with a source makes a replica; errors and GTID positions are mapped', () => {
  const { reading } = mariadbObservation(
    sample({ ...base, read_only: 'ON' }, 1000, [replicaRow]),
    undefined,
    {
      galera: false,
      ownStatements: 2,
    },
  );
  assert.equal(reading.role, 'replica');
  assert.equal(reading.readOnly, true);
  assert.deepEqual(reading.replication, {
    kind: 'mariadb',
    source: '10.0.0.1:3306',
    ioRunning: true,
    sqlRunning: false,
    lagSeconds: null,
    lastError: "Duplicate entry '1' for key 'PRIMARY'",
    lastErrno: 1062,
    usingGtid: 'Slave_Pos',
    gtidIoPos: '0-7-12',
  });
});

test('an IO thread still connecting is not running; the IO error wins when both are set', () => {
  const row = {
    ...replicaRow,
    Slave_IO_Running: 'Connecting',
    Slave_SQL_Running: 'Yes',
    Seconds_Behind_Master: 12,
    Last_IO_Errno: 2003,
    Last_IO_Error: "Can't connect",
  };
  const { reading } = mariadbObservation(sample(base, 1000, [row]), undefined, {
    galera: false,
    ownStatements: 2,
  });
  assert.equal(reading.replication?.kind, 'mariadb');
  const r = reading.replication;
  assert.ok(r?.kind === 'mariadb');
  assert.equal(r.ioRunning, false);
  assert.equal(r.sqlRunning, true);
  assert.equal(r.lagSeconds, 12);
  assert.equal(r.lastError, "Can't connect");
  assert.equal(r.lastErrno, 2003);
});

test('a read-only server without replication stays primary with readOnly true', () => {
  const { reading } = mariadbObservation(
    sample({ ...base, read_only: 'ON' }, 1000, [{ Master_Host: '' }]),
    undefined,
    {
      galera: false,
      ownStatements: 2,
    },
  );
  assert.equal(reading.role, 'primary');
  assert.equal(reading.readOnly, true);
  assert.equal(reading.replication, undefined);
});

const wsrep = {
  wsrep_cluster_status: 'non-Primary',
  wsrep_cluster_size: 1,
  wsrep_cluster_state_uuid: 'u-1',
  wsrep_local_state_comment: 'Initialized',
  wsrep_ready: 'OFF',
  wsrep_connected: 'ON',
  wsrep_flow_control_paused: '0.25',
  wsrep_flow_control_paused_ns: 1_000_000_000,
  wsrep_local_recv_queue: 3,
  wsrep_local_send_queue: 1,
  wsrep_last_committed: 1234,
  wsrep_local_cert_failures: 10,
};

test('wsrep status makes a Galera member; flow control paused is the fraction since the previous probe', () => {
  const first = mariadbObservation(sample({ ...base, ...wsrep }, 1000), undefined, {
    galera: true,
    ownStatements: 1,
  });
  assert.equal(first.reading.role, 'member');
  assert.equal(first.reading.replication, undefined);
  assert.deepEqual(first.reading.galera, {
    clusterStatus: 'non-Primary',
    clusterSize: 1,
    localState: 'Initialized',
    ready: false,
    flowControlPaused: 0.25, // no previous reading: the server's own figure
    recvQueue: 3,
    lastCommitted: 1234,
    connected: true,
    stateUuid: 'u-1',
    sendQueue: 1,
  });
  const next = sample(
    {
      ...base,
      ...wsrep,
      uptime: 102,
      wsrep_flow_control_paused_ns: 1_500_000_000,
      wsrep_local_cert_failures: 14,
    },
    3000,
  );
  const { reading } = mariadbObservation(next, first.counters, { galera: true, ownStatements: 1 });
  assert.equal(reading.galera?.flowControlPaused, 0.25); // 0.5 s paused in 2 s
  assert.equal(reading.galera?.certFailuresPerSecond, 2);
});

test('missing wsrep status reads as Disconnected', () => {
  const { reading } = mariadbObservation(sample(base, 1000), undefined, { galera: true, ownStatements: 1 });
  assert.equal(reading.galera?.clusterStatus, 'Disconnected');
  assert.equal(reading.galera?.ready, false);
});

describe('probe: semi-sync', () => {
  const rows = (values: Record<string, string>) =>
    probeValues(Object.entries(values).map(([n, v]) => ({ n: n.toUpperCase(), v })));

  test('both sides from the status and variables', () => {
    assert.deepEqual(
      semiSyncObservation(
        rows({
          rpl_semi_sync_master_enabled: 'ON',
          rpl_semi_sync_master_status: 'ON',
          rpl_semi_sync_master_clients: '2',
          rpl_semi_sync_slave_status: 'OFF',
        }),
      ),
      { masterEnabled: true, masterActive: true, clients: 2, slaveActive: false },
    );
    assert.deepEqual(
      semiSyncObservation(
        rows({
          rpl_semi_sync_master_enabled: 'OFF',
          rpl_semi_sync_master_status: 'OFF',
          rpl_semi_sync_master_clients: '0',
          rpl_semi_sync_slave_status: 'ON',
        }),
      ),
      { masterEnabled: false, masterActive: false, clients: 0, slaveActive: true },
    );
  });

  test('absent when the server has no semi-sync variables', () => {
    assert.equal(semiSyncObservation(rows({ server_id: '1' })), undefined);
    const { reading } = mariadbObservation(
      { values: rows({ server_id: '1', uptime: '5' }), slave: [], time: 1 },
      undefined,
      { galera: false, ownStatements: 2 },
    );
    assert.equal(reading.mariadb?.semiSync, undefined);
    assert.ok(reading.mariadb && !('semiSync' in reading.mariadb));
  });

  test('present in the observation of a server that has them', () => {
    const { reading } = mariadbObservation(
      {
        values: rows({
          server_id: '1',
          uptime: '5',
          rpl_semi_sync_master_enabled: 'ON',
          rpl_semi_sync_slave_status: 'ON',
        }),
        slave: [],
        time: 1,
      },
      undefined,
      { galera: false, ownStatements: 2 },
    );
    assert.deepEqual(reading.mariadb?.semiSync, {
      masterEnabled: true,
      masterActive: false,
      clients: 0,
      slaveActive: true,
    });
  });
});
