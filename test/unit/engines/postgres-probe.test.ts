// PostgreSQL probe mapping (pure): the probe's row -> observation (primary with slots, synchronous_standby_names and
// its WAL senders, standby with LSNs and lag), transactions/s from two readings (own transaction subtracted, reset
// rebased).
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
  replay_age_seconds: null,
  replay_paused: null,
  upstream_lsn: null,
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
  synchronous_standby_names: 'ANY 1 ("n10_0_0_1", "n10_0_0_2", "n10_0_0_3")',
  standbys: [
    {
      application_name: 'n10_0_0_2',
      address: '10.0.0.2',
      state: 'streaming',
      sync_state: 'quorum',
      sent_lsn: '0/5000060',
      flush_lsn: '0/5000060',
      replay_lsn: '0/5000000',
    },
    {
      application_name: 'nines_clone',
      address: '10.0.0.4',
      state: 'backup',
      sync_state: 'async',
      sent_lsn: null,
      flush_lsn: null,
      replay_lsn: null,
    },
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
  replay_age_seconds: 1.23456,
  replay_paused: false,
  upstream_lsn: '0/5000060',
  receiver_status: 'streaming',
  sender_host: '10.0.0.1',
  sender_port: 5432,
  received_tli: 2,
  receiver_slot: 'nines_b',
  primary_conninfo: 'host=10.0.0.9 port=5433',
  slots: [],
  standbys: null,
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
      synchronousStandbyNames: 'ANY 1 ("n10_0_0_1", "n10_0_0_2", "n10_0_0_3")',
      standbys: [
        {
          applicationName: 'n10_0_0_2',
          address: '10.0.0.2',
          state: 'streaming',
          syncState: 'quorum',
          sentLsn: '0/5000060',
          flushLsn: '0/5000060',
          replayLsn: '0/5000000',
        },
        {
          applicationName: 'nines_clone',
          address: '10.0.0.4',
          state: 'backup',
          syncState: 'async',
          sentLsn: null,
          flushLsn: null,
          replayLsn: null,
        },
      ],
    },
    connections: 5,
    maxConnections: 100,
    longestQuerySeconds: 3,
  });
});

test('an asynchronous primary with no standby attached: empty list, no WAL senders', () => {
  const { reading } = postgresObservation(
    { ...primaryRow, synchronous_standby_names: '', standbys: [] },
    undefined,
    1000,
  );
  assert.equal(reading.postgres?.synchronousStandbyNames, '');
  assert.deepEqual(reading.postgres?.standbys, []);
  // A NULL json_agg (no row) and a NULL setting read the same way.
  const nulls = postgresObservation(
    { ...primaryRow, synchronous_standby_names: null, standbys: null },
    undefined,
    1000,
  );
  assert.equal(nulls.reading.postgres?.synchronousStandbyNames, '');
  assert.deepEqual(nulls.reading.postgres?.standbys, []);
});

test('a WAL sender row with unknown state and sync state reads as unknown / async', () => {
  const row = {
    ...primaryRow,
    standbys: [
      {
        application_name: 'x',
        address: null,
        state: null,
        sync_state: null,
        sent_lsn: null,
        flush_lsn: null,
        replay_lsn: null,
      },
    ],
  };
  assert.deepEqual(postgresObservation(row, undefined, 1).reading.postgres?.standbys, [
    {
      applicationName: 'x',
      address: null,
      state: 'unknown',
      syncState: 'async',
      sentLsn: null,
      flushLsn: null,
      replayLsn: null,
    },
  ]);
});

test('a primary with default_transaction_read_only is read-only', () => {
  assert.equal(
    postgresObservation({ ...primaryRow, default_read_only: 'on' }, undefined, 1).reading.readOnly,
    true,
  );
});

test('a standby: WAL receiver, LSNs, lag, source from the receiver', () => {
  // The gap was already seen 11 s ago: lag = the last replayed transaction's age (the shorter).
  const { reading } = postgresObservation(standbyRow, undefined, 1000, { behindSince: -10_000 });
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
    upstreamLsn: '0/5000060',
  });
  // A standby keeps the list (it may be promoted) and has no WAL senders of its own to report.
  assert.deepEqual(reading.postgres, {
    timeline: 2,
    currentLsn: null,
    slots: [],
    synchronousStandbyNames: 'ANY 1 ("n10_0_0_1", "n10_0_0_2", "n10_0_0_3")',
  });
});

test('a standby without a WAL receiver: source from primary_conninfo, timeline from the checkpoint', () => {
  const row = {
    ...standbyRow,
    receiver_status: null,
    sender_host: null,
    sender_port: null,
    received_tli: null,
    receiver_slot: null,
    upstream_lsn: null,
    replay_age_seconds: -0.2,
  };
  const { reading } = postgresObservation(row, undefined, 1000, { behindSince: 0 });
  assert.ok(reading.replication?.kind === 'postgres');
  assert.equal(reading.replication.source, '10.0.0.9:5433');
  assert.equal(reading.replication.receiverStatus, null);
  assert.equal(reading.replication.lagSeconds, 0, 'clock skew never gives a negative lag');
  assert.equal(reading.replication.lagBytes, 96);
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

test('a standby idle for minutes with everything replayed has lag 0; the lag state carries to the next reading', () => {
  const idle = { ...standbyRow, replayed_lsn: '0/5000060', replay_age_seconds: 121 };
  const first = postgresObservation(idle, undefined, 1000);
  assert.ok(first.reading.replication?.kind === 'postgres');
  assert.equal(first.reading.replication.lagSeconds, 0);
  assert.equal(first.reading.replication.lagBytes, 0);
  // A record arrives after the idle time: the gap has lasted 0 s, not the 122 s since the last transaction.
  const gap = { ...idle, received_lsn: '0/5000100', replay_age_seconds: 122 };
  const second = postgresObservation(gap, first.xacts, 2000, first.lag);
  assert.ok(second.reading.replication?.kind === 'postgres');
  assert.equal(second.reading.replication.lagSeconds, 0);
  assert.equal(second.reading.replication.lagBytes, 160);
  const paused = { ...gap, replay_paused: true, replay_age_seconds: 126 };
  const third = postgresObservation(paused, second.xacts, 6000, second.lag);
  assert.ok(third.reading.replication?.kind === 'postgres');
  assert.equal(third.reading.replication.lagSeconds, 4);
  assert.equal(third.reading.replication.replayPaused, true);
});

test('the sender reporting a WAL end past the replayed records (end of the WAL page) is not lag', () => {
  // Measured on an idle lab primary after a standby restart: received = replayed = 0/30041B0, latest_end_lsn 0/3006000.
  const row = {
    ...standbyRow,
    received_lsn: '0/30041B0',
    replayed_lsn: '0/30041B0',
    upstream_lsn: '0/3006000',
    replay_age_seconds: 90,
  };
  const first = postgresObservation(row, undefined, 1000);
  const later = postgresObservation(row, first.xacts, 60_000, first.lag);
  assert.ok(later.reading.replication?.kind === 'postgres');
  assert.equal(later.reading.replication.lagSeconds, 0);
  assert.equal(later.reading.replication.lagBytes, 0);
  assert.equal(later.reading.replication.upstreamLsn, '0/3006000');
});
