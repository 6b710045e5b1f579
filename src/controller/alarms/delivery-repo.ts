// The store-backed DeliveryStore of the notification queue (deliveries survive a controller restart: pending ones
// are picked up again) and the notification ledger (what was last notified per alarm key, so a restart does not
// notify open alarms again).
import type { AlarmTransition, ChannelKind, LedgerEntry, NotifyLedger } from '../../core/monitor/notify.ts';
import type {
  Delivery,
  DeliveryFilter,
  DeliveryPatch,
  DeliveryState,
  DeliveryStore,
  NewDelivery,
} from '../notify/delivery-store.ts';
import type { Db } from '../store/db.ts';

interface DeliveryRow {
  id: number;
  channel: string;
  kind: string;
  transition_json: string;
  summary: string;
  state: string;
  attempts: number;
  max_attempts: number;
  created_at: number;
  updated_at: number;
  next_attempt_at: number | null;
  delivered_at: number | null;
  response: string | null;
  last_error_code: string | null;
  last_error_message: string | null;
  last_error_at: number | null;
}

function toDelivery(r: DeliveryRow): Delivery {
  return Object.freeze({
    id: r.id,
    channel: r.channel,
    kind: r.kind as ChannelKind,
    transition: JSON.parse(r.transition_json) as AlarmTransition,
    summary: r.summary,
    state: r.state as DeliveryState,
    attempts: r.attempts,
    maxAttempts: r.max_attempts,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    nextAttemptAt: r.next_attempt_at,
    deliveredAt: r.delivered_at,
    response: r.response,
    lastError:
      r.last_error_code !== null
        ? { code: r.last_error_code, message: r.last_error_message ?? '', at: r.last_error_at ?? 0 }
        : null,
  });
}

export class SqliteDeliveryStore implements DeliveryStore {
  private readonly db: Db;
  private readonly keepFinished: number;

  constructor(db: Db, keepFinished = 10_000) {
    this.db = db;
    this.keepFinished = keepFinished;
  }

  insert(d: NewDelivery): Delivery {
    const { lastId } = this.db.run(
      `INSERT INTO notification_deliveries (channel, kind, transition_json, summary, state, attempts, max_attempts,
         created_at, updated_at, next_attempt_at, delivered_at, response, last_error_code, last_error_message,
         last_error_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      d.channel,
      d.kind,
      JSON.stringify(d.transition),
      d.summary,
      d.state,
      d.attempts,
      d.maxAttempts,
      d.createdAt,
      d.updatedAt,
      d.nextAttemptAt,
      d.deliveredAt,
      d.response,
      d.lastError?.code ?? null,
      d.lastError?.message ?? null,
      d.lastError?.at ?? null,
    );
    return this.get(lastId) as Delivery;
  }

  update(id: number, patch: DeliveryPatch): Delivery {
    const row = this.get(id);
    if (!row) throw new RangeError(`no delivery ${id}`);
    const next = { ...row, ...patch };
    this.db.run(
      `UPDATE notification_deliveries SET state = ?, attempts = ?, updated_at = ?, next_attempt_at = ?,
         delivered_at = ?, response = ?, last_error_code = ?, last_error_message = ?, last_error_at = ? WHERE id = ?`,
      next.state,
      next.attempts,
      next.updatedAt,
      next.nextAttemptAt,
      next.deliveredAt,
      next.response,
      next.lastError?.code ?? null,
      next.lastError?.message ?? null,
      next.lastError?.at ?? null,
      id,
    );
    if (next.state !== 'pending' && id % 100 === 0) this.trim();
    return this.get(id) as Delivery;
  }

  get(id: number): Delivery | undefined {
    const row = this.db.get<DeliveryRow>('SELECT * FROM notification_deliveries WHERE id = ?', id);
    return row ? toDelivery(row) : undefined;
  }

  due(now: number, limit: number): Delivery[] {
    return this.db
      .all<DeliveryRow>(
        `SELECT * FROM notification_deliveries WHERE state = 'pending' AND COALESCE(next_attempt_at, 0) <= ?
         ORDER BY COALESCE(next_attempt_at, 0), id LIMIT ?`,
        now,
        limit,
      )
      .map(toDelivery);
  }

  nextDueAt(): number | undefined {
    const row = this.db.get<{ t: number | null }>(
      "SELECT MIN(COALESCE(next_attempt_at, 0)) AS t FROM notification_deliveries WHERE state = 'pending'",
    );
    return row?.t ?? undefined;
  }

  list(filter: DeliveryFilter = {}): Delivery[] {
    const where: string[] = [];
    const params: string[] = [];
    if (filter.channel !== undefined) {
      where.push('channel = ?');
      params.push(filter.channel);
    }
    if (filter.state !== undefined) {
      where.push('state = ?');
      params.push(filter.state);
    }
    const limit = Math.min(Math.max(filter.limit ?? 100, 1), 1000);
    const sql = `SELECT * FROM notification_deliveries ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ${limit}`;
    return this.db.all<DeliveryRow>(sql, ...params).map(toDelivery);
  }

  private trim(): void {
    this.db.run(
      `DELETE FROM notification_deliveries WHERE state != 'pending' AND id <= (SELECT id FROM notification_deliveries
         WHERE state != 'pending' ORDER BY id DESC LIMIT 1 OFFSET ?)`,
      this.keepFinished,
    );
  }
}

/** The notification ledger in SQLite: load at start, save the differences after each notification pass. */
export class LedgerRepo {
  private readonly db: Db;

  constructor(db: Db) {
    this.db = db;
  }

  load(): Map<string, LedgerEntry> {
    const rows = this.db.all<{ key: string; state: 'raised' | 'cleared'; severity: string; at: number }>(
      'SELECT * FROM notify_ledger',
    );
    return new Map(
      rows.map((r) => [r.key, { state: r.state, severity: r.severity as LedgerEntry['severity'], at: r.at }]),
    );
  }

  /** Writes what changed from `before` to `after` (one transaction; nothing when equal). */
  save(before: NotifyLedger, after: NotifyLedger): void {
    const upserts = [...after].filter(([k, e]) => before.get(k) !== e);
    const deletes = [...before.keys()].filter((k) => !after.has(k));
    if (upserts.length + deletes.length === 0) return;
    this.db.tx(() => {
      for (const [key, e] of upserts) {
        this.db.run(
          `INSERT INTO notify_ledger (key, state, severity, at) VALUES (?, ?, ?, ?) ON CONFLICT (key) DO UPDATE
           SET state = excluded.state, severity = excluded.severity, at = excluded.at`,
          key,
          e.state,
          e.severity,
          e.at,
        );
      }
      for (const key of deletes) this.db.run('DELETE FROM notify_ledger WHERE key = ?', key);
    });
  }
}
