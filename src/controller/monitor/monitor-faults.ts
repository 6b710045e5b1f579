// The monitor's own failures, per cluster: every failed stage of a tick (see tick-handler.ts runStage) is counted
// (status, Prometheus nines_monitor_errors_total{cluster,stage}), logged once per distinct error, and raises the
// monitor-degraded alarm of the cluster (decided by core/monitor/degraded.ts). The alarm lives in memory first, so
// it is reported (status, Prometheus, events, notifications) even when the alarm store is what fails; writing it
// to the store, and handing it to the notifier, are retried on every later tick until they work.
import type { Alarm } from '../../core/monitor/alarms.ts';
import {
  decideDegraded,
  MONITOR_DEGRADED_RULE,
  type MonitorStage,
  type StageFailure,
} from '../../core/monitor/degraded.ts';
import type { AlarmTransition } from '../../core/monitor/notify.ts';
import type { AlarmRepo } from '../alarms/alarm-repo.ts';
import type { NotifyHub } from '../alarms/notify-hub.ts';
import type { EventBus } from '../events.ts';
import type { Logger } from '../logger.ts';
import type { MonitorSelf } from './status-view.ts';
import { stageFailure } from './tick-handler.ts';

/** Clean ticks in a row after which monitor-degraded clears. */
export const DEGRADED_CLEAR_TICKS = 5;

/** The monitor's own failures of one cluster (kept across loop restarts; dropped with the cluster). */
export interface ClusterFaults {
  /** Failures of the running tick recorded before its handler ran (settings), or carried from the last tick. */
  pending: StageFailure[];
  readonly errors: Map<MonitorStage, number>;
  /** The last message logged per stage (a failure repeating every tick is logged once, then counted). */
  readonly logged: Map<MonitorStage, string>;
  /** The monitor-degraded alarm (in memory: it is reported even when the alarm store cannot take it). */
  degraded: Alarm | undefined;
  /** Whether `degraded` is in the alarm store (false: written again on the next tick). */
  stored: boolean;
  clearReason: string;
  cleanTicks: number;
  /** Notifications of monitor-degraded not handed to the notifier yet (retried each tick). */
  unsent: AlarmTransition[];
  lastFailures: readonly StageFailure[];
}

export interface MonitorFaultsOptions {
  readonly alarms: AlarmRepo;
  readonly notify: Pick<NotifyHub, 'notifyTransitions'>;
  readonly events: EventBus;
  readonly logger: Logger;
}

export class MonitorFaults {
  private readonly options: MonitorFaultsOptions;
  private readonly byCluster = new Map<string, ClusterFaults>();

  constructor(options: MonitorFaultsOptions) {
    this.options = options;
  }

  /** Clusters with recorded faults. */
  clusters(): string[] {
    return [...this.byCluster.keys()];
  }

  get(name: string): ClusterFaults | undefined {
    return this.byCluster.get(name);
  }

  /** Forgets a deleted cluster. */
  delete(name: string): void {
    this.byCluster.delete(name);
  }

  of(name: string): ClusterFaults {
    let f = this.byCluster.get(name);
    if (!f) {
      f = {
        pending: [],
        errors: new Map(),
        logged: new Map(),
        degraded: undefined,
        stored: true,
        clearReason: '',
        cleanTicks: 0,
        unsent: [],
        lastFailures: [],
      };
      try {
        // A monitor-degraded alarm left active by an earlier run is ours to clear.
        f.degraded = this.options.alarms.active(name).find((a) => a.rule === MONITOR_DEGRADED_RULE);
      } catch {
        // The store is failing: the first tick records it.
      }
      this.byCluster.set(name, f);
    }
    return f;
  }

  takePending(name: string): StageFailure[] {
    const f = this.of(name);
    const pending = f.pending;
    f.pending = [];
    return pending;
  }

  /**
   * After a tick: counts and logs its failures, then decides, stores (retrying until it works), announces and
   * notifies the monitor-degraded alarm of the cluster. Never throws.
   */
  finishTick(name: string, failures: readonly StageFailure[], now: number): void {
    const f = this.of(name);
    const log = this.options.logger;
    for (const failure of failures) {
      f.errors.set(failure.stage, (f.errors.get(failure.stage) ?? 0) + 1);
      const text = `${failure.code}: ${failure.message}`;
      if (f.logged.get(failure.stage) !== text) {
        f.logged.set(failure.stage, text);
        log.error(
          { cluster: name, stage: failure.stage, code: failure.code, err: failure.message },
          `monitor stage ${failure.stage} failed for cluster ${name}; the other stages go on`,
        );
      }
    }
    if (failures.length === 0) f.logged.clear();
    f.lastFailures = failures;
    const decision = decideDegraded({
      cluster: name,
      active: f.degraded,
      failures,
      cleanTicks: f.cleanTicks,
      clearAfterTicks: DEGRADED_CLEAR_TICKS,
      now,
    });
    f.cleanTicks = decision.cleanTicks;
    const before = f.degraded;
    if (decision.action === 'raise' || decision.action === 'update' || decision.action === 'clear') {
      f.degraded = decision.alarm;
      f.stored = false;
      if (decision.action === 'clear') f.clearReason = decision.reason;
    }
    if (decision.action === 'raise' && decision.alarm) {
      log.warn({ cluster: name, reason: decision.reason }, `monitor-degraded raised on cluster ${name}`);
      f.unsent.push({ kind: 'raised', alarm: decision.alarm, reason: decision.reason, time: now });
      this.announce(name, 'raised', decision.alarm, decision.reason);
    }
    if (decision.action === 'clear' && before) {
      log.info({ cluster: name, reason: decision.reason }, `monitor-degraded cleared on cluster ${name}`);
      f.unsent.push({ kind: 'cleared', alarm: before, reason: decision.reason, time: now });
      this.announce(name, 'cleared', before, decision.reason);
    }
    this.storeDegraded(name, f, now);
    if (f.unsent.length > 0) {
      try {
        this.options.notify.notifyTransitions(f.unsent);
        f.unsent = [];
      } catch (err) {
        this.countOutside(name, f, stageFailure('notify', err));
      }
    }
  }

  /** Writes the in-memory monitor-degraded state to the alarm store when it changed (or an earlier write failed). */
  private storeDegraded(name: string, f: ClusterFaults, now: number): void {
    if (f.stored) return;
    try {
      if (f.degraded) this.options.alarms.upsertActive(f.degraded);
      else this.options.alarms.clearKey(`${MONITOR_DEGRADED_RULE}/${name}`, f.clearReason, now);
      f.stored = true;
    } catch (err) {
      this.countOutside(name, f, stageFailure('alarm-store', err));
    }
  }

  /** A failure outside the tick's stages: counted, logged once, and carried into the next tick (keeps the alarm). */
  private countOutside(name: string, f: ClusterFaults, failure: StageFailure): void {
    f.errors.set(failure.stage, (f.errors.get(failure.stage) ?? 0) + 1);
    f.pending.push(failure);
    const text = `${failure.code}: ${failure.message}`;
    if (f.logged.get(failure.stage) !== text) {
      f.logged.set(failure.stage, text);
      this.options.logger.error(
        { cluster: name, stage: failure.stage, code: failure.code, err: failure.message },
        `monitor could not record monitor-degraded of cluster ${name}`,
      );
    }
  }

  /** alarm.raised / alarm.cleared of monitor-degraded (the event store may be what fails: then logged only). */
  private announce(name: string, kind: 'raised' | 'cleared', alarm: Alarm, reason: string): void {
    try {
      this.options.events.emit({
        cluster: name,
        type: `alarm.${kind}`,
        severity: kind === 'cleared' ? 'info' : alarm.severity,
        message: `alarm ${alarm.rule} ${kind} (${alarm.severity}): ${reason}`,
        data: { key: alarm.key, rule: alarm.rule, severity: alarm.severity, reason },
      });
    } catch (err) {
      const f = this.of(name);
      f.errors.set('events', (f.errors.get('events') ?? 0) + 1);
      this.options.logger.error({ err, cluster: name }, `alarm.${kind} event of monitor-degraded not stored`);
    }
  }

  /** The monitor's own health of a cluster (status view, Prometheus). */
  monitorSelf(name: string): MonitorSelf {
    const f = this.byCluster.get(name);
    return {
      degraded: f?.degraded !== undefined,
      reason: f?.degraded?.reason ?? null,
      errors: Object.fromEntries(f?.errors ?? []),
      lastFailures: f?.lastFailures ?? [],
    };
  }
}
