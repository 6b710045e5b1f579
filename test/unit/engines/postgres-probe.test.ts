// PostgreSQL probe mapping (pure): the probe's row -> observation (primary with slots, standby with LSNs and lag),
// transactions/s from two readings (own transaction subtracted, reset rebased).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { postgresObservation, type PostgresProbeRow } from '../../../src/engines/postgres/probe.ts';

const primaryRow: PostgresProbeRow = {
  in_recovery: false,
  default_read_only: 'off',
  current_lsn: '0/5000060',
  wal_timeline: 2,
  checkpoint_timeline: 1,
  received_lsn: null,
  replayed_lsn: null,
  lag_bytes: null,
  lag_seconds: null,
  receiver_status: null,
  sender_host: null,
  sender_port: null,
  received_tli: null,
  receiver_slot: null,
  primary_conninfo: null,
  connections: 5,
  max_connections: 100,
  xacts: 1000,
  longest_query_seconds: 3.04,
  slots: [
    {
      name: 'nines_b',
      type: 'physical',
      active: false,
      restart_lsn: '0/4000000',
      wal_status: 'reserved',
      retained: 16_777_312,
    },
    { name: 'nines_a', type: 'physical', active: true, restart_lsn: null, wal_status: null, retained: null },
  ],
};

const standbyRow: PostgresProbeRow = {
  ...primaryRow,
  in_recovery: true,
  default_read_only: 'off',
  current_lsn: null,
  wal_timeline: null,
  checkpoint_timeline: 1,
  received_lsn: '0/5000060',
  replayed_lsn: '0/5000000',
  lag_bytes: 96,
  lag_seconds: 1.23456,
  receiver_status: 'streaming',
  sender_host: '10.0.0.1',
  sender_port: 5432,
  received_tli: 2,
  receiver_slot: 'nines_b',
  primary_conninfo: 'host=10.0.0.9 port=5433',
  slots: [],
};

test('a primary: role, timeline of its WAL, current LSN and slots with retained WAL', () => {
  const { reading } = postgresObservation(primaryRow, undefined, 1000);
  assert.deepEqual(reading, {
    reachable: true,
    role: 'primary',
    readOnly: false,
    postgres: {
      timeline: 2,
      currentLsn: '0/5000060',
      slots: [
        {
          name: 'nines_b',
          type: 'physical',
          active: false,
          restartLsn: '0/4000000',
          retainedBytes: 16_777_312,
          walStatus: 'reserved',
        },
        {
          name: 'nines_a',
          type: 'physical',
          active: true,
          restartLsn: null,
          retainedBytes: null,
          walStatus: null,
        },
      ],
    },
    connections: 5,
    maxConnections: 100,
    longestQuerySeconds: 3,
  });
});

test('a primary with default_transaction_read_only is read-only', () => {
  assert.equal(
    postgresObservation({ ...primaryRow, default_read_only: 'on' }, undefined, 1).reading.readOnly,
    true,
  );
});

test('a standby: WAL receiver, LSNs, lag, source from the receiver', () => {
  const { reading } = postgresObservation(standbyRow, undefined, 1000);
  assert.equal(reading.role, 'replica');
  assert.equal(reading.readOnly, true);
  assert.deepEqual(reading.replication, {
    kind: 'postgres',
    source: '10.0.0.1:5432',
    receiverStatus: 'streaming',
    receivedLsn: '0/5000060',
    replayedLsn: '0/5000000',
    lagBytes: 96,
    lagSeconds: 1.235,
    slotName: 'nines_b',
  });
  assert.deepEqual(reading.postgres, { timeline: 2, currentLsn: null, slots: [] });
});

test('a standby without a WAL receiver: source from primary_conninfo, timeline from the checkpoint', () => {
  const row = {
    ...standbyRow,
    receiver_status: null,
    sender_host: null,
    sender_port: null,
    received_tli: null,
    receiver_slot: null,
    lag_seconds: -0.2,
  };
  const { reading } = postgresObservation(row, undefined, 1000);
  assert.ok(reading.replication?.kind === 'postgres');
  assert.equal(reading.replication.source, '10.0.0.9:5433');
  assert.equal(reading.replication.receiverStatus, null);
  assert.equal(reading.replication.lagSeconds, 0, 'clock skew never gives a negative lag');
  assert.equal(reading.postgres?.timeline, 1);
});

test('transactions/s: delta over time minus the probe own transaction; a reset gives no rate', () => {
  const first = postgresObservation(primaryRow, undefined, 1000);
  const second = postgresObservation({ ...primaryRow, xacts: 1201 }, first.xacts, 3000);
  assert.equal(second.reading.transactionsPerSecond, 100); // (201 - 1) / 2 s
  const reset = postgresObservation({ ...primaryRow, xacts: 3 }, second.xacts, 4000);
  assert.equal(reset.reading.transactionsPerSecond, undefined);
  const after = postgresObservation({ ...primaryRow, xacts: 3 }, reset.xacts, 5000);
  assert.equal(after.reading.transactionsPerSecond, 0, 'never negative');
});
