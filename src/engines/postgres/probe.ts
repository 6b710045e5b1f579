// The PostgreSQL node probe: one persistent connection as the monitor user (pg_monitor), and per observe() one
// SELECT returning everything — recovery state, timeline, LSNs, the WAL receiver, replay age, replication slots with
// the WAL they retain, connections, the transaction counter, the oldest running client statement,
// synchronous_standby_names and, on a primary, its WAL senders (pg_stat_replication). Mapping
// the row to an observation is pure and unit-tested.
import type {
  PostgresReplication,
  PostgresServerObservation,
  PostgresSlot,
  PostgresStandbyState,
} from '../../core/monitor/observation.ts';
import type { ClusterSpec, NodeSpec } from '../../core/spec.ts';
import { counterRate, round, type CounterReading } from '../../core/counter-rate.ts';
import { standbyLag, type StandbyLagState } from '../../core/monitor/lag.ts';
import type { NodeProbe, ProbeOptions } from '../engine.ts';
import { DEFAULT_PROBE_TIMEOUT_MS, createProbeSession, type ProbeReading } from '../probe-session.ts';
import { PG_USERS } from './config.ts';
import { conninfoTarget } from './discover.ts';
import { connectSql, type SqlClient } from './sql.ts';

export const PROBE_APPLICATION_NAME = 'nines-probe';

// pg_current_wal_lsn() fails during recovery and pg_last_wal_*_lsn() are null on a primary: every branch is
// guarded by the recovery state. The WAL position slots are measured against: current on a primary, replayed
// on a standby (cascading slots).
export const POSTGRES_PROBE_SQL = `WITH s AS (
  SELECT pg_is_in_recovery() AS rec,
    CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END AS pos
)
SELECT s.rec AS in_recovery,
  current_setting('default_transaction_read_only') AS default_read_only,
  CASE WHEN s.rec THEN NULL ELSE pg_current_wal_lsn()::text END AS current_lsn,
  CASE WHEN s.rec THEN NULL ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int END AS wal_timeline,
  (SELECT timeline_id FROM pg_control_checkpoint()) AS checkpoint_timeline,
  pg_last_wal_receive_lsn()::text AS received_lsn,
  pg_last_wal_replay_lsn()::text AS replayed_lsn,
  CASE WHEN s.rec THEN EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())::float8 END AS replay_age_seconds,
  CASE WHEN s.rec THEN pg_is_wal_replay_paused() END AS replay_paused,
  r.latest_end_lsn::text AS upstream_lsn,
  r.status AS receiver_status, r.sender_host, r.sender_port, r.received_tli, r.slot_name AS receiver_slot,
  CASE WHEN s.rec THEN current_setting('primary_conninfo') ELSE NULL END AS primary_conninfo,
  (SELECT count(*)::int FROM pg_stat_activity WHERE backend_type = 'client backend') AS connections,
  current_setting('max_connections')::int AS max_connections,
  (SELECT sum(xact_commit + xact_rollback)::float8 FROM pg_stat_database) AS xacts,
  (SELECT COALESCE(max(EXTRACT(EPOCH FROM now() - query_start)), 0)::float8 FROM pg_stat_activity
    WHERE backend_type = 'client backend' AND state NOT IN ('idle', 'idle in transaction', 'idle in transaction (aborted)')
      AND pid <> pg_backend_pid()) AS longest_query_seconds,
  (SELECT COALESCE(json_agg(json_build_object('name', slot_name, 'type', slot_type, 'active', active,
      'restart_lsn', restart_lsn::text, 'wal_status', wal_status,
      'retained', pg_wal_lsn_diff(s.pos, restart_lsn)::float8) ORDER BY slot_name), '[]'::json)
    FROM pg_replication_slots) AS slots,
  current_setting('synchronous_standby_names') AS synchronous_standby_names,
  CASE WHEN s.rec THEN NULL ELSE (SELECT COALESCE(json_agg(json_build_object('application_name', application_name,
      'address', host(client_addr), 'state', state, 'sync_state', sync_state, 'sent_lsn', sent_lsn::text,
      'flush_lsn', flush_lsn::text, 'replay_lsn', replay_lsn::text) ORDER BY application_name, pid), '[]'::json)
    FROM pg_stat_replication) END AS standbys
FROM s LEFT JOIN pg_stat_wal_receiver r ON true`;

export interface PostgresProbeRow {
  readonly in_recovery: boolean;
  readonly default_read_only: string;
  readonly current_lsn: string | null;
  readonly wal_timeline: number | null;
  readonly checkpoint_timeline: number | null;
  readonly received_lsn: string | null;
  readonly replayed_lsn: string | null;
  readonly replay_age_seconds: number | null;
  readonly replay_paused: boolean | null;
  readonly upstream_lsn: string | null;
  readonly receiver_status: string | null;
  readonly sender_host: string | null;
  readonly sender_port: number | null;
  readonly received_tli: number | null;
  readonly receiver_slot: string | null;
  readonly primary_conninfo: string | null;
  readonly connections: number;
  readonly max_connections: number;
  readonly xacts: number | null;
  readonly longest_query_seconds: number | null;
  readonly slots: readonly SlotJson[] | null;
  readonly synchronous_standby_names: string | null;
  /** pg_stat_replication on a primary (null on a standby). */
  readonly standbys: readonly StandbyJson[] | null;
}

export interface StandbyJson {
  readonly application_name: string;
  readonly address: string | null;
  readonly state: string | null;
  readonly sync_state: string | null;
  readonly sent_lsn: string | null;
  readonly flush_lsn: string | null;
  readonly replay_lsn: string | null;
}

interface SlotJson {
  readonly name: string;
  readonly type: string;
  readonly active: boolean;
  readonly restart_lsn: string | null;
  readonly wal_status: string | null;
  readonly retained: number | null;
}

function finite(value: unknown): number | null {
  if (value === null || value === undefined) return null;
  const n = Number(value);
  return Number.isFinite(n) ? n : null;
}

/** The upstream of a standby: the WAL receiver's sender, else what primary_conninfo names. */
function sourceOf(row: PostgresProbeRow): string | null {
  if (row.sender_host) return `${row.sender_host}:${row.sender_port ?? 5432}`;
  const t = conninfoTarget(row.primary_conninfo ?? '');
  return t.host ? `${t.host}:${t.port ?? 5432}` : null;
}

/** The standby's replication; lag from LSNs and replay time together (src/core/monitor/lag.ts). */
export function postgresReplication(
  row: PostgresProbeRow,
  time: number,
  previous?: StandbyLagState,
): { replication: PostgresReplication; lag: StandbyLagState } {
  const lag = standbyLag(
    {
      time,
      receiverStatus: row.receiver_status,
      receivedLsn: row.received_lsn,
      replayedLsn: row.replayed_lsn,
      // Clock skew between hosts can make now() - replay timestamp slightly negative (standbyLag clamps it).
      replayAgeSeconds: finite(row.replay_age_seconds),
    },
    previous,
  );
  const replication: PostgresReplication = {
    kind: 'postgres',
    source: sourceOf(row),
    receiverStatus: row.receiver_status,
    receivedLsn: row.received_lsn,
    replayedLsn: row.replayed_lsn,
    lagBytes: lag.lagBytes,
    lagSeconds: lag.lagSeconds,
    slotName: row.receiver_slot,
    ...(row.upstream_lsn ? { upstreamLsn: row.upstream_lsn } : {}),
    ...(row.replay_paused === true ? { replayPaused: true } : {}),
  };
  return { replication, lag: lag.state };
}

export function postgresSlots(slots: readonly SlotJson[] | null): PostgresSlot[] {
  return (slots ?? []).map((s) => ({
    name: s.name,
    type: s.type,
    active: s.active,
    restartLsn: s.restart_lsn,
    retainedBytes: finite(s.retained),
    walStatus: s.wal_status,
  }));
}

/** pg_stat_replication rows (a primary's WAL senders, pg_basebackup's included) as observed standbys. */
export function postgresStandbys(rows: readonly StandbyJson[] | null | undefined): PostgresStandbyState[] {
  return (rows ?? []).map((r) => ({
    applicationName: r.application_name,
    address: r.address,
    state: r.state ?? 'unknown',
    syncState: r.sync_state ?? 'async',
    sentLsn: r.sent_lsn,
    flushLsn: r.flush_lsn,
    replayLsn: r.replay_lsn,
  }));
}

function serverObservation(row: PostgresProbeRow): PostgresServerObservation {
  return {
    timeline: row.in_recovery
      ? (row.received_tli ?? row.checkpoint_timeline)
      : (row.wal_timeline ?? row.checkpoint_timeline),
    currentLsn: row.current_lsn,
    slots: postgresSlots(row.slots),
    synchronousStandbyNames: row.synchronous_standby_names ?? '',
    ...(row.in_recovery ? {} : { standbys: postgresStandbys(row.standbys) }),
  };
}

/** Own transactions per observation: the probe's SELECT is one (pg_stat_database counts read-only ones too). */
export const PROBE_OWN_TRANSACTIONS = 1;

/** Pure: the probe's row (and the previous transaction counter of this probe) -> the observation. */
export function postgresObservation(
  row: PostgresProbeRow,
  previous: CounterReading | undefined,
  time: number,
  previousLag?: StandbyLagState,
): { reading: ProbeReading; xacts: CounterReading; lag?: StandbyLagState } {
  const xacts = { value: finite(row.xacts) ?? 0, time };
  const tps = counterRate(previous, xacts, PROBE_OWN_TRANSACTIONS);
  const standby = row.in_recovery ? postgresReplication(row, time, previousLag) : undefined;
  const reading: ProbeReading = {
    reachable: true,
    role: row.in_recovery ? 'replica' : 'primary',
    readOnly: row.in_recovery || row.default_read_only === 'on',
    ...(standby ? { replication: standby.replication } : {}),
    postgres: serverObservation(row),
    connections: row.connections,
    maxConnections: row.max_connections,
    ...(tps === undefined ? {} : { transactionsPerSecond: round(tps) }),
    longestQuerySeconds: round(finite(row.longest_query_seconds) ?? 0, 1),
  };
  return { reading, xacts, ...(standby ? { lag: standby.lag } : {}) };
}

/** A persistent probe of one PostgreSQL node as the monitor user. */
export function openPostgresProbe(_spec: ClusterSpec, node: NodeSpec, options: ProbeOptions): NodeProbe {
  const target = {
    host: node.host,
    port: node.port,
    user: PG_USERS.monitor,
    password: options.credentials.monitor,
  };
  const timeoutMs = options.timeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS;
  let xacts: CounterReading | undefined;
  let lag: StandbyLagState | undefined;
  return createProbeSession<SqlClient>({
    address: `${node.host}:${node.port}`,
    timeoutMs,
    connect: (ms) =>
      connectSql(target, {
        connectTimeoutMs: ms,
        // The server cancels a statement that outlives the probe (the session's deadline ends it on our side).
        statementTimeoutMs: timeoutMs,
        applicationName: PROBE_APPLICATION_NAME,
      }),
    usable: (client) => !client.closed,
    async read(client) {
      const [row] = await client.query<PostgresProbeRow>(POSTGRES_PROBE_SQL);
      if (!row) throw new Error('the probe query returned no row');
      const result = postgresObservation(row, xacts, Date.now(), lag);
      xacts = result.xacts;
      lag = result.lag;
      return result.reading;
    },
  });
}
