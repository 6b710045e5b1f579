// Where notification deliveries live between attempts. The queue only talks to this interface, so the in-memory
// store below can be replaced by a store-backed one (a `notification_deliveries` table, see docs/monitoring.md)
// that survives a controller restart.
import type { ChannelKind, AlarmTransition } from '../../core/monitor/notify.ts';

export type DeliveryState = 'pending' | 'delivered' | 'failed';

export interface DeliveryError {
  readonly code: string;
  /** Redacted: never holds a channel secret. */
  readonly message: string;
  readonly at: number;
}

export interface Delivery {
  readonly id: number;
  readonly channel: string;
  readonly kind: ChannelKind;
  readonly transition: AlarmTransition;
  /** One line saying what is delivered (redacted), for lists. */
  readonly summary: string;
  readonly state: DeliveryState;
  /** Attempts made so far. */
  readonly attempts: number;
  readonly maxAttempts: number;
  readonly createdAt: number;
  readonly updatedAt: number;
  /** When the next attempt is due (pending only). */
  readonly nextAttemptAt: number | null;
  readonly deliveredAt: number | null;
  /** What the endpoint answered on success ("HTTP 200", "250 OK"). */
  readonly response: string | null;
  readonly lastError: DeliveryError | null;
}

export type NewDelivery = Omit<Delivery, 'id'>;
export type DeliveryPatch = Partial<
  Pick<
    Delivery,
    'state' | 'attempts' | 'updatedAt' | 'nextAttemptAt' | 'deliveredAt' | 'response' | 'lastError'
  >
>;

export interface DeliveryFilter {
  readonly channel?: string;
  readonly state?: DeliveryState;
  /** Newest first, at most this many. */
  readonly limit?: number;
}

export interface DeliveryStore {
  insert(d: NewDelivery): Delivery;
  update(id: number, patch: DeliveryPatch): Delivery;
  get(id: number): Delivery | undefined;
  /** Pending deliveries due at `now`, oldest due first. */
  due(now: number, limit: number): Delivery[];
  /** The earliest nextAttemptAt of pending deliveries; undefined when none is pending. */
  nextDueAt(): number | undefined;
  /** Newest first. */
  list(filter?: DeliveryFilter): Delivery[];
}

/** In-memory store; keeps every pending delivery and the latest `keepFinished` delivered or failed ones. */
export class MemoryDeliveryStore implements DeliveryStore {
  private readonly rows = new Map<number, Delivery>();
  private nextId = 1;
  private readonly keepFinished: number;

  constructor(keepFinished = 1000) {
    this.keepFinished = keepFinished;
  }

  insert(d: NewDelivery): Delivery {
    const row: Delivery = Object.freeze({ ...d, id: this.nextId++ });
    this.rows.set(row.id, row);
    return row;
  }

  update(id: number, patch: DeliveryPatch): Delivery {
    const row = this.rows.get(id);
    if (!row) throw new RangeError(`no delivery ${id}`);
    const next: Delivery = Object.freeze({ ...row, ...patch });
    this.rows.set(id, next);
    if (next.state !== 'pending') this.trim();
    return next;
  }

  get(id: number): Delivery | undefined {
    return this.rows.get(id);
  }

  due(now: number, limit: number): Delivery[] {
    return [...this.rows.values()]
      .filter((d) => d.state === 'pending' && (d.nextAttemptAt ?? 0) <= now)
      .sort((a, b) => (a.nextAttemptAt ?? 0) - (b.nextAttemptAt ?? 0) || a.id - b.id)
      .slice(0, limit);
  }

  nextDueAt(): number | undefined {
    let min: number | undefined;
    for (const d of this.rows.values()) {
      if (d.state === 'pending' && (min === undefined || (d.nextAttemptAt ?? 0) < min))
        min = d.nextAttemptAt ?? 0;
    }
    return min;
  }

  list(filter: DeliveryFilter = {}): Delivery[] {
    const rows = [...this.rows.values()]
      .filter((d) => filter.channel === undefined || d.channel === filter.channel)
      .filter((d) => filter.state === undefined || d.state === filter.state)
      .sort((a, b) => b.id - a.id);
    return filter.limit === undefined ? rows : rows.slice(0, filter.limit);
  }

  private trim(): void {
    const finished = [...this.rows.values()].filter((d) => d.state !== 'pending');
    // Map iteration is insertion (= id) order: the oldest finished rows come first.
    for (const d of finished.slice(0, Math.max(0, finished.length - this.keepFinished)))
      this.rows.delete(d.id);
  }
}
