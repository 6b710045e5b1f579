// The notifier: alarm evaluations in, deliveries out. It applies the pure notification rules of core (change
// only, dedup through a ledger, per-channel filters) and hands what passes to the delivery queue. The monitor loop
// calls handle() after each evaluateAlarms(); the API reads deliveries() and channels().
import {
  alarmTransitions,
  channelAccepts,
  decideNotifications,
  describeChannel,
  pruneLedger,
  type AlarmTransition,
  type ChannelConfig,
  type NotifyLedger,
} from '../../core/monitor/notify.ts';
import type { AlarmEvaluation } from '../../core/monitor/alarms.ts';
import type { Logger } from '../logger.ts';
import type { BackoffPolicy } from './backoff.ts';
import { createChannel, type NotificationChannel } from './channels.ts';
import { DeliveryQueue, type DeliveryListener } from './delivery-queue.ts';
import type { Delivery, DeliveryFilter, DeliveryStore } from './delivery-store.ts';

export interface NotifierOptions {
  readonly channels: readonly ChannelConfig[];
  readonly store?: DeliveryStore;
  readonly backoff?: BackoffPolicy;
  readonly logger?: Logger;
  /** A ledger loaded from a store, so a restart does not notify open alarms again. */
  readonly ledger?: NotifyLedger;
  /** Replaces createChannel (tests). */
  readonly createChannel?: (c: ChannelConfig) => NotificationChannel;
  readonly now?: () => number;
  readonly random?: () => number;
}

export interface NotifyOutcome {
  readonly enqueued: readonly Delivery[];
  /** Transitions or (transition, channel) pairs not sent, with the reason. */
  readonly skipped: readonly { readonly key: string; readonly channel?: string; readonly reason: string }[];
}

const DAY = 86_400_000;

export class Notifier {
  private readonly configs: readonly ChannelConfig[];
  private readonly queue: DeliveryQueue;
  private readonly logger: Logger | undefined;
  private readonly now: () => number;
  private ledgerState: NotifyLedger;

  constructor(options: NotifierOptions) {
    this.configs = options.channels;
    const make = options.createChannel ?? createChannel;
    this.queue = new DeliveryQueue({
      channels: options.channels.map(make),
      ...(options.store ? { store: options.store } : {}),
      ...(options.backoff ? { backoff: options.backoff } : {}),
      ...(options.logger ? { logger: options.logger } : {}),
      ...(options.now ? { now: options.now } : {}),
      ...(options.random ? { random: options.random } : {}),
    });
    this.logger = options.logger;
    this.now = options.now ?? Date.now;
    this.ledgerState = options.ledger ?? new Map();
  }

  start(): void {
    this.queue.start();
  }

  stop(): Promise<void> {
    return this.queue.stop();
  }

  /** Notifies the changes of one alarm evaluation. */
  handle(evaluation: AlarmEvaluation, time: number = this.now()): NotifyOutcome {
    return this.notify(alarmTransitions(evaluation, time));
  }

  /** Dedups transitions, then enqueues one delivery per accepting channel. */
  notify(transitions: readonly AlarmTransition[]): NotifyOutcome {
    const decision = decideNotifications(transitions, this.ledgerState);
    this.ledgerState = pruneLedger(decision.ledger, this.now(), DAY);
    const skipped: { key: string; channel?: string; reason: string }[] = decision.skipped.map((s) => ({
      key: s.transition.alarm.key,
      reason: s.reason,
    }));
    const enqueued: Delivery[] = [];
    for (const t of decision.notify) {
      for (const c of this.configs) {
        const verdict = channelAccepts(c, t);
        if (verdict.accept) enqueued.push(this.queue.enqueue(c.name, t));
        else skipped.push({ key: t.alarm.key, channel: c.name, reason: verdict.reason });
      }
    }
    if (enqueued.length > 0 || skipped.length > 0) {
      this.logger?.debug({ enqueued: enqueued.length, skipped }, 'notifications decided');
    }
    return { enqueued, skipped };
  }

  deliveries(filter?: DeliveryFilter): Delivery[] {
    return this.queue.deliveries(filter);
  }

  subscribe(listener: DeliveryListener): () => void {
    return this.queue.subscribe(listener);
  }

  /** The channels without secrets (for the API). */
  channels(): readonly Readonly<Record<string, unknown>>[] {
    return this.configs.map(describeChannel);
  }

  /** What was last notified per alarm key (a store-backed notifier persists this). */
  ledger(): NotifyLedger {
    return this.ledgerState;
  }
}
