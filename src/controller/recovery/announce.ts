// Explaining every decision, including not acting: an event (and, for a failure nines does not act on, an alarm)
// each time the detection's answer or the decision changes — never the same sentence every tick.
import type { AutoFailoverDecision } from '../../core/recovery/decide.ts';
import type { Detection } from '../../core/recovery/detection.ts';
import type { ClusterSpec } from '../../core/spec.ts';
import type { EventBus } from '../events.ts';
import type { RecoveryAlarms } from './recovery-alarms.ts';

/** What the announcer remembers per cluster (part of the service's cluster state). */
export interface Announced {
  detection: Detection | null;
  decision: AutoFailoverDecision | null;
  /** The last refusal announced. */
  refusal: string | undefined;
}

export class Announcer {
  private readonly alarms: RecoveryAlarms;
  private readonly events: EventBus;

  constructor(alarms: RecoveryAlarms, events: EventBus) {
    this.alarms = alarms;
    this.events = events;
  }

  /** A new detection: an event when the primary starts to look wrong; alarms cleared when it is fine again. */
  settle(spec: ClusterSpec, s: Announced, detection: Detection): void {
    const before = s.detection;
    s.detection = detection;
    if (before?.action === detection.action) return;
    if (detection.action === 'watch' && before?.action === 'healthy') {
      this.events.emit({
        cluster: spec.name,
        type: 'failover.watch',
        severity: 'info',
        message: `watching the primary of ${spec.name}: ${detection.reason}`,
        data: { detection },
      });
    }
    if (detection.action === 'healthy' || detection.action === 'watch') {
      this.alarms.clear(spec.name, 'unreachable-from-controller', undefined, detection.reason);
      if (detection.action === 'healthy') {
        this.alarms.clear(spec.name, 'failover-refused', undefined, 'the primary answers again');
        s.decision = null;
        s.refusal = undefined;
      }
    }
  }

  /** A decision on a failed (or unreachable) primary: the event and alarm when it changed. */
  decided(spec: ClusterSpec, s: Announced, decision: AutoFailoverDecision, detection: Detection): void {
    const before = s.decision;
    s.decision = decision;
    const same = (a: string, b: string): boolean => a.replace(/\d+/g, '#') === b.replace(/\d+/g, '#');
    if (before?.action === decision.action && same(before.reason, decision.reason)) return;
    if (decision.action === 'alarm') {
      this.alarms.raise(spec.name, 'unreachable-from-controller', 'critical', decision.reason);
      this.events.emit({
        cluster: spec.name,
        type: 'failover.refused',
        severity: 'warning',
        message: decision.reason,
        data: { reason: decision.reason, detection },
      });
    } else if (decision.action === 'refuse') this.refused(spec, s, decision.reason);
  }

  /**
   * An automatic failover that may not happen (a control, or no provable candidate): once per reason. Figures
   * (seconds left of a cooldown, positions) do not make a reason new.
   */
  refused(spec: ClusterSpec, s: Announced, reason: string): void {
    const shape = reason.replace(/\d+/g, '#');
    if (s.refusal === shape) return;
    s.refusal = shape;
    this.alarms.raise(spec.name, 'failover-refused', 'critical', reason);
    this.events.emit({
      cluster: spec.name,
      type: 'failover.refused',
      severity: 'critical',
      message: reason,
      data: { reason },
    });
  }
}
