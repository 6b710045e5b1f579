// The delivery queue: sends enqueued notifications through their channel, retries failures with exponential
// backoff and jitter up to a bound, and records every outcome (attempts, last error, response) in a DeliveryStore
// that the API can list. One worker pass at a time: the next pass is scheduled after the current one finishes
// (never overlapping), at the earliest due delivery or at once when something is enqueued. A pass never throws.
import { toNinesError } from '../../core/errors.ts';
import { redactSecrets, type AlarmTransition } from '../../core/monitor/notify.ts';
import { summaryLine } from '../../core/monitor/notify-render.ts';
import type { Logger } from '../logger.ts';
import { DEFAULT_BACKOFF, backoffDelay, type BackoffPolicy } from './backoff.ts';
import type { NotificationChannel } from './channels.ts';
import {
  MemoryDeliveryStore,
  type Delivery,
  type DeliveryFilter,
  type DeliveryStore,
} from './delivery-store.ts';

export type DeliveryListener = (delivery: Delivery) => void;

export interface DeliveryQueueOptions {
  readonly channels: readonly NotificationChannel[];
  readonly store?: DeliveryStore;
  readonly backoff?: BackoffPolicy;
  readonly logger?: Logger;
  /** Deliveries attempted at once in one pass. */
  readonly concurrency?: number;
  readonly now?: () => number;
  readonly random?: () => number;
}

export class DeliveryQueue {
  private readonly channels: Map<string, NotificationChannel>;
  private readonly store: DeliveryStore;
  private readonly backoff: BackoffPolicy;
  private readonly logger: Logger | undefined;
  private readonly concurrency: number;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly listeners = new Set<DeliveryListener>();
  private readonly abort = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private started = false;
  private stopping = false;

  constructor(options: DeliveryQueueOptions) {
    this.channels = new Map(options.channels.map((c) => [c.name, c]));
    this.store = options.store ?? new MemoryDeliveryStore();
    this.backoff = options.backoff ?? DEFAULT_BACKOFF;
    this.logger = options.logger;
    this.concurrency = options.concurrency ?? 4;
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
  }

  /** Records a delivery of `t` through `channel` and wakes the worker. */
  enqueue(channel: string, t: AlarmTransition): Delivery {
    const ch = this.channels.get(channel);
    if (!ch) throw new RangeError(`no notification channel named ${channel}`);
    const now = this.now();
    const delivery = this.store.insert({
      channel,
      kind: ch.kind,
      transition: t,
      summary: summaryLine(t, ch.secrets),
      state: 'pending',
      attempts: 0,
      maxAttempts: this.backoff.maxAttempts,
      createdAt: now,
      updatedAt: now,
      nextAttemptAt: now,
      deliveredAt: null,
      response: null,
      lastError: null,
    });
    this.emit(delivery);
    this.wake();
    return delivery;
  }

  /** Deliveries, newest first (for the API). */
  deliveries(filter?: DeliveryFilter): Delivery[] {
    return this.store.list(filter);
  }

  /** Called after every change of a delivery (enqueued, delivered, retry scheduled, failed). */
  subscribe(listener: DeliveryListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Starts the worker (deliveries still pending in a persistent store are picked up). */
  start(): void {
    if (this.started || this.stopping) return;
    this.started = true;
    this.wake();
  }

  /** Stops the worker: aborts sends in flight (they stay pending, the attempt is not counted) and waits for it. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.abort.abort();
    await this.running;
  }

  private emit(d: Delivery): void {
    for (const listener of this.listeners) {
      try {
        listener(d);
      } catch (err) {
        this.logger?.warn({ err }, 'delivery listener failed');
      }
    }
  }

  private wake(): void {
    if (!this.started || this.stopping) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.schedule(0);
  }

  private schedule(delayMs: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.running = this.pass().finally(() => {
        this.running = undefined;
        this.afterPass();
      });
    }, delayMs);
  }

  private afterPass(): void {
    if (this.stopping) return;
    if (this.again) {
      this.again = false;
      this.schedule(0);
      return;
    }
    const next = this.store.nextDueAt();
    if (next !== undefined) this.schedule(Math.max(0, next - this.now()));
  }

  private async pass(): Promise<void> {
    try {
      for (;;) {
        const due = this.store.due(this.now(), this.concurrency);
        if (due.length === 0 || this.stopping) return;
        await Promise.all(due.map((d) => this.attempt(d)));
      }
    } catch (err) {
      this.logger?.error({ err }, 'notification delivery pass failed');
    }
  }

  private async attempt(d: Delivery): Promise<void> {
    const channel = this.channels.get(d.channel);
    if (!channel) {
      this.finish(
        d.id,
        { code: 'NINES_E_NOTIFY_CHANNEL_INVALID', message: `channel ${d.channel} is gone` },
        d,
      );
      return;
    }
    try {
      const result = await channel.send(d.transition, this.abort.signal);
      const now = this.now();
      const done = this.store.update(d.id, {
        state: 'delivered',
        attempts: d.attempts + 1,
        updatedAt: now,
        nextAttemptAt: null,
        deliveredAt: now,
        response: redactSecrets(result.detail, channel.secrets),
      });
      this.logger?.info(
        { delivery: d.id, channel: d.channel, attempts: done.attempts },
        'notification delivered',
      );
      this.emit(done);
    } catch (err) {
      if (this.stopping) return; // stays pending; not an attempt of the endpoint's making
      this.failed(d, channel, err);
    }
  }

  private failed(d: Delivery, channel: NotificationChannel, err: unknown): void {
    const e = toNinesError(err, 'NINES_E_NOTIFY_DELIVERY_FAILED');
    const error = { code: e.code, message: redactSecrets(e.message, channel.secrets) };
    const attempts = d.attempts + 1;
    const retryable = e.context.retryable !== false;
    if (!retryable || attempts >= d.maxAttempts) {
      this.finish(d.id, error, { ...d, attempts });
      return;
    }
    const now = this.now();
    const delay = backoffDelay(attempts, this.backoff, this.random);
    const next = this.store.update(d.id, {
      attempts,
      updatedAt: now,
      nextAttemptAt: now + delay,
      lastError: { ...error, at: now },
    });
    this.logger?.warn(
      { delivery: d.id, channel: d.channel, attempts, retryInMs: delay, code: error.code },
      `notification delivery failed, retrying: ${error.message}`,
    );
    this.emit(next);
  }

  private finish(id: number, error: { code: string; message: string }, d: Delivery): void {
    const now = this.now();
    const done = this.store.update(id, {
      state: 'failed',
      attempts: d.attempts,
      updatedAt: now,
      nextAttemptAt: null,
      lastError: { ...error, at: now },
    });
    this.logger?.error(
      { delivery: id, channel: d.channel, attempts: d.attempts, code: error.code },
      `notification delivery given up: ${error.message}`,
    );
    this.emit(done);
  }
}
