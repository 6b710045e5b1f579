// Alarms in SQLite: one row per raise; the row stays "active" (cleared_at NULL) until the condition clears, then
// it is history. A partial unique index keeps at most one active row per alarm key. The monitor applies each
// evaluation (core/monitor/alarms.ts) in one transaction; acknowledging sets who/when/comment on the active row.
import { NinesError } from '../../core/errors.ts';
import type { Alarm, AlarmEvaluation, AlarmRuleId, AlarmSeverity } from '../../core/monitor/alarms.ts';
import type { Db } from '../store/db.ts';

export interface AlarmRecord extends Alarm {
  readonly id: number;
  readonly state: 'active' | 'cleared';
  readonly clearedAt: number | null;
  readonly clearReason: string | null;
}

interface AlarmRow {
  id: number;
  key: string;
  rule: string;
  cluster: string;
  node: string | null;
  severity: string;
  reason: string;
  raised_at: number;
  updated_at: number;
  cleared_at: number | null;
  clear_reason: string | null;
  acked_by: string | null;
  acked_at: number | null;
  ack_comment: string | null;
}

function toRecord(r: AlarmRow): AlarmRecord {
  return {
    id: r.id,
    key: r.key,
    rule: r.rule as AlarmRuleId,
    cluster: r.cluster,
    ...(r.node ? { node: r.node } : {}),
    severity: r.severity as AlarmSeverity,
    reason: r.reason,
    raisedAt: r.raised_at,
    updatedAt: r.updated_at,
    ...(r.acked_by !== null && r.acked_at !== null
      ? {
          acknowledged: {
            by: r.acked_by,
            at: r.acked_at,
            ...(r.ack_comment ? { comment: r.ack_comment } : {}),
          },
        }
      : {}),
    state: r.cleared_at === null ? 'active' : 'cleared',
    clearedAt: r.cleared_at,
    clearReason: r.clear_reason,
  };
}

export interface AlarmListFilter {
  readonly cluster?: string;
  /** Include cleared alarms (history). */
  readonly all?: boolean;
  readonly limit?: number;
}

/** What an applied evaluation changed in the store (for events). */
export interface AppliedAlarms {
  readonly raised: readonly AlarmRecord[];
  readonly escalated: readonly AlarmRecord[];
  readonly cleared: readonly AlarmRecord[];
}

export class AlarmRepo {
  private readonly db: Db;

  constructor(db: Db) {
    this.db = db;
  }

  /** Active alarms (of one cluster, or all), oldest first. */
  active(cluster?: string): AlarmRecord[] {
    const rows = cluster
      ? this.db.all<AlarmRow>(
          'SELECT * FROM alarms WHERE cleared_at IS NULL AND cluster = ? ORDER BY id',
          cluster,
        )
      : this.db.all<AlarmRow>('SELECT * FROM alarms WHERE cleared_at IS NULL ORDER BY id');
    return rows.map(toRecord);
  }

  /** Newest first: active alarms, or every alarm (history) with `all`. */
  list(filter: AlarmListFilter = {}): AlarmRecord[] {
    const where: string[] = [];
    const params: (string | number)[] = [];
    if (!filter.all) where.push('cleared_at IS NULL');
    if (filter.cluster !== undefined) {
      where.push('cluster = ?');
      params.push(filter.cluster);
    }
    const limit = Math.min(Math.max(filter.limit ?? 200, 1), 1000);
    const sql = `SELECT * FROM alarms ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ${limit}`;
    return this.db.all<AlarmRow>(sql, ...params).map(toRecord);
  }

  get(id: number): AlarmRecord | undefined {
    const row = this.db.get<AlarmRow>('SELECT * FROM alarms WHERE id = ?', id);
    return row ? toRecord(row) : undefined;
  }

  /** Stores raises, changes and clears of one evaluation in one transaction. */
  apply(evaluation: AlarmEvaluation, now: number): AppliedAlarms {
    const raised: AlarmRecord[] = [];
    const escalated: AlarmRecord[] = [];
    const cleared: AlarmRecord[] = [];
    const changed = evaluation.keep.filter((k) => k.change !== 'none');
    if (evaluation.raise.length + evaluation.clear.length + changed.length === 0) {
      return { raised, escalated, cleared };
    }
    this.db.tx(() => {
      for (const { alarm } of evaluation.raise) raised.push(this.insert(alarm));
      for (const k of changed) {
        const a = k.alarm;
        this.db.run(
          `UPDATE alarms SET severity = ?, reason = ?, updated_at = ?, acked_by = ?, acked_at = ?, ack_comment = ?
           WHERE key = ? AND cleared_at IS NULL`,
          a.severity,
          a.reason,
          a.updatedAt,
          a.acknowledged?.by ?? null,
          a.acknowledged?.at ?? null,
          a.acknowledged?.comment ?? null,
          a.key,
        );
        const row = this.activeByKey(a.key);
        if (row && k.change === 'escalated') escalated.push(row);
      }
      for (const d of evaluation.clear) {
        const row = this.activeByKey(d.alarm.key);
        if (!row) continue;
        this.db.run('UPDATE alarms SET cleared_at = ?, clear_reason = ? WHERE id = ?', now, d.reason, row.id);
        cleared.push({ ...row, state: 'cleared', clearedAt: now, clearReason: d.reason });
      }
    });
    return { raised, escalated, cleared };
  }

  /** Marks an active alarm acknowledged (it stays active until its condition clears). */
  acknowledge(id: number, by: string, now: number, comment?: string): AlarmRecord {
    const row = this.get(id);
    if (!row) throw new NinesError('NINES_E_ALARM_NOT_FOUND', `alarm ${id}`, { context: { id } });
    if (row.state !== 'active') {
      throw new NinesError('NINES_E_INVALID_ARGUMENT', `alarm ${id} is already cleared`, {
        hint: 'Only active alarms can be acknowledged.',
      });
    }
    this.db.run(
      'UPDATE alarms SET acked_by = ?, acked_at = ?, ack_comment = ? WHERE id = ?',
      by,
      now,
      comment ?? null,
      id,
    );
    return this.get(id) as AlarmRecord;
  }

  /** Clears every active alarm of a cluster (it is deleted or no longer monitored). */
  clearCluster(cluster: string, reason: string, now: number): AlarmRecord[] {
    const rows = this.active(cluster);
    this.db.run(
      'UPDATE alarms SET cleared_at = ?, clear_reason = ? WHERE cluster = ? AND cleared_at IS NULL',
      now,
      reason,
      cluster,
    );
    return rows.map((r) => ({ ...r, state: 'cleared' as const, clearedAt: now, clearReason: reason }));
  }

  /**
   * Stores an alarm the monitor keeps outside evaluations (monitor-degraded): inserted when no row of its key is
   * active, else its severity, reason and update time are replaced.
   */
  upsertActive(a: Alarm): AlarmRecord {
    return this.db.tx(() => {
      const row = this.activeByKey(a.key);
      if (!row) return this.insert(a);
      this.db.run(
        'UPDATE alarms SET severity = ?, reason = ?, updated_at = ? WHERE id = ?',
        a.severity,
        a.reason,
        a.updatedAt,
        row.id,
      );
      return this.activeByKey(a.key) as AlarmRecord;
    });
  }

  /** Clears the active alarm of a key; returns it (undefined when none was active). */
  clearKey(key: string, reason: string, now: number): AlarmRecord | undefined {
    const row = this.activeByKey(key);
    if (!row) return undefined;
    this.db.run('UPDATE alarms SET cleared_at = ?, clear_reason = ? WHERE id = ?', now, reason, row.id);
    return { ...row, state: 'cleared', clearedAt: now, clearReason: reason };
  }

  /** Clusters with active alarms (to find those of deleted clusters). */
  clustersWithActive(): string[] {
    return this.db
      .all<{ cluster: string }>(
        'SELECT DISTINCT cluster FROM alarms WHERE cleared_at IS NULL ORDER BY cluster',
      )
      .map((r) => r.cluster);
  }

  /** Active alarm counts per cluster and severity (Prometheus). */
  activeCounts(): { cluster: string; severity: AlarmSeverity; n: number }[] {
    return this.db.all(
      'SELECT cluster, severity, COUNT(*) AS n FROM alarms WHERE cleared_at IS NULL GROUP BY cluster, severity',
    );
  }

  private insert(a: Alarm): AlarmRecord {
    const { lastId } = this.db.run(
      `INSERT INTO alarms (key, rule, cluster, node, severity, reason, raised_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      a.key,
      a.rule,
      a.cluster,
      a.node ?? null,
      a.severity,
      a.reason,
      a.raisedAt,
      a.updatedAt,
    );
    return { ...a, id: lastId, state: 'active', clearedAt: null, clearReason: null };
  }

  private activeByKey(key: string): AlarmRecord | undefined {
    const row = this.db.get<AlarmRow>('SELECT * FROM alarms WHERE key = ? AND cleared_at IS NULL', key);
    return row ? toRecord(row) : undefined;
  }
}
