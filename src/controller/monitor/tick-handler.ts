// What the monitor does with each frozen snapshot (decide with the pure core functions, then act):
//   evaluateAlarms (which classifies the cluster) -> diffStates -> events (node.state, node.role, cluster.state)
//   -> observed state into the inventory (on change only) -> alarms store (+ alarm.* events) -> notifier
//   -> metric points (one transaction).
import { evaluateAlarms, type AlarmEvaluation } from '../../core/monitor-alarms.ts';
import { diffStates, type ClusterHealth, type HealthEvent } from '../../core/monitor-health.ts';
import type { ClusterSnapshot } from '../../core/monitor-observation.ts';
import type { AlarmRecord, AlarmRepo } from '../alarms/alarm-repo.ts';
import type { MonitorSettingsRepo } from '../alarms/settings-repo.ts';
import type { EventBus } from '../events.ts';
import type { MetricStore } from '../metrics/metric-store.ts';
import { snapshotSamples } from '../metrics/samples.ts';
import type { InventoryRepo } from '../store/inventory-repo.ts';

export interface TickDeps {
  readonly events: EventBus;
  readonly inventory: InventoryRepo;
  readonly alarms: AlarmRepo;
  readonly settings: MonitorSettingsRepo;
  readonly metrics: MetricStore;
  /** Hands the evaluation to the notifier (change-only notifications). */
  notify(evaluation: AlarmEvaluation, now: number): void;
}

/** What the monitor remembers of a cluster between ticks (read by the status route and Prometheus). */
export interface ClusterState {
  health: ClusterHealth | undefined;
  snapshot: ClusterSnapshot | undefined;
  evaluation: AlarmEvaluation | undefined;
}

function healthEventInput(e: HealthEvent): Parameters<EventBus['emit']>[0] {
  return {
    cluster: e.cluster,
    type: e.type,
    severity: e.severity,
    message: e.message,
    data: { ...e.data, observedAt: new Date(e.time).toISOString() },
  };
}

function splitNode(key: string): { host: string; port: number } {
  const i = key.lastIndexOf(':');
  return { host: key.slice(0, i), port: Number(key.slice(i + 1)) };
}

/** Writes node state/role and the cluster's health into the inventory, for the changes in `events` only. */
function updateInventory(deps: TickDeps, health: ClusterHealth, events: readonly HealthEvent[]): void {
  const changedNodes = new Set(events.filter((e) => e.type !== 'cluster.state').map((e) => e.node));
  for (const n of health.nodes) {
    if (!changedNodes.has(n.node)) continue;
    const role = n.role === 'unknown' ? undefined : n.role;
    deps.inventory.updateNode(health.cluster, splitNode(n.node), {
      state: n.state,
      ...(role ? { role } : {}),
      observed: { reason: n.reason, since: new Date(health.time).toISOString() },
    });
  }
  if (events.some((e) => e.type === 'cluster.state')) {
    const current = deps.inventory.getCluster(health.cluster);
    if (current) {
      deps.inventory.setClusterState(health.cluster, current.state, {
        health: {
          state: health.state,
          reason: health.reason,
          since: new Date(health.time).toISOString(),
        },
      });
    }
  }
}

function alarmEvent(
  kind: 'raised' | 'escalated' | 'cleared',
  a: AlarmRecord,
): Parameters<EventBus['emit']>[0] {
  const severity = kind === 'cleared' ? 'info' : a.severity;
  const why = kind === 'cleared' ? (a.clearReason ?? a.reason) : a.reason;
  return {
    cluster: a.cluster,
    type: `alarm.${kind}`,
    severity,
    message: `alarm ${a.rule}${a.node ? ` on ${a.node}` : ''} ${kind} (${a.severity}): ${why}`,
    data: {
      alarmId: a.id,
      key: a.key,
      rule: a.rule,
      severity: a.severity,
      ...(a.node ? { node: a.node } : {}),
      reason: why,
    },
  };
}

/** One tick's decisions and actions for one cluster. Updates `state`. */
export function handleSnapshot(deps: TickDeps, state: ClusterState, snapshot: ClusterSnapshot): void {
  const now = snapshot.time;
  const cluster = snapshot.cluster;
  const active = deps.alarms.active(cluster);
  const evaluation = evaluateAlarms(active, snapshot, deps.settings.alarmConfig(cluster), now);
  const health = evaluation.health;
  const events = diffStates(state.health, health);
  state.health = health;
  state.snapshot = snapshot;
  state.evaluation = evaluation;
  for (const e of events) deps.events.emit(healthEventInput(e));
  if (events.length > 0) updateInventory(deps, health, events);
  const applied = deps.alarms.apply(evaluation, now);
  for (const a of applied.raised) deps.events.emit(alarmEvent('raised', a));
  for (const a of applied.escalated) deps.events.emit(alarmEvent('escalated', a));
  for (const a of applied.cleared) deps.events.emit(alarmEvent('cleared', a));
  deps.notify(evaluation, now);
  const activeCount = active.length + applied.raised.length - applied.cleared.length;
  deps.metrics.record(cluster, now, snapshotSamples(snapshot, health, activeCount));
}
