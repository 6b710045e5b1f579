// Events for operators: append-only, ids strictly increasing (AUTOINCREMENT never reuses an id), so a client can
// resume a stream from the last id it saw without gaps.
import type { Db } from './db.ts';

export type Severity = 'info' | 'warning' | 'error' | 'critical';

export interface EventInput {
  readonly cluster?: string | null;
  /** e.g. job.queued, job.started, job.step, job.succeeded, job.failed, job.cancelled, cluster.created ... */
  readonly type: string;
  readonly severity?: Severity;
  readonly message: string;
  /** Must not hold secrets. */
  readonly data?: Readonly<Record<string, unknown>>;
}

export interface EventRecord {
  readonly id: number;
  readonly time: string;
  readonly cluster: string | null;
  readonly type: string;
  readonly severity: Severity;
  readonly message: string;
  readonly data: Readonly<Record<string, unknown>>;
}

export interface EventFilter {
  readonly cluster?: string;
  /** Exact type, or a prefix ending in "." (e.g. "job."). */
  readonly type?: string;
  /** Only events with id > since. */
  readonly since?: number;
  readonly limit?: number;
  /** Newest first (default oldest first). */
  readonly desc?: boolean;
}

interface EventRow {
  id: number;
  time: string;
  cluster: string | null;
  type: string;
  severity: Severity;
  message: string;
  data_json: string;
}

function toRecord(r: EventRow): EventRecord {
  return {
    id: r.id,
    time: r.time,
    cluster: r.cluster,
    type: r.type,
    severity: r.severity,
    message: r.message,
    data: JSON.parse(r.data_json) as Record<string, unknown>,
  };
}

export function eventMatches(e: EventRecord, f: EventFilter): boolean {
  if (f.cluster !== undefined && e.cluster !== f.cluster) return false;
  if (f.type !== undefined && !(f.type.endsWith('.') ? e.type.startsWith(f.type) : e.type === f.type))
    return false;
  return f.since === undefined || e.id > f.since;
}

export class EventRepo {
  private readonly db: Db;

  constructor(db: Db) {
    this.db = db;
  }

  append(e: EventInput): EventRecord {
    const time = new Date().toISOString();
    const data = e.data ?? {};
    const severity = e.severity ?? 'info';
    const { lastId } = this.db.run(
      'INSERT INTO events (time, cluster, type, severity, message, data_json) VALUES (?, ?, ?, ?, ?, ?)',
      time,
      e.cluster ?? null,
      e.type,
      severity,
      e.message,
      JSON.stringify(data),
    );
    return { id: lastId, time, cluster: e.cluster ?? null, type: e.type, severity, message: e.message, data };
  }

  list(f: EventFilter = {}): EventRecord[] {
    const where: string[] = ['id > ?'];
    const params: (string | number)[] = [f.since ?? 0];
    if (f.cluster !== undefined) {
      where.push('cluster = ?');
      params.push(f.cluster);
    }
    if (f.type !== undefined) {
      where.push(f.type.endsWith('.') ? 'substr(type, 1, ?) = ?' : 'type = ?');
      if (f.type.endsWith('.')) params.push(f.type.length);
      params.push(f.type);
    }
    const limit = Math.min(Math.max(f.limit ?? 100, 1), 1000);
    const sql = `SELECT * FROM events WHERE ${where.join(' AND ')} ORDER BY id ${f.desc ? 'DESC' : 'ASC'} LIMIT ${limit}`;
    return this.db.all<EventRow>(sql, ...params).map(toRecord);
  }

  lastId(): number {
    return this.db.get<{ id: number | null }>('SELECT MAX(id) AS id FROM events')?.id ?? 0;
  }
}
