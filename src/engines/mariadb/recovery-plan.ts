// The pure half of the MariaDB failover verbs (recovery.ts does the I/O): positions from what a server reports,
// how commits were acknowledged, errant GTIDs, whether a former primary's history is contained in the new
// primary's, the port check's command and verdict, and which sessions a fence kills. Table-tested in
// test/unit/engines/mariadb-recovery.test.ts.
import type { NodeObservation, SemiSyncObservation } from '../../core/monitor/observation.ts';
import type { AckMode } from '../../core/recovery/rpo.ts';
import {
  formatGtidPosition,
  gtidContains,
  gtidProgress,
  parseGtidPosition,
  type GtidEntry,
  type GtidPosition,
} from '../../core/recovery/positions.ts';
import type { ClusterSpec, NodeSpec } from '../../core/spec.ts';
import type { AckState, PortVerdict, ReplicationPosition } from '../engine.ts';
import type { ReplicaStatus, ReplicationState } from '../mysql/observe.ts';
import { FATAL_IO_ERRNOS } from './replication.ts';

/** A replica's view of its source, from SHOW SLAVE STATUS (fresh) or the monitor's observation. */
export interface ReplicaFacts {
  /** host:port */
  readonly source: string;
  /** Slave_IO_Running = Yes: connected to the source. */
  readonly ioRunning: boolean;
  readonly sqlRunning: boolean;
  /** Seconds_Behind_Master (null when MariaDB does not know). */
  readonly lagSeconds: number | null;
  /** Gtid_IO_Pos ('' before the IO thread received anything since the server started). */
  readonly ioPos: string;
  /** The SQL thread's error; null when none. */
  readonly sqlError: string | null;
}

/** What a position is made of. */
export interface ServerFacts {
  readonly readOnly: boolean | null;
  readonly serverId: number | null;
  readonly binlogPos: string;
  readonly slavePos: string;
  /** Absent when no replication is configured (a primary, or a fenced former primary). */
  readonly replica?: ReplicaFacts;
}

/**
 * The MariaDB position: a ReplicationPosition plus what errant-GTID detection needs (the node's binlog, which
 * with log_slave_updates holds everything it applied and every write made on it, and its server id). The extra
 * fields travel with the object: errantTransactions uses them when present.
 */
export interface MariadbPosition extends ReplicationPosition {
  /** @@gtid_binlog_pos; null when unknown. */
  readonly binlogText: string | null;
  readonly serverId: number | null;
}

/** Per domain, the entry with the higher sequence number of either position. */
export function mergeMax(a: GtidPosition, b: GtidPosition): GtidPosition {
  const out = new Map(a);
  for (const e of b.values()) {
    const mine = out.get(e.domain);
    if (!mine || e.seq > mine.seq) out.set(e.domain, e);
  }
  return out;
}

function show(text: string | null): string {
  return text === null ? 'unknown' : text === '' ? '(empty)' : text;
}

export function unknownPosition(node: string, reachable: boolean, error?: string): MariadbPosition {
  return {
    node,
    reachable,
    ...(error === undefined ? {} : { error }),
    role: 'unknown',
    readOnly: null,
    received: null,
    applied: null,
    receivedText: null,
    appliedText: null,
    label: reachable ? 'GTID unknown' : 'not reachable',
    applyBacklogSeconds: null,
    applyError: null,
    source: null,
    linkUp: null,
    binlogText: null,
    serverId: null,
  };
}

/**
 * A replica received what its IO thread wrote to the relay log (Gtid_IO_Pos; gtid_slave_pos where the IO thread
 * has not received anything since the server started) and applied gtid_slave_pos; a primary received and applied
 * its own binlog (gtid_binlog_pos). A position MariaDB printed in a form we cannot parse is unknown (null), never
 * guessed.
 */
export function positionFromFacts(node: string, facts: ServerFacts): MariadbPosition {
  const binlog = parseGtidPosition(facts.binlogPos);
  const common = {
    node,
    reachable: true,
    readOnly: facts.readOnly,
    binlogText: binlog === null ? null : formatGtidPosition(binlog),
    serverId: facts.serverId,
  };
  const r = facts.replica;
  if (!r) {
    const text = binlog === null ? null : formatGtidPosition(binlog);
    return {
      ...common,
      role: 'primary',
      received: binlog === null ? null : gtidProgress(binlog),
      applied: binlog === null ? null : gtidProgress(binlog),
      receivedText: text,
      appliedText: text,
      label: `GTID ${show(text)}`,
      applyBacklogSeconds: 0,
      applyError: null,
      source: null,
      linkUp: null,
    };
  }
  const slave = parseGtidPosition(facts.slavePos);
  const io = parseGtidPosition(r.ioPos);
  const received = slave === null || io === null ? null : mergeMax(io, slave);
  const receivedText = received === null ? null : formatGtidPosition(received);
  const appliedText = slave === null ? null : formatGtidPosition(slave);
  return {
    ...common,
    role: 'replica',
    received: received === null ? null : gtidProgress(received),
    applied: slave === null ? null : gtidProgress(slave),
    receivedText,
    appliedText,
    label:
      receivedText === appliedText
        ? `GTID ${show(receivedText)}`
        : `GTID received ${show(receivedText)}, applied ${show(appliedText)}`,
    applyBacklogSeconds: applyBacklog(received, slave, r),
    applyError: r.sqlError,
    source: r.source,
    linkUp: r.ioRunning,
  };
}

/** 0 when everything received is applied; otherwise Seconds_Behind_Master while the SQL thread runs. */
function applyBacklog(
  received: GtidPosition | null,
  applied: GtidPosition | null,
  r: ReplicaFacts,
): number | null {
  if (received === null || applied === null) return null;
  if (gtidContains(applied, received)) return 0;
  return r.sqlRunning ? r.lagSeconds : null;
}

/** A fresh SQL reading (observe.ts) as facts. */
export function factsFromState(state: ReplicationState): ServerFacts {
  const r = state.replica;
  return {
    readOnly: state.readOnly,
    serverId: state.serverId,
    binlogPos: state.gtidBinlogPos,
    slavePos: state.gtidSlavePos,
    ...(r
      ? {
          replica: {
            source: `${r.sourceHost}:${r.sourcePort}`,
            ioRunning: r.ioRunning === 'Yes',
            sqlRunning: r.sqlRunning,
            lagSeconds: r.secondsBehind,
            ioPos: r.gtidIoPos,
            sqlError: r.lastSqlError === '' ? null : r.lastSqlError,
          },
        }
      : {}),
  };
}

/** The monitor's observation as facts; undefined when it has no MariaDB part. */
export function factsFromObservation(o: NodeObservation): ServerFacts | undefined {
  const m = o.mariadb;
  if (!m) return undefined;
  const r = o.replication?.kind === 'mariadb' ? o.replication : undefined;
  return {
    readOnly: o.readOnly ?? null,
    serverId: m.serverId,
    binlogPos: m.gtidBinlogPos,
    slavePos: m.gtidSlavePos,
    ...(r && r.source !== null
      ? {
          replica: {
            source: r.source,
            ioRunning: r.ioRunning,
            sqlRunning: r.sqlRunning,
            lagSeconds: r.lagSeconds,
            ioPos: r.gtidIoPos ?? '',
            // The observation keeps one error (the IO thread's first): it is the applier's only while the SQL
            // thread is stopped.
            sqlError: r.sqlRunning ? null : r.lastError,
          },
        }
      : {}),
  };
}

export function observedPosition(node: string, o: NodeObservation | undefined): MariadbPosition {
  if (o === undefined) return unknownPosition(node, false, 'never observed');
  if (!o.reachable) return unknownPosition(node, false, o.error?.message ?? 'not reachable');
  const facts = factsFromObservation(o);
  return facts === undefined ? unknownPosition(node, true) : positionFromFacts(node, facts);
}

/**
 * How commits were acknowledged when `primary` was last observed: semi-sync active (the primary waits for an ACK)
 * = synchronous; enabled but fallen back to asynchronous (no ACK within rpl_semi_sync_master_timeout) = degraded;
 * otherwise asynchronous. With no semi-sync reading of the primary (never observed, or the observation given is
 * a failed one: pass the last good one), a cluster configured for semi-sync is 'degraded' (nothing is proven).
 *
 * The ack set is read from the replicas' latest observations, which after the primary died no longer show it
 * acknowledging (its IO thread reconnects, Rpl_semi_sync_slave_status is OFF). So it holds every replica that
 * may have acknowledged: one acknowledging now (semi-sync slave active, IO thread connected to the primary), and
 * one configured to replicate from the primary whose IO thread is not connected or that cannot be reached now
 * (given by its last good observation; a node never observed is left out). A superset of the real ack set
 * only makes the RPO proof stricter (every member must be read, the candidate must hold what each received);
 * left out is only a replica connected to the primary right now without semi-sync (an asynchronous one).
 */
export function ackState(
  spec: ClusterSpec,
  primary: string,
  observations: ReadonlyMap<string, NodeObservation | undefined>,
): AckState {
  const p = observations.get(primary);
  const semi = p?.reachable === true ? p.mariadb?.semiSync : undefined;
  const ackSet = new Set<string>();
  for (const n of spec.nodes) {
    const key = `${n.host}:${n.port}`;
    if (key !== primary && acknowledges(observations.get(key), primary)) ackSet.add(key);
  }
  const pos = p?.mariadb ? parseGtidPosition(p.mariadb.gtidBinlogPos) : null;
  return {
    mode: ackMode(spec, semi),
    ackSet,
    unit: 'transactions',
    ackName: 'semi-sync',
    primaryPosition: pos === null ? null : gtidProgress(pos),
    primaryPositionText: pos === null ? null : formatGtidPosition(pos),
  };
}

function ackMode(spec: ClusterSpec, semi: SemiSyncObservation | undefined): AckMode {
  if (semi === undefined) return spec.options.semiSync === true ? 'degraded' : 'asynchronous';
  if (semi.masterActive) return 'synchronous';
  return semi.masterEnabled ? 'degraded' : 'asynchronous';
}

/** The replica may have acknowledged commits of `primary` (see ackState). */
function acknowledges(o: NodeObservation | undefined, primary: string): boolean {
  const r = o?.replication?.kind === 'mariadb' ? o.replication : undefined;
  if (o === undefined || r?.source !== primary) return false;
  // Not connected, or not reachable now (this is its last good reading): it may have acknowledged.
  if (!r.ioRunning || !o.reachable) return true;
  return o.mariadb?.semiSync?.slaveActive === true;
}

/**
 * Transactions `held` (the node's binlog) has that no known writer wrote.
 * - A replica (`applied` = its gtid_slave_pos): with log_slave_updates its binlog is what it applied plus what
 *   was written on it, and a write on it carries its own server id (`ownServerId`): a domain's last GTID of its
 *   own server id beyond what it applied counts. Nothing else does: its binlog moves a moment before
 *   gtid_slave_pos while it applies (binlog write, then the commit), so a source's GTID one ahead is not errant.
 * - A node without replication (`applied` null): a domain's last GTID whose server id is not a writer of
 *   `reference` (the old primary's last known position names the server ids that wrote its domains) and whose
 *   sequence number goes beyond it. Without a reference nothing can be told: 0.
 * Sequence numbers of one domain are dense under gtid_strict_mode, so the difference counts transactions.
 */
export function errantCount(
  held: GtidPosition,
  applied: GtidPosition | null,
  reference: GtidPosition | null,
  ownServerId: number | null,
): number {
  let count = 0n;
  if (applied !== null) {
    for (const e of held.values()) {
      const base = applied.get(e.domain)?.seq ?? 0n;
      if (e.server === ownServerId && e.seq > base) count += e.seq - base;
    }
    return Number(count);
  }
  if (reference === null) return 0;
  const writers = new Set([...reference.values()].map((e) => e.server));
  for (const e of held.values()) {
    const base = reference.get(e.domain)?.seq ?? 0n;
    if (!writers.has(e.server) && e.seq > base) count += e.seq - base;
  }
  return Number(count);
}

export function errantTransactions(node: ReplicationPosition, referenceText: string | null): number {
  const reference = referenceText === null ? null : parseGtidPosition(referenceText);
  if (referenceText !== null && reference === null) return 0;
  const extra = node as Partial<MariadbPosition>;
  const heldText = extra.binlogText ?? node.receivedText;
  const held = heldText === null ? null : parseGtidPosition(heldText);
  if (held === null) return 0;
  const applied =
    node.role === 'replica' && node.appliedText !== null ? parseGtidPosition(node.appliedText) : null;
  return errantCount(held, applied, reference, extra.serverId ?? null);
}

/** Parses @@gtid_binlog_state: the last GTID of every (domain, server id) in the binlog. Null when malformed. */
export function parseGtidState(text: string): readonly GtidEntry[] | null {
  const out: GtidEntry[] = [];
  for (const part of text.split(',')) {
    const t = part.trim();
    if (t === '') continue;
    const one = parseGtidPosition(t);
    const e = one?.values().next().value;
    if (e === undefined) return null;
    out.push(e);
  }
  return out;
}

export interface Containment {
  /** The node's last GTID of a domain that the primary provably lacks, and what the primary has of that server. */
  readonly errant: readonly { readonly gtid: string; readonly primaryHas: string | null }[];
}

/**
 * Is a node's history (its last GTID per domain, `held`) contained in the primary's? Under gtid_strict_mode a
 * domain's history is linear, so it is when, for each domain's last GTID D-S-N the node holds, the primary's
 * binlog state has server S in domain D at N or beyond. Provably not when the primary has S's transactions of D
 * only up to a lower number: the node holds D-S-N and the primary never got it (an unacknowledged commit of a
 * crashed primary, or a write on a fenced node). When the primary has no transaction of S in D at all, only the
 * server can tell (its binlog may predate a copy): START SLAVE then fails with 1236 if it lacks the GTID.
 */
export function containment(held: GtidPosition, primaryState: readonly GtidEntry[]): Containment {
  const errant: { gtid: string; primaryHas: string | null }[] = [];
  for (const e of held.values()) {
    const theirs = primaryState.find((p) => p.domain === e.domain && p.server === e.server);
    if (theirs !== undefined && theirs.seq < e.seq) {
      errant.push({
        gtid: `${e.domain}-${e.server}-${e.seq}`,
        primaryHas: `${theirs.domain}-${theirs.server}-${theirs.seq}`,
      });
    }
  }
  return { errant };
}

/** Where a former primary starts replicating: everything it holds (binlog) or applied, per domain. */
export function rejoinSlavePos(binlogPos: GtidPosition, slavePos: GtidPosition): string {
  return formatGtidPosition(mergeMax(binlogPos, slavePos));
}

/** The user name the port check presents (no such account exists: "Access denied" proves the server answered). */
export const PORT_CHECK_USER = 'nines_portcheck';

/**
 * On `from`'s host: mariadb-admin ping to the target over TCP, killed after `ms`. mariadb-admin exits 0 whenever
 * the server answered, even with an error such as "Access denied" (it got the greeting and a reply), 1 on a
 * client error (refused, lost, connect timeout), and timeout(1) exits 137 when it had to kill it (no greeting).
 */
export function portCheckArgv(target: Pick<NodeSpec, 'host' | 'port'>, ms: number): string[] {
  const seconds = Math.max(0.05, ms / 1000);
  return [
    'timeout',
    '-s',
    'KILL',
    seconds.toFixed(3),
    'mariadb-admin',
    '--no-defaults',
    '--protocol=tcp',
    `--connect-timeout=${Math.max(1, Math.ceil(seconds))}`,
    `--host=${target.host}`,
    `--port=${target.port}`,
    `--user=${PORT_CHECK_USER}`,
    'ping',
  ];
}

/** The verdict from the port check's exit code: anything but the three known outcomes says nothing. */
export function portVerdict(exitCode: number): PortVerdict {
  if (exitCode === 0) return 'up';
  if (exitCode === 1 || exitCode === 124 || exitCode === 137) return 'down';
  return 'unknown';
}

/** Sessions whose commit waits for a replica's semi-sync ACK (MariaDB's stage "Waiting for semi-sync ACK from slave"). */
export const SEMI_SYNC_WAITERS_SQL =
  "SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE STATE LIKE 'Waiting for semi-sync ACK%'";

/**
 * Client sessions a fence kills: everything but the session running the fence, replication (the dump threads
 * that feed replicas, and this node's own replica threads) and the server's own threads.
 */
export const FENCE_SESSIONS_SQL =
  "SELECT ID AS id FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() AND USER NOT IN ('system user', 'event_scheduler') AND COMMAND NOT IN ('Binlog Dump', 'Daemon', 'Slave_IO', 'Slave_SQL', 'Slave_worker')";

/** Making a node replicate: done (how), or refused (why). */
export type Attach =
  { readonly ok: true; readonly how: string } | { readonly ok: false; readonly reason: string };

/** A replica after START SLAVE: running, refused for good (1236: the source lacks its position; an applier error), or not yet (null). */
export function startVerdict(
  r: ReplicaStatus | undefined,
  key: string,
  source: string,
  start: string,
): Attach | null {
  const from = `GTID ${start || '(empty)'}`;
  if (r && FATAL_IO_ERRNOS.has(r.lastIoErrno)) {
    return { ok: false, reason: `${source} cannot serve ${key} from ${from}: ${r.lastIoError}` };
  }
  if (r && !r.sqlRunning && r.lastSqlErrno !== 0) {
    return { ok: false, reason: `${key} cannot apply what ${source} sends: ${r.lastSqlError}` };
  }
  if (r?.ioRunning === 'Yes' && r.sqlRunning)
    return { ok: true, how: `replicating from ${source} from ${from}` };
  return null;
}

export function replicaSummary(r: ReplicaStatus | undefined): string {
  if (!r) return 'no replication';
  const errors = [r.lastIoError, r.lastSqlError].filter((e) => e !== '').join('; ');
  return `io ${r.ioRunning}, sql ${r.sqlRunning ? 'Yes' : 'No'}${errors ? `: ${errors}` : ''}`;
}
