// Pure: what the failover decisions read of a PostgreSQL node — its position (received and replayed LSN, timeline,
// WAL receiver) from an observation, how commits were acknowledged (synchronous_standby_names and the primary's
// pg_stat_replication), and when a standby has replayed all it can. No I/O: recovery.ts reads the servers.
import type { NodeObservation } from '../../core/monitor/observation.ts';
import { nodeKey } from '../../core/monitor/observation.ts';
import { formatLsn, parseLsn } from '../../core/recovery/positions.ts';
import type { ClusterSpec, NodeSpec } from '../../core/spec.ts';
import type { AckState, ReplicationPosition } from '../engine.ts';
import { applicationName, synchronousStandbyNames } from './config.ts';

/**
 * A deliberately low replay speed for estimating how long a standby needs to replay WAL it holds: PostgreSQL does
 * not say, and replay usually runs far faster than this (tens to hundreds of MB/s).
 */
export const ASSUMED_REPLAY_BYTES_PER_SECOND = 16 * 1024 * 1024;

/** A node that could not be read: every position unknown. */
export function unreadablePosition(node: string, error: string): ReplicationPosition {
  return {
    node,
    reachable: false,
    error,
    role: 'unknown',
    readOnly: null,
    received: null,
    applied: null,
    receivedText: null,
    appliedText: null,
    label: `unknown (${error})`,
    applyBacklogSeconds: null,
    applyError: null,
    source: null,
    linkUp: null,
  };
}

export function positionLabel(
  received: string | null,
  applied: string | null,
  timeline: number | null | undefined,
): string {
  const tl = timeline === null || timeline === undefined ? '' : ` (timeline ${timeline})`;
  if (received === null) return `LSN unknown${tl}`;
  if (applied === null || applied === received) return `LSN ${received}${tl}`;
  return `LSN ${received} received, ${applied} replayed${tl}`;
}

/**
 * Seconds a standby needs to replay what it holds: 0 when nothing is left; null when replay is paused with WAL
 * left (it will not apply it by itself) or nothing is known. Otherwise the shorter of the monitor's lag (time the
 * gap has lasted, or the last replayed transaction's age) and the gap at ASSUMED_REPLAY_BYTES_PER_SECOND.
 */
export function applyBacklogSeconds(input: {
  readonly gapBytes: bigint | null;
  readonly lagSeconds: number | null;
  readonly replayPaused: boolean;
}): number | null {
  if (input.gapBytes === null) return null;
  if (input.gapBytes === 0n) return 0;
  if (input.replayPaused) return null;
  const byBytes = Number(input.gapBytes) / ASSUMED_REPLAY_BYTES_PER_SECOND;
  const seconds = input.lagSeconds === null ? byBytes : Math.min(input.lagSeconds, byBytes);
  return Math.round(seconds * 1000) / 1000;
}

function maxLsn(a: bigint | null, b: bigint | null): bigint | null {
  if (a === null) return b;
  if (b === null) return a;
  return a > b ? a : b;
}

/**
 * The position of `node` (host:port) as `observation` saw it. A standby's received position is the larger of
 * pg_last_wal_receive_lsn and pg_last_wal_replay_lsn: after a restart the WAL receiver starts again at the
 * beginning of a segment, below what was already replayed, and WAL read from pg_wal is replayed without being
 * "received" — either way the standby holds everything up to the replayed position.
 */
export function observedPosition(
  node: string,
  observation: NodeObservation | undefined,
): ReplicationPosition {
  if (observation === undefined) return unreadablePosition(node, 'never observed');
  if (!observation.reachable) {
    return unreadablePosition(node, observation.error?.message ?? 'not reachable');
  }
  return observation.role === 'primary'
    ? primaryPosition(node, observation)
    : standbyPosition(node, observation);
}

function lsnText(lsn: bigint | null): string | null {
  return lsn === null ? null : formatLsn(lsn);
}

type Observed = Pick<ReplicationPosition, 'node' | 'reachable' | 'readOnly' | 'timeline'>;

function common(node: string, observation: NodeObservation): Observed {
  const timeline = observation.postgres?.timeline ?? null;
  return {
    node,
    reachable: true,
    readOnly: observation.readOnly ?? null,
    ...(timeline === null ? {} : { timeline }),
  };
}

function primaryPosition(node: string, observation: NodeObservation): ReplicationPosition {
  const base = common(node, observation);
  const lsn = parseLsn(observation.postgres?.currentLsn);
  const text = lsnText(lsn);
  return {
    ...base,
    role: 'primary',
    received: lsn,
    applied: lsn,
    receivedText: text,
    appliedText: text,
    label: positionLabel(text, null, base.timeline),
    applyBacklogSeconds: 0,
    applyError: null,
    source: null,
    linkUp: null,
  };
}

function standbyPosition(node: string, observation: NodeObservation): ReplicationPosition {
  const base = common(node, observation);
  const rep = observation.replication?.kind === 'postgres' ? observation.replication : undefined;
  const applied = parseLsn(rep?.replayedLsn);
  const received = maxLsn(parseLsn(rep?.receivedLsn), applied);
  const gapBytes = received === null || applied === null ? null : received - applied;
  const receivedText = lsnText(received);
  const appliedText = lsnText(applied);
  return {
    ...base,
    role: observation.role === 'replica' ? 'replica' : 'unknown',
    received,
    applied,
    receivedText,
    appliedText,
    label: positionLabel(receivedText, appliedText, base.timeline),
    applyBacklogSeconds: applyBacklogSeconds({
      gapBytes,
      lagSeconds: rep?.lagSeconds ?? null,
      replayPaused: rep?.replayPaused === true,
    }),
    // PostgreSQL has no replay error to report: a replay failure stops the server (it is then unreachable).
    applyError: null,
    source: rep?.source ?? null,
    linkUp: rep === undefined ? null : rep.receiverStatus === 'streaming',
  };
}

const ACKING = new Set(['sync', 'quorum']);

/**
 * How the primary acknowledged commits when last observed. synchronous: synchronous_standby_names was set and at
 * least one standby was sync/quorum (those are the ack set); degraded: set but none was, or a standby that counted
 * is not a node of the spec (the candidate cannot be compared with it); asynchronous: not set. A primary never
 * observed (or observed without its PostgreSQL state) is judged by the spec: synchronous specs are degraded
 * (nothing can be proven), others asynchronous.
 */
export function ackState(
  spec: ClusterSpec,
  primary: string,
  observations: ReadonlyMap<string, NodeObservation | undefined>,
): AckState {
  const pg = observations.get(primary)?.postgres;
  const configured = (pg?.synchronousStandbyNames ?? synchronousStandbyNames(spec)).trim() !== '';
  const byName = new Map(spec.nodes.map((n) => [applicationName(n), nodeKey(n)]));
  const acking = (pg?.standbys ?? []).filter((s) => ACKING.has(s.syncState));
  const ackSet = new Set<string>();
  let unknownAcker = false;
  for (const s of acking) {
    const key = byName.get(s.applicationName);
    if (key === undefined) unknownAcker = true;
    else ackSet.add(key);
  }
  const positionText = pg?.currentLsn ?? null;
  const position = parseLsn(positionText);
  let mode: AckState['mode'] = 'asynchronous';
  if (configured) mode = ackSet.size > 0 && !unknownAcker ? 'synchronous' : 'degraded';
  return {
    mode,
    ackSet: mode === 'synchronous' ? ackSet : new Set(),
    unit: 'bytes',
    ackName: 'synchronous',
    primaryPosition: position,
    primaryPositionText: position === null ? null : positionText,
  };
}

/** Wait events of the startup process while it has nothing to replay (PostgreSQL 13+). */
const STARTUP_WAITING_FOR_WAL = new Set([
  'RecoveryWalStream',
  'RecoveryRetrieveRetryInterval',
  'RecoveryWalAll',
]);

/** One reading of a standby's replay progress. */
export interface ReplayReading {
  /** When it was read (ms). */
  readonly time: number;
  readonly inRecovery: boolean;
  readonly receivedLsn: string | null;
  readonly replayedLsn: string | null;
  /** pg_stat_activity.wait_event of the startup process. */
  readonly startupWait: string | null;
}

/** How long the startup process must wait for WAL at the same positions before the rest counts as incomplete. */
export const REPLAY_STALL_MS = 200;

export interface ReplayProgress {
  /** Everything the standby holds that can be replayed is replayed. */
  readonly done: boolean;
  /** The first reading of the current stall (waiting for WAL at unchanged positions); pass it to the next call. */
  readonly stalledSince: ReplayReading | undefined;
}

/**
 * Has the standby replayed everything it holds? Yes when it is not in recovery any more, when replayed reaches
 * received, or when the startup process has been waiting for WAL for REPLAY_STALL_MS with received and replayed
 * unchanged: the rest is an incomplete record at the end of what it received (its primary was cut off in the middle
 * of sending a record that spans WAL pages), which can never be replayed and which no acknowledged commit needs.
 */
export function replayProgress(
  stalledSince: ReplayReading | undefined,
  current: ReplayReading,
  minStallMs = REPLAY_STALL_MS,
): ReplayProgress {
  if (!current.inRecovery) return { done: true, stalledSince: undefined };
  const replayed = parseLsn(current.replayedLsn);
  const received = parseLsn(current.receivedLsn);
  if (replayed !== null && received !== null && replayed >= received) {
    return { done: true, stalledSince: undefined };
  }
  if (replayed === null || !STARTUP_WAITING_FOR_WAL.has(current.startupWait ?? '')) {
    return { done: false, stalledSince: undefined };
  }
  const same =
    stalledSince !== undefined &&
    stalledSince.replayedLsn === current.replayedLsn &&
    stalledSince.receivedLsn === current.receivedLsn;
  if (!same) return { done: false, stalledSince: current };
  return { done: current.time - stalledSince.time >= minStallMs, stalledSince };
}

/** Has the standby received and replayed `target`? (received counts what it replayed, see observedPosition.) */
export function reachedPosition(position: ReplicationPosition, target: bigint): boolean {
  return (
    position.received !== null &&
    position.applied !== null &&
    position.received >= target &&
    position.applied >= target
  );
}

/**
 * The standby names a synchronous_standby_names value lists ('ANY 1 ("a", "b")', 'FIRST 2 (a, b)', '2 (a, b)',
 * 'a, b'), lowercased unless quoted as PostgreSQL compares them; '*' stands for every standby.
 */
export function listedStandbys(setting: string): readonly string[] {
  const method = /^(?:(?:ANY|FIRST)\s+)?\d+\s*\(([\s\S]*)\)$/i.exec(setting.trim());
  const text = method ? (method[1] ?? '') : setting;
  const separator = (c: string | undefined): boolean => c === ',' || (c !== undefined && /\s/.test(c));
  const names: string[] = [];
  let i = 0;
  while (i < text.length) {
    if (separator(text[i])) {
      i++;
      continue;
    }
    if (text[i] === '"') {
      let name = '';
      for (i++; i < text.length; i++) {
        if (text[i] !== '"') name += text[i];
        else if (text[i + 1] === '"') name += text[++i];
        else break;
      }
      names.push(name);
      i++;
      continue;
    }
    const start = i;
    while (i < text.length && !separator(text[i])) i++;
    names.push(text.slice(start, i).toLowerCase());
  }
  return names;
}

/** Every one of `names` can acknowledge commits under `setting` (listed by name, or '*'). */
export function standbysCovered(setting: string, names: readonly string[]): boolean {
  const listed = new Set(listedStandbys(setting));
  return listed.has('*') || names.every((n) => listed.has(n));
}

const WAL_PAGE = 8192n;
/** MAXALIGN(sizeof(XLogPageHeaderData)) and MAXALIGN(sizeof(XLogLongPageHeaderData)) on 64-bit builds. */
const SHORT_PAGE_HEADER = 24n;
const LONG_PAGE_HEADER = 40n;

/**
 * Where a WAL record that starts at `start` and is `totalLength` bytes long ends (the position a standby reports
 * once it has received and replayed it): its MAXALIGNed length laid over WAL pages, skipping the header of every
 * page it continues on (a long one at a segment start). A record ending exactly at a page end ends there.
 */
export function walRecordEnd(start: bigint, totalLength: number, segmentSize = 16n * 1024n * 1024n): bigint {
  let left = (BigInt(totalLength) + 7n) & ~7n;
  let pos = start;
  for (;;) {
    const pageEnd = (pos / WAL_PAGE + 1n) * WAL_PAGE;
    if (left <= pageEnd - pos) return pos + left;
    left -= pageEnd - pos;
    pos = pageEnd + (pageEnd % segmentSize === 0n ? LONG_PAGE_HEADER : SHORT_PAGE_HEADER);
  }
}

/** What a clean shutdown left in the control file and the WAL (see recovery-commands.ts parseStop). */
export interface ShutdownState {
  readonly checkpointLsn: string | null;
  readonly checkpointLength: number | null;
  readonly segmentSize: number | null;
  readonly timeline: number | null;
}

/**
 * The final position of a primary stopped cleanly: the end of its shutdown checkpoint record, the last one it
 * wrote. A candidate that received and replayed up to there has every commit, and promoting it forks the new
 * timeline right after the old primary's last record, so the old primary follows it without a rewind. When the
 * record's length is unknown: the checkpoint's start (every commit is before it; the old primary may then need a
 * rewind). Null without a checkpoint location.
 */
export function shutdownPosition(node: string, stop: ShutdownState): ReplicationPosition | null {
  const start = parseLsn(stop.checkpointLsn);
  if (start === null) return null;
  const end =
    stop.checkpointLength === null
      ? start
      : walRecordEnd(start, stop.checkpointLength, BigInt(stop.segmentSize ?? 16 * 1024 * 1024));
  const text = formatLsn(end);
  const tl = stop.timeline === null ? '' : `timeline ${stop.timeline}, `;
  return {
    node,
    reachable: true,
    role: 'primary',
    readOnly: true,
    received: end,
    applied: end,
    receivedText: text,
    appliedText: text,
    label: `LSN ${text} (${tl}shut down; shutdown checkpoint at ${formatLsn(start)})`,
    applyBacklogSeconds: 0,
    applyError: null,
    source: null,
    linkUp: null,
    ...(stop.timeline === null ? {} : { timeline: stop.timeline }),
  };
}

/** A standby's pg_stat_wal_receiver row (with pg_is_in_recovery()). */
export interface ReceiverRow {
  readonly in_recovery: boolean;
  readonly status: string | null;
  readonly sender_host: string | null;
  readonly sender_port: number | null;
  readonly received_tli: number | null;
  readonly receive_start_tli: number | null;
}

/** The standby streams from `primary` on `timeline`. */
export function streamsFrom(row: ReceiverRow, primary: NodeSpec, timeline: number): boolean {
  return (
    row.in_recovery &&
    row.status === 'streaming' &&
    row.sender_host === primary.host &&
    Number(row.sender_port) === primary.port &&
    (Number(row.received_tli) === timeline || Number(row.receive_start_tli) === timeline)
  );
}
