// What the monitor does with each frozen snapshot (decide with the pure core functions, then act):
//   classifyCluster -> evaluateAlarms -> diffStates -> events (node.state, node.role, cluster.state)
//   -> observed state into the inventory (on change only) -> alarms store (+ alarm.* events) -> notifier
//   -> metric points (one transaction).
// Every stage runs contained (runStage): a throw is recorded as a StageFailure of this tick (the service counts
// it, logs it and raises monitor-degraded) and the later stages still run with what the earlier ones produced.
// Events and inventory writes that failed are retried on the next tick (their base state only advances on
// success), and so are alarm raises/clears (the store is read again each tick).
import {
  evaluateAlarms,
  isExternalRule,
  type Alarm,
  type AlarmConfig,
  type AlarmEvaluation,
} from '../../core/monitor/alarms.ts';
import type { MonitorStage, StageFailure } from '../../core/monitor/degraded.ts';
import {
  classifyCluster,
  diffStates,
  type ClusterHealth,
  type HealthEvent,
} from '../../core/monitor/health.ts';
import type { ClusterSnapshot } from '../../core/monitor/observation.ts';
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
  /** Nodes recovery fenced (host:port): their inventory role is recovery's, never the observed one. */
  fenced?(cluster: string): ReadonlySet<string>;
}

/** What the monitor remembers of a cluster between ticks (read by the status route and Prometheus). */
export interface ClusterState {
  health: ClusterHealth | undefined;
  snapshot: ClusterSnapshot | undefined;
  evaluation: AlarmEvaluation | undefined;
  /** The classification whose events were emitted / written to the inventory (advance on success only). */
  eventsBase?: ClusterHealth | undefined;
  inventoryBase?: ClusterHealth | undefined;
  /** The cluster's active alarms as last read from (or written to) the store: used when the store cannot be read. */
  storedActive?: readonly Alarm[];
}

/** The error of a failed stage as a StageFailure (the code when it is one of ours). */
export function stageFailure(stage: MonitorStage, err: unknown): StageFailure {
  const e = err as { code?: unknown; message?: unknown } | undefined;
  return {
    stage,
    code: typeof e?.code === 'string' && e.code.startsWith('NINES_E_') ? e.code : 'NINES_E_INTERNAL',
    message: typeof e?.message === 'string' ? e.message : String(err),
  };
}

/** Runs one stage: its result, or `fallback` with the failure recorded. */
export function runStage<T>(failures: StageFailure[], stage: MonitorStage, fn: () => T, fallback: T): T {
  try {
    return fn();
  } catch (err) {
    failures.push(stageFailure(stage, err));
    return fallback;
  }
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
  const fenced = deps.fenced?.(health.cluster) ?? new Set<string>();
  for (const n of health.nodes) {
    if (!changedNodes.has(n.node)) continue;
    const role = n.role === 'unknown' || fenced.has(n.node) ? undefined : n.role;
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

/** The alarms an evaluation leaves active (kept and raised). */
export function activeAfter(evaluation: AlarmEvaluation): Alarm[] {
  return [...evaluation.keep.map((k) => k.alarm), ...evaluation.raise.map((r) => r.alarm)];
}

function emitAlarmEvents(deps: TickDeps, applied: ReturnType<AlarmRepo['apply']>): void {
  for (const a of applied.raised) deps.events.emit(alarmEvent('raised', a));
  for (const a of applied.escalated) deps.events.emit(alarmEvent('escalated', a));
  for (const a of applied.cleared) deps.events.emit(alarmEvent('cleared', a));
}

/** The rule alarms of the cluster from the store (external ones, e.g. monitor-degraded, are never evaluated here). */
function readActive(deps: TickDeps, state: ClusterState, cluster: string): readonly Alarm[] {
  const rows: readonly AlarmRecord[] = deps.alarms.active(cluster);
  const active = rows.filter((a) => !isExternalRule(a.rule));
  state.storedActive = active;
  return active;
}

/**
 * One tick's decisions and actions for one cluster. Updates `state`; never throws: the failures of its stages
 * are appended to `failures` (which may already hold failures of this tick, e.g. of reading the settings).
 */
export function handleSnapshot(
  deps: TickDeps,
  state: ClusterState,
  snapshot: ClusterSnapshot,
  failures: StageFailure[] = [],
): StageFailure[] {
  const now = snapshot.time;
  const cluster = snapshot.cluster;
  state.snapshot = snapshot;
  const config = runStage<AlarmConfig>(failures, 'settings', () => deps.settings.alarmConfig(cluster), {});
  const health = runStage(failures, 'classify', () => classifyCluster(snapshot), undefined);
  if (!health) return failures;
  state.health = health;
  runStage(
    failures,
    'events',
    () => {
      for (const e of diffStates(state.eventsBase, health)) deps.events.emit(healthEventInput(e));
      state.eventsBase = health;
    },
    undefined,
  );
  runStage(
    failures,
    'inventory',
    () => {
      const changes = diffStates(state.inventoryBase, health);
      if (changes.length > 0) updateInventory(deps, health, changes);
      state.inventoryBase = health;
    },
    undefined,
  );
  const active = runStage(
    failures,
    'alarm-store',
    () => readActive(deps, state, cluster),
    state.storedActive ?? [],
  );
  const evaluation = runStage(
    failures,
    'alarm-evaluation',
    () => evaluateAlarms(active, snapshot, config, now),
    undefined,
  );
  state.evaluation = evaluation;
  if (evaluation) {
    const applied = runStage(failures, 'alarm-store', () => deps.alarms.apply(evaluation, now), undefined);
    if (applied) {
      state.storedActive = activeAfter(evaluation);
      runStage(failures, 'events', () => emitAlarmEvents(deps, applied), undefined);
    }
    runStage(failures, 'notify', () => deps.notify(evaluation, now), undefined);
  }
  const activeCount = evaluation ? activeAfter(evaluation).length : active.length;
  runStage(
    failures,
    'metrics',
    () => deps.metrics.record(cluster, now, snapshotSamples(snapshot, health, activeCount)),
    undefined,
  );
  return failures;
}
