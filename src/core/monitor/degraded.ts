// The monitor-degraded alarm: raised on a cluster when a stage of the monitor's own work failed during a tick
// (starting its loop, reading settings, building the snapshot, classification, events, inventory, alarm store, notifier, metrics),
// and cleared after a number of clean ticks in a row. Pure: the failures of one tick and the current alarm in,
// the decision out ({ action, reason }).
//   - Severity: critical. A degraded monitor may be missing node states, alarms or notifications, which is what
//     automatic failover and the operator rely on; it must be loud.
//   - The reason names every failed stage and its error code, e.g. "monitor degraded: alarm-store failed
//     (NINES_E_DB_QUERY: database is locked)".
//   - Cleared only after `clearAfterTicks` ticks without any failure, so a flapping stage does not flap the alarm.
import { alarmKey, type Alarm } from './alarms.ts';

export const MONITOR_STAGES = [
  'watch',
  'settings',
  'snapshot',
  'classify',
  'events',
  'inventory',
  'alarm-evaluation',
  'alarm-store',
  'notify',
  'metrics',
  'tick',
] as const;
export type MonitorStage = (typeof MONITOR_STAGES)[number];

export const MONITOR_DEGRADED_RULE = 'monitor-degraded';

/** One failure of one stage during a tick. */
export interface StageFailure {
  readonly stage: MonitorStage;
  readonly code: string;
  readonly message: string;
}

export type DegradedAction = 'raise' | 'update' | 'keep' | 'clear' | 'none';

export interface DegradedDecision {
  readonly action: DegradedAction;
  readonly reason: string;
  /** The alarm after the decision (undefined when there is none or it was cleared). */
  readonly alarm: Alarm | undefined;
  /** Clean ticks in a row after this tick. */
  readonly cleanTicks: number;
}

/** The sentence of a tick's failures (messages shortened to one line of at most 200 characters). */
export function degradedReason(failures: readonly StageFailure[]): string {
  const parts = failures.map((f) => {
    const line = f.message.replace(/\s+/g, ' ').trim();
    const short = line.length > 200 ? `${line.slice(0, 197)}...` : line;
    return `${f.stage} failed (${f.code}${short ? `: ${short}` : ''})`;
  });
  return `monitor degraded: ${parts.join('; ')}`;
}

/**
 * Decides the monitor-degraded alarm of a cluster after one tick. `failures` holds the failures of this tick
 * (empty for a clean tick); `cleanTicks` the clean ticks in a row before it.
 */
export function decideDegraded(input: {
  readonly cluster: string;
  readonly active: Alarm | undefined;
  readonly failures: readonly StageFailure[];
  readonly cleanTicks: number;
  readonly clearAfterTicks: number;
  readonly now: number;
}): DegradedDecision {
  const { cluster, active, failures, now } = input;
  if (failures.length > 0) {
    // One entry per stage: the first failure of a stage in this tick names it.
    const byStage = new Map<string, StageFailure>();
    for (const f of failures) if (!byStage.has(f.stage)) byStage.set(f.stage, f);
    const reason = degradedReason([...byStage.values()]);
    if (!active) {
      const alarm: Alarm = {
        key: alarmKey(MONITOR_DEGRADED_RULE, cluster),
        rule: MONITOR_DEGRADED_RULE,
        cluster,
        severity: 'critical',
        reason,
        raisedAt: now,
        updatedAt: now,
      };
      return { action: 'raise', reason, alarm, cleanTicks: 0 };
    }
    if (active.reason === reason) return { action: 'keep', reason, alarm: active, cleanTicks: 0 };
    return { action: 'update', reason, alarm: { ...active, reason, updatedAt: now }, cleanTicks: 0 };
  }
  const clean = input.cleanTicks + 1;
  if (!active) return { action: 'none', reason: 'monitor ok', alarm: undefined, cleanTicks: clean };
  if (clean >= input.clearAfterTicks) {
    return {
      action: 'clear',
      reason: `monitor ok: ${clean} clean ticks in a row (cleared after ${input.clearAfterTicks})`,
      alarm: undefined,
      cleanTicks: clean,
    };
  }
  return {
    action: 'keep',
    reason: `${active.reason} (${clean} of ${input.clearAfterTicks} clean ticks before it clears)`,
    alarm: active,
    cleanTicks: clean,
  };
}
