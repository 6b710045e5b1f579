// The stored state of recovery: failovers (the persisted state machine, one row per failover or switchover, its
// phase advanced only after the phase's step was verified), whether automatic recovery is on per cluster, and the
// recovery state of nodes (fenced former primaries, diverged ones).
import { FAILOVER_PHASES, canTransition, isFinal, type FailoverPhase } from '../../core/recovery/phases.ts';
import { NinesError } from '../../core/errors.ts';
import type { Db } from '../store/db.ts';

export type FailoverKind = 'failover' | 'switchover';
export type FailoverTrigger = 'automatic' | 'manual';

export interface FailoverLogLine {
  readonly time: number;
  readonly line: string;
}

export interface FailoverError {
  readonly code: string;
  readonly message: string;
  readonly hint?: string;
}

export interface FailoverRecord {
  readonly id: number;
  readonly cluster: string;
  readonly kind: FailoverKind;
  readonly trigger: FailoverTrigger;
  readonly oldPrimary: string;
  readonly candidate: string | null;
  readonly phase: FailoverPhase;
  readonly forced: boolean;
  readonly reason: string;
  /** Positions, RPO decision, followers, the requested target: what the steps decided (JSON values). */
  readonly data: Readonly<Record<string, unknown>>;
  readonly log: readonly FailoverLogLine[];
  readonly error: FailoverError | null;
  readonly requestedBy: string | null;
  readonly startedAt: number;
  readonly updatedAt: number;
  readonly finishedAt: number | null;
}

/** `nines node lock`: self-healing leaves the node alone. */
export interface NodeLock {
  readonly cluster: string;
  readonly node: string;
  readonly reason: string | null;
  readonly by: string | null;
  readonly at: number;
}

export type NodeRecoveryState = 'fenced' | 'diverged';

export interface NodeRecoveryRecord {
  readonly cluster: string;
  readonly node: string;
  readonly state: NodeRecoveryState;
  readonly reason: string;
  readonly failoverId: number | null;
  readonly since: number;
  /** Rejoin attempts so far (backoff). */
  readonly attempts: number;
}

interface FailoverRow {
  id: number;
  cluster: string;
  kind: string;
  trigger: string;
  old_primary: string;
  candidate: string | null;
  phase: string;
  forced: number;
  reason: string;
  data_json: string;
  log_json: string;
  error_json: string | null;
  requested_by: string | null;
  started_at: number;
  updated_at: number;
  finished_at: number | null;
}

interface NodeRow {
  cluster: string;
  node: string;
  state: string;
  reason: string;
  failover_id: number | null;
  since: number;
  attempts: number;
}

/** Lines kept in a failover's log (the newest). */
const MAX_LOG = 500;

function parse<T>(text: string | null, fallback: T): T {
  if (text === null) return fallback;
  try {
    return JSON.parse(text) as T;
  } catch {
    return fallback;
  }
}

function phaseOf(text: string): FailoverPhase {
  return (FAILOVER_PHASES as readonly string[]).includes(text) ? (text as FailoverPhase) : 'aborted';
}

function toRecord(r: FailoverRow): FailoverRecord {
  return {
    id: r.id,
    cluster: r.cluster,
    kind: r.kind === 'switchover' ? 'switchover' : 'failover',
    trigger: r.trigger === 'manual' ? 'manual' : 'automatic',
    oldPrimary: r.old_primary,
    candidate: r.candidate,
    phase: phaseOf(r.phase),
    forced: r.forced === 1,
    reason: r.reason,
    data: parse<Record<string, unknown>>(r.data_json, {}),
    log: parse<FailoverLogLine[]>(r.log_json, []),
    error: parse<FailoverError | null>(r.error_json, null),
    requestedBy: r.requested_by,
    startedAt: r.started_at,
    updatedAt: r.updated_at,
    finishedAt: r.finished_at,
  };
}

export interface NewFailover {
  readonly cluster: string;
  readonly kind: FailoverKind;
  readonly trigger: FailoverTrigger;
  readonly oldPrimary: string;
  readonly forced: boolean;
  readonly reason: string;
  readonly data?: Readonly<Record<string, unknown>>;
  readonly requestedBy?: string | null;
  readonly now: number;
}

export class RecoveryRepo {
  private readonly db: Db;

  constructor(db: Db) {
    this.db = db;
  }

  createFailover(f: NewFailover): FailoverRecord {
    const { lastId } = this.db.run(
      `INSERT INTO failovers (cluster, kind, trigger, old_primary, phase, forced, reason, data_json, requested_by,
         started_at, updated_at) VALUES (?, ?, ?, ?, 'detected', ?, ?, ?, ?, ?, ?)`,
      f.cluster,
      f.kind,
      f.trigger,
      f.oldPrimary,
      f.forced ? 1 : 0,
      f.reason,
      JSON.stringify(f.data ?? {}),
      f.requestedBy ?? null,
      f.now,
      f.now,
    );
    return this.getFailover(lastId) as FailoverRecord;
  }

  getFailover(id: number): FailoverRecord | undefined {
    const row = this.db.get<FailoverRow>('SELECT * FROM failovers WHERE id = ?', id);
    return row ? toRecord(row) : undefined;
  }

  /** The cluster's failovers, newest first. */
  /** Failover `id` of `cluster`; NINES_E_FAILOVER_NOT_FOUND otherwise. */
  failoverOf(cluster: string, id: number): FailoverRecord {
    const f = this.getFailover(id);
    if (!f || f.cluster !== cluster)
      throw new NinesError('NINES_E_FAILOVER_NOT_FOUND', `${id}`, { context: { cluster, id } });
    return f;
  }

  listFailovers(cluster: string, limit = 50): FailoverRecord[] {
    return this.db
      .all<FailoverRow>('SELECT * FROM failovers WHERE cluster = ? ORDER BY id DESC LIMIT ?', cluster, limit)
      .map(toRecord);
  }

  /** Failovers not finished (a controller restart resumes them). */
  unfinished(): FailoverRecord[] {
    return this.db
      .all<FailoverRow>(`SELECT * FROM failovers WHERE phase NOT IN ('done', 'aborted') ORDER BY id`)
      .map(toRecord);
  }

  /** When the cluster's last failover that changed the primary finished; null when none did. */
  lastDoneAt(cluster: string): number | null {
    return (
      this.db.get<{ t: number | null }>(
        `SELECT MAX(finished_at) AS t FROM failovers WHERE cluster = ? AND phase = 'done' AND kind = 'failover'`,
        cluster,
      )?.t ?? null
    );
  }

  /**
   * Moves a failover to `phase` (one step forward, or to aborted before promotion: canTransition), merging
   * `data` and setting candidate/error when given. Throws on an illegal transition (a bug, not an input).
   */
  advance(
    id: number,
    phase: FailoverPhase,
    now: number,
    change: { data?: Record<string, unknown>; candidate?: string; error?: FailoverError } = {},
  ): FailoverRecord {
    return this.db.tx(() => {
      const current = this.getFailover(id);
      if (!current) throw new Error(`failover ${id} does not exist`);
      if (current.phase !== phase && !canTransition(current.phase, phase)) {
        throw new Error(`failover ${id}: ${current.phase} -> ${phase} is not a legal transition`);
      }
      this.db.run(
        `UPDATE failovers SET phase = ?, updated_at = ?, finished_at = ?, data_json = ?,
           candidate = COALESCE(?, candidate), error_json = COALESCE(?, error_json) WHERE id = ?`,
        phase,
        now,
        isFinal(phase) ? now : null,
        JSON.stringify({ ...current.data, ...(change.data ?? {}) }),
        change.candidate ?? null,
        change.error ? JSON.stringify(change.error) : null,
        id,
      );
      return this.getFailover(id) as FailoverRecord;
    });
  }

  /** Merges `data` without changing the phase (a decision made inside a phase, e.g. the candidate). */
  update(id: number, now: number, change: { data?: Record<string, unknown>; candidate?: string }): void {
    const current = this.getFailover(id);
    if (!current) return;
    this.db.run(
      'UPDATE failovers SET updated_at = ?, data_json = ?, candidate = COALESCE(?, candidate) WHERE id = ?',
      now,
      JSON.stringify({ ...current.data, ...(change.data ?? {}) }),
      change.candidate ?? null,
      id,
    );
  }

  appendLog(id: number, line: string, now: number): void {
    const current = this.db.get<{ log_json: string }>('SELECT log_json FROM failovers WHERE id = ?', id);
    if (!current) return;
    const log = parse<FailoverLogLine[]>(current.log_json, []);
    log.push({ time: now, line });
    this.db.run('UPDATE failovers SET log_json = ? WHERE id = ?', JSON.stringify(log.slice(-MAX_LOG)), id);
  }

  /** Automatic recovery is on unless turned off for the cluster. */
  enabled(cluster: string): boolean {
    const row = this.db.get<{ enabled: number }>(
      'SELECT enabled FROM recovery_settings WHERE cluster = ?',
      cluster,
    );
    return row === undefined || row.enabled === 1;
  }

  setEnabled(cluster: string, enabled: boolean, by: string | null, now: number): void {
    this.db.run(
      `INSERT INTO recovery_settings (cluster, enabled, updated_at, updated_by) VALUES (?, ?, ?, ?)
       ON CONFLICT (cluster) DO UPDATE SET enabled = excluded.enabled, updated_at = excluded.updated_at,
         updated_by = excluded.updated_by`,
      cluster,
      enabled ? 1 : 0,
      now,
      by,
    );
  }

  nodeStates(cluster: string): NodeRecoveryRecord[] {
    return this.db
      .all<NodeRow>('SELECT * FROM node_recovery WHERE cluster = ? ORDER BY node', cluster)
      .map((r) => ({
        cluster: r.cluster,
        node: r.node,
        state: r.state === 'diverged' ? 'diverged' : 'fenced',
        reason: r.reason,
        failoverId: r.failover_id,
        since: r.since,
        attempts: r.attempts,
      }));
  }

  nodeState(cluster: string, node: string): NodeRecoveryRecord | undefined {
    return this.nodeStates(cluster).find((n) => n.node === node);
  }

  setNodeState(s: {
    readonly cluster: string;
    readonly node: string;
    readonly state: NodeRecoveryState;
    readonly reason: string;
    readonly failoverId: number | null;
    readonly now: number;
  }): void {
    this.db.run(
      `INSERT INTO node_recovery (cluster, node, state, reason, failover_id, since, attempts)
       VALUES (?, ?, ?, ?, ?, ?, 0)
       ON CONFLICT (cluster, node) DO UPDATE SET state = excluded.state, reason = excluded.reason,
         failover_id = COALESCE(excluded.failover_id, node_recovery.failover_id),
         since = CASE WHEN node_recovery.state = excluded.state THEN node_recovery.since ELSE excluded.since END`,
      s.cluster,
      s.node,
      s.state,
      s.reason,
      s.failoverId,
      s.now,
    );
  }

  countAttempt(cluster: string, node: string): void {
    this.db.run(
      'UPDATE node_recovery SET attempts = attempts + 1 WHERE cluster = ? AND node = ?',
      cluster,
      node,
    );
  }

  clearNodeState(cluster: string, node: string): void {
    this.db.run('DELETE FROM node_recovery WHERE cluster = ? AND node = ?', cluster, node);
  }

  /** Everything of a deleted cluster. */
  locks(cluster: string): NodeLock[] {
    return this.db
      .all<{
        cluster: string;
        node: string;
        reason: string | null;
        locked_by: string | null;
        locked_at: number;
      }>('SELECT * FROM node_locks WHERE cluster = ? ORDER BY node', cluster)
      .map((r) => ({ cluster: r.cluster, node: r.node, reason: r.reason, by: r.locked_by, at: r.locked_at }));
  }

  lock(l: NodeLock): void {
    this.db.run(
      `INSERT INTO node_locks (cluster, node, reason, locked_by, locked_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (cluster, node) DO UPDATE SET reason = excluded.reason, locked_by = excluded.locked_by,
       locked_at = excluded.locked_at`,
      l.cluster,
      l.node,
      l.reason,
      l.by,
      l.at,
    );
  }

  /** True when there was a lock to remove. */
  unlock(cluster: string, node: string): boolean {
    return this.db.run('DELETE FROM node_locks WHERE cluster = ? AND node = ?', cluster, node).changes > 0;
  }

  forget(cluster: string): void {
    this.db.tx(() => {
      this.db.run('DELETE FROM node_locks WHERE cluster = ?', cluster);
      this.db.run('DELETE FROM failovers WHERE cluster = ?', cluster);
      this.db.run('DELETE FROM recovery_settings WHERE cluster = ?', cluster);
      this.db.run('DELETE FROM node_recovery WHERE cluster = ?', cluster);
    });
  }
}
