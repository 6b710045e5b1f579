// The notifier as the controller runs it: channels from the channel repo (configured through the API), deliveries
// in SQLite (visible through the API, retried across restarts), and the dedup ledger persisted after each pass.
// Changing the channels rebuilds the Notifier; the ledger carries over, pending deliveries stay in the store.
import type { AlarmEvaluation } from '../../core/monitor/alarms.ts';
import { describeChannel, type ChannelConfig } from '../../core/monitor/notify.ts';
import type { Logger } from '../logger.ts';
import type { NotificationChannel } from '../notify/channels.ts';
import type { Delivery, DeliveryFilter } from '../notify/delivery-store.ts';
import { Notifier, type NotifyOutcome } from '../notify/notifier.ts';
import type { BackoffPolicy } from '../notify/backoff.ts';
import type { Db } from '../store/db.ts';
import type { SecretRepo } from '../store/secret-repo.ts';
import { ChannelRepo } from './channel-repo.ts';
import { LedgerRepo, SqliteDeliveryStore } from './delivery-repo.ts';

export interface NotifyHubOptions {
  readonly db: Db;
  readonly secrets: SecretRepo;
  readonly logger?: Logger;
  readonly backoff?: BackoffPolicy;
  /** Replaces createChannel (tests). */
  readonly createChannel?: (c: ChannelConfig) => NotificationChannel;
}

export class NotifyHub {
  readonly channels: ChannelRepo;
  private readonly deliveryStore: SqliteDeliveryStore;
  private readonly ledgerRepo: LedgerRepo;
  private readonly options: NotifyHubOptions;
  private notifier: Notifier;
  private started = false;

  constructor(options: NotifyHubOptions) {
    this.options = options;
    this.channels = new ChannelRepo(options.db, options.secrets);
    this.deliveryStore = new SqliteDeliveryStore(options.db);
    this.ledgerRepo = new LedgerRepo(options.db);
    this.notifier = this.build(this.ledgerRepo.load());
  }

  private build(ledger: ReturnType<LedgerRepo['load']>): Notifier {
    let channels: ChannelConfig[] = [];
    try {
      channels = this.channels.list();
    } catch (err) {
      this.options.logger?.error({ err }, 'notification channels could not be read; notifying nobody');
    }
    return new Notifier({
      channels,
      store: this.deliveryStore,
      ledger,
      ...(this.options.logger ? { logger: this.options.logger } : {}),
      ...(this.options.backoff ? { backoff: this.options.backoff } : {}),
      ...(this.options.createChannel ? { createChannel: this.options.createChannel } : {}),
    });
  }

  start(): void {
    this.started = true;
    this.notifier.start();
  }

  async stop(): Promise<void> {
    this.started = false;
    await this.notifier.stop();
  }

  /** Change-only notifications of one evaluation; the ledger is saved when it changed. */
  handle(evaluation: AlarmEvaluation, now: number): NotifyOutcome {
    const before = this.notifier.ledger();
    const outcome = this.notifier.handle(evaluation, now);
    this.ledgerRepo.save(before, this.notifier.ledger());
    return outcome;
  }

  /** Notifies transitions made outside an evaluation (cluster deleted, monitor-degraded). */
  notifyCleared(transitions: Parameters<Notifier['notify']>[0]): void {
    this.notifyTransitions(transitions);
  }

  notifyTransitions(transitions: Parameters<Notifier['notify']>[0]): void {
    const before = this.notifier.ledger();
    this.notifier.notify(transitions);
    this.ledgerRepo.save(before, this.notifier.ledger());
  }

  deliveries(filter?: DeliveryFilter): Delivery[] {
    return this.notifier.deliveries(filter);
  }

  describe(): Readonly<Record<string, unknown>>[] {
    return this.channels.list().map(describeChannel);
  }

  /** Stores a channel (validated) and rebuilds the notifier with it. */
  async put(input: unknown): Promise<Readonly<Record<string, unknown>>> {
    const config = this.channels.put(input);
    await this.rebuild();
    return describeChannel(config);
  }

  async remove(name: string): Promise<void> {
    this.channels.remove(name);
    await this.rebuild();
  }

  private async rebuild(): Promise<void> {
    await this.notifier.stop();
    this.notifier = this.build(new Map(this.notifier.ledger()));
    if (this.started) this.notifier.start();
  }
}
