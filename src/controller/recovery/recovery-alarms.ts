// Recovery's alarms (unreachable-from-controller, failover-refused, node-fenced, node-diverged): raised and cleared
// by recovery itself, outside the monitor's rule evaluation, with alarm.* events and notifications like the
// monitor's own. A store failure is logged, never thrown (recovery must go on).
import type { Alarm, AlarmSeverity, ExternalAlarmRule } from '../../core/monitor/alarms.ts';
import type { AlarmRepo } from '../alarms/alarm-repo.ts';
import type { NotifyHub } from '../alarms/notify-hub.ts';
import type { EventBus } from '../events.ts';
import type { Logger } from '../logger.ts';
import type { FailoverRecord } from './recovery-repo.ts';

export interface RecoveryAlarmsDeps {
  readonly alarms: AlarmRepo;
  readonly events: EventBus;
  readonly notify: Pick<NotifyHub, 'notifyTransitions'>;
  readonly logger: Logger;
  now(): number;
}

function alarmKey(cluster: string, rule: ExternalAlarmRule, node?: string): string {
  return node ? `${rule}/${cluster}/${node}` : `${rule}/${cluster}`;
}

export class RecoveryAlarms {
  private readonly d: RecoveryAlarmsDeps;

  constructor(deps: RecoveryAlarmsDeps) {
    this.d = deps;
  }

  raise(
    cluster: string,
    rule: ExternalAlarmRule,
    severity: AlarmSeverity,
    reason: string,
    node?: string,
  ): void {
    const now = this.d.now();
    const key = alarmKey(cluster, rule, node);
    const alarm: Alarm = {
      key,
      rule,
      cluster,
      ...(node ? { node } : {}),
      severity,
      reason,
      raisedAt: now,
      updatedAt: now,
    };
    try {
      const stored = this.d.alarms.upsertActive(alarm);
      if (stored.raisedAt !== now) return;
      this.d.events.emit({
        cluster,
        type: 'alarm.raised',
        severity,
        message: `alarm ${rule}${node ? ` on ${node}` : ''} raised (${severity}): ${reason}`,
        data: { alarmId: stored.id, key, rule, severity, ...(node ? { node } : {}), reason },
      });
      this.d.notify.notifyTransitions([{ kind: 'raised', alarm, reason, time: now }]);
    } catch (err) {
      this.d.logger.error({ err, cluster, rule }, 'cannot store a recovery alarm');
    }
  }

  clear(cluster: string, rule: ExternalAlarmRule, node: string | undefined, reason: string): void {
    const now = this.d.now();
    const key = alarmKey(cluster, rule, node);
    try {
      const cleared = this.d.alarms.clearKey(key, reason, now);
      if (!cleared) return;
      this.d.events.emit({
        cluster,
        type: 'alarm.cleared',
        severity: 'info',
        message: `alarm ${rule}${node ? ` on ${node}` : ''} cleared: ${reason}`,
        data: { alarmId: cleared.id, key, rule, reason },
      });
      this.d.notify.notifyTransitions([{ kind: 'cleared', alarm: cleared, reason, time: now }]);
    } catch (err) {
      this.d.logger.error({ err, cluster, rule }, 'cannot clear a recovery alarm');
    }
  }

  /** A failover ended: the former primary's fenced alarm, or the refusal of an automatic one that aborted. */
  afterFailover(cluster: string, final: FailoverRecord): void {
    if (final.phase === 'done') {
      this.clear(cluster, 'failover-refused', undefined, `${final.kind} ${final.id} done`);
      if (final.kind === 'failover') {
        this.raise(
          cluster,
          'node-fenced',
          'warning',
          `former primary, fenced by failover ${final.id}; nines rejoins it when it answers`,
          final.oldPrimary,
        );
      }
    } else if (final.phase === 'aborted' && final.trigger === 'automatic') {
      this.raise(cluster, 'failover-refused', 'critical', final.error?.message ?? 'failover aborted');
    }
  }
}
