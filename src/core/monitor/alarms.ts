// Alarm rules and transitions: the active alarms and a frozen snapshot in, what to raise, clear and keep out, each
// with the sentence that explains it. Pure: no I/O, the clock is a parameter.
//   - A rule answers firing (with a severity), ok, or unknown (no data, e.g. the node is down so its disk is not
//     known): unknown never raises and never clears, it keeps what is there.
//   - Numeric rules have hysteresis: raised above a level, cleared only at or below level - clearMargin.
//   - Maintenance (of the cluster, or of a node for that node's rules) suppresses raising and escalating; an alarm
//     whose condition ends during maintenance is still cleared.
//   - Acknowledging keeps an alarm active; an escalation (warning -> critical) removes the acknowledgement.
import {
  SINGLE_WRITER_TYPES,
  classifyCluster,
  observedWriters,
  replicationBroken,
  writersPhrase,
  type ClusterHealth,
  type NodeHealth,
} from './health.ts';
import {
  inMaintenance,
  nodeKey,
  type ClusterSnapshot,
  type LevelThreshold,
  type MaintenanceWindow,
  type NodeObservation,
  type NodeSnapshot,
} from './observation.ts';
import type { ClusterType } from '../spec.ts';

export type AlarmSeverity = 'warning' | 'critical';

export const ALARM_RULES = [
  'node-down',
  'replication-broken',
  'replication-lag',
  'writable-replica',
  'multiple-writers',
  'galera-non-primary',
  'galera-size',
  'cluster-state',
  'disk-high',
  'memory-high',
  'cpu-high',
  'long-query',
] as const;
/**
 * Alarms raised and cleared outside the rule evaluation, by the service that knows their condition: the monitor
 * about its own failures (monitor-degraded, core/monitor/degraded.ts) and recovery about failover decisions
 * (src/controller/recovery/). The evaluation leaves them alone.
 */
export const EXTERNAL_ALARM_RULES = [
  'monitor-degraded',
  'unreachable-from-controller',
  'failover-refused',
  'failover-failed',
  'node-fenced',
  'node-diverged',
  'node-start-failed',
  'galera-recovery-refused',
] as const;
export type ExternalAlarmRule = (typeof EXTERNAL_ALARM_RULES)[number];
export type AlarmRuleId = (typeof ALARM_RULES)[number] | ExternalAlarmRule;

export function isExternalRule(rule: string): rule is ExternalAlarmRule {
  return (EXTERNAL_ALARM_RULES as readonly string[]).includes(rule);
}

export interface AlarmAck {
  readonly by: string;
  readonly at: number;
  readonly comment?: string;
}

export interface Alarm {
  /** Stable identity: rule/cluster for cluster rules, rule/cluster/host:port for node rules. */
  readonly key: string;
  readonly rule: AlarmRuleId;
  readonly cluster: string;
  /** host:port for node rules. */
  readonly node?: string;
  readonly severity: AlarmSeverity;
  /** The latest sentence of the rule, e.g. "replica h2 lagging 45 s (warning above 30 s)". */
  readonly reason: string;
  readonly raisedAt: number;
  /** Last change of severity or reason. */
  readonly updatedAt: number;
  readonly acknowledged?: AlarmAck;
}

export interface AlarmConfig {
  /** Rules that never raise for this cluster (their active alarms are cleared). */
  readonly disabledRules?: readonly AlarmRuleId[];
}

export interface AlarmDecision {
  readonly alarm: Alarm;
  /** Why: the rule's sentence, or why it was cleared. */
  readonly reason: string;
}

export type KeepChange = 'none' | 'updated' | 'escalated' | 'deescalated';

export interface KeptAlarm extends AlarmDecision {
  /** none: identical; updated: new reason; escalated/deescalated: severity changed. */
  readonly change: KeepChange;
}

export interface SuppressedAlarm {
  readonly key: string;
  readonly rule: AlarmRuleId;
  readonly node?: string;
  readonly severity: AlarmSeverity;
  readonly reason: string;
}

export interface AlarmEvaluation {
  readonly raise: readonly AlarmDecision[];
  readonly clear: readonly AlarmDecision[];
  readonly keep: readonly KeptAlarm[];
  /** Conditions that would raise (or escalate) but for a maintenance window. */
  readonly suppressed: readonly SuppressedAlarm[];
  /** The classification the rules read (callers diff it for health events). */
  readonly health: ClusterHealth;
}

export type RuleCheck =
  | { readonly status: 'firing'; readonly severity: AlarmSeverity; readonly reason: string }
  | { readonly status: 'ok'; readonly reason: string }
  | { readonly status: 'unknown'; readonly reason: string };

export interface RuleContext {
  readonly snapshot: ClusterSnapshot;
  readonly health: ClusterHealth;
  /** Set for node rules. */
  readonly node?: { readonly snap: NodeSnapshot; readonly health: NodeHealth };
  readonly active: Alarm | undefined;
}

export interface AlarmRule {
  readonly id: AlarmRuleId;
  readonly scope: 'node' | 'cluster';
  /** Cluster types the rule applies to (all when absent). */
  readonly types?: readonly ClusterType[];
  check(ctx: RuleContext): RuleCheck;
}

export function alarmKey(rule: AlarmRuleId, cluster: string, node?: string): string {
  return node === undefined ? `${rule}/${cluster}` : `${rule}/${cluster}/${node}`;
}

export function severityRank(s: AlarmSeverity): number {
  return s === 'critical' ? 2 : 1;
}

const ok = (reason: string): RuleCheck => ({ status: 'ok', reason });
const unknown = (reason: string): RuleCheck => ({ status: 'unknown', reason });
const firing = (severity: AlarmSeverity, reason: string): RuleCheck => ({
  status: 'firing',
  severity,
  reason,
});

/**
 * A value against a two-level threshold with hysteresis: an active alarm stays at its level until the value is at
 * or below level - clearMargin.
 */
export function levelCheck(
  value: number,
  t: LevelThreshold,
  active: AlarmSeverity | undefined,
  subject: string,
  unit = '',
): RuleCheck {
  const v = `${subject} ${value}${unit}`;
  if (t.critical !== undefined) {
    if (value > t.critical) return firing('critical', `${v} (critical above ${t.critical}${unit})`);
    const clearAt = t.critical - t.clearMargin;
    if (active === 'critical' && value > clearAt) {
      return firing('critical', `${v} (critical until at or below ${clearAt}${unit})`);
    }
  }
  if (value > t.warning) return firing('warning', `${v} (warning above ${t.warning}${unit})`);
  const clearAt = t.warning - t.clearMargin;
  if (active !== undefined && value > clearAt) {
    return firing('warning', `${v} (warning until at or below ${clearAt}${unit})`);
  }
  return ok(`${v} (warning above ${t.warning}${unit})`);
}

/** The current observation of an up node, or why there is none. */
function upObservation(ctx: RuleContext): NodeObservation | string {
  const node = ctx.node;
  if (!node) return 'no node';
  if (node.health.state !== 'up' || !node.snap.observation)
    return `no data: node ${node.health.label} ${node.health.state}`;
  return node.snap.observation;
}

function hostStatRule(id: AlarmRuleId, stat: 'diskPct' | 'memPct' | 'cpuPct', what: string): AlarmRule {
  return {
    id,
    scope: 'node',
    check(ctx) {
      const obs = upObservation(ctx);
      if (typeof obs === 'string') return unknown(obs);
      const value = obs.host?.[stat];
      const label = ctx.node?.health.label ?? '';
      if (value === undefined) return unknown(`no data: ${what} of ${label} not collected`);
      return levelCheck(
        value,
        ctx.snapshot.thresholds[stat],
        ctx.active?.severity,
        `${what} of ${label} at`,
        '%',
      );
    },
  };
}

const nodeDown: AlarmRule = {
  id: 'node-down',
  scope: 'node',
  check(ctx) {
    const h = ctx.node?.health;
    if (!h) return unknown('no node');
    if (h.state === 'down') return firing('critical', `node ${h.label} ${h.reason}`);
    if (h.state === 'up') return ok(`node ${h.label} up`);
    // pending: not down yet (or not any more, which cannot happen without a success in between)
    return ctx.active ? unknown(`node ${h.label} ${h.reason}`) : ok(`node ${h.label} ${h.reason}`);
  },
};

const replicationBrokenRule: AlarmRule = {
  id: 'replication-broken',
  scope: 'node',
  types: ['mariadb-replication', 'postgres-streaming'],
  check(ctx) {
    const obs = upObservation(ctx);
    if (typeof obs === 'string') return unknown(obs);
    const label = ctx.node?.health.label ?? '';
    if (obs.role !== 'replica') return ok(`${label} is ${obs.role}, not a replica`);
    const broken = replicationBroken(obs.replication);
    return broken
      ? firing('critical', `replica ${label} replication broken: ${broken}`)
      : ok(`replica ${label} replicating`);
  },
};

const replicationLag: AlarmRule = {
  id: 'replication-lag',
  scope: 'node',
  types: ['mariadb-replication', 'postgres-streaming'],
  check(ctx) {
    const obs = upObservation(ctx);
    if (typeof obs === 'string') return unknown(obs);
    const label = ctx.node?.health.label ?? '';
    if (obs.role !== 'replica') return ok(`${label} is ${obs.role}, not a replica`);
    const lag = obs.replication?.lagSeconds;
    if (lag == null) return unknown(`no data: lag of replica ${label} unknown`);
    const t = ctx.snapshot.thresholds.lagSeconds;
    const check = levelCheck(lag, t, ctx.active?.severity, `replica ${label} lagging`, ' s');
    const r = obs.replication;
    const bytes = r?.kind === 'postgres' && r.lagBytes ? `; ${r.lagBytes} bytes not replayed` : '';
    return check.status === 'firing' ? { ...check, reason: `${check.reason}${bytes}` } : check;
  },
};

// Two writers in a single-writer cluster diverge the data: both rules are critical on the first tick that sees
// it (no hysteresis), and read only the latest probes (a pending node's last good reading is not evidence).
const writableReplica: AlarmRule = {
  id: 'writable-replica',
  scope: 'node',
  types: SINGLE_WRITER_TYPES,
  check(ctx) {
    const obs = upObservation(ctx);
    if (typeof obs === 'string') return unknown(obs);
    const label = ctx.node?.health.label ?? '';
    if (obs.role !== 'replica') return ok(`${label} is ${obs.role}, not a replica`);
    if (obs.readOnly === undefined) return unknown(`no data: read-only state of replica ${label} unknown`);
    if (obs.readOnly) return ok(`replica ${label} is read-only`);
    const source = obs.replication?.source;
    return firing(
      'critical',
      `replica ${label} accepts writes (read-only is off)${source ? ` while replicating from ${source}` : ''}`,
    );
  },
};

const multipleWriters: AlarmRule = {
  id: 'multiple-writers',
  scope: 'cluster',
  types: SINGLE_WRITER_TYPES,
  check(ctx) {
    const writers = observedWriters(ctx.snapshot, ctx.health.nodes);
    if (writers.length > 1) {
      return firing(
        'critical',
        `${writers.length} writable nodes in cluster ${ctx.snapshot.cluster}: ${writersPhrase(writers)}; only the primary may accept writes`,
      );
    }
    const why =
      writers.length === 1 ? `only ${writersPhrase(writers)} accepts writes` : 'no node accepts writes';
    const blind = ctx.health.nodes.filter((n) => n.state !== 'up').map((n) => n.label);
    // Still active and a node not answering: it may still be writable; keep the alarm until every node answered.
    if (ctx.active && blind.length > 0) return unknown(`${why}; not answering: ${blind.join(', ')}`);
    return ok(why);
  },
};

const galeraNonPrimary: AlarmRule = {
  id: 'galera-non-primary',
  scope: 'node',
  types: ['galera'],
  check(ctx) {
    const obs = upObservation(ctx);
    if (typeof obs === 'string') return unknown(obs);
    const label = ctx.node?.health.label ?? '';
    const status = obs.galera?.clusterStatus;
    if (status === undefined) return unknown(`no data: ${label} reports no galera status`);
    return status === 'Primary'
      ? ok(`node ${label} galera Primary`)
      : firing('critical', `node ${label} galera ${status}`);
  },
};

const galeraSize: AlarmRule = {
  id: 'galera-size',
  scope: 'cluster',
  types: ['galera'],
  check(ctx) {
    const sizes = ctx.snapshot.nodes.flatMap((n, i) => {
      const g = n.observation?.galera;
      const up = ctx.health.nodes[i]?.state === 'up';
      return up && g?.clusterStatus === 'Primary' ? [g.clusterSize] : [];
    });
    if (sizes.length === 0) return unknown('no data: no node reports a galera Primary component');
    const size = Math.max(...sizes);
    const expected = ctx.snapshot.expectedNodes;
    return size < expected
      ? firing('warning', `galera size ${size} below expected ${expected}`)
      : ok(`galera size ${size} of expected ${expected}`);
  },
};

const clusterState: AlarmRule = {
  id: 'cluster-state',
  scope: 'cluster',
  check(ctx) {
    const h = ctx.health;
    switch (h.state) {
      case 'failed':
        return firing('critical', `cluster ${h.cluster} ${h.reason}`);
      case 'degraded':
        return firing('warning', `cluster ${h.cluster} ${h.reason}`);
      case 'healthy':
        return ok(`cluster ${h.cluster} ${h.reason}`);
      case 'maintenance':
      case 'unknown':
        return unknown(`cluster ${h.cluster} ${h.reason}`);
    }
  },
};

const longQuery: AlarmRule = {
  id: 'long-query',
  scope: 'node',
  check(ctx) {
    const obs = upObservation(ctx);
    if (typeof obs === 'string') return unknown(obs);
    const label = ctx.node?.health.label ?? '';
    const age = obs.longestQuerySeconds;
    if (age === undefined) return unknown(`no data: running queries of ${label} not collected`);
    const t = ctx.snapshot.thresholds.longQuerySeconds;
    return levelCheck(age, t, ctx.active?.severity, `oldest query on ${label} running`, ' s');
  },
};

export const RULES: readonly AlarmRule[] = [
  nodeDown,
  replicationBrokenRule,
  replicationLag,
  writableReplica,
  multipleWriters,
  galeraNonPrimary,
  galeraSize,
  clusterState,
  hostStatRule('disk-high', 'diskPct', 'disk'),
  hostStatRule('memory-high', 'memPct', 'memory'),
  hostStatRule('cpu-high', 'cpuPct', 'cpu'),
  longQuery,
];

/** Returns the alarm marked acknowledged (it stays active). */
export function acknowledgeAlarm(alarm: Alarm, by: string, now: number, comment?: string): Alarm {
  return { ...alarm, acknowledged: { by, at: now, ...(comment ? { comment } : {}) } };
}

interface Target {
  readonly key: string;
  readonly ctx: RuleContext;
  /** The open maintenance window that suppresses raising, if any. */
  readonly suppressedBy?: string;
}

function maintenanceNote(scope: string, w: MaintenanceWindow | undefined): string {
  const until = new Date(w?.until ?? 0).toISOString();
  return `${scope} in maintenance until ${until}${w?.reason ? ` (${w.reason})` : ''}`;
}

function targetsOf(
  rule: AlarmRule,
  snapshot: ClusterSnapshot,
  health: ClusterHealth,
  active: ReadonlyMap<string, Alarm>,
  now: number,
): Target[] {
  const clusterSuppression = inMaintenance(snapshot.maintenance, now)
    ? maintenanceNote('cluster', snapshot.maintenance)
    : undefined;
  if (rule.scope === 'cluster') {
    const key = alarmKey(rule.id, snapshot.cluster);
    const ctx = { snapshot, health, active: active.get(key) };
    return [{ key, ctx, ...(clusterSuppression ? { suppressedBy: clusterSuppression } : {}) }];
  }
  return snapshot.nodes.map((snap, i) => {
    const nodeHealth = health.nodes[i] as NodeHealth;
    const key = alarmKey(rule.id, snapshot.cluster, nodeKey(snap));
    const suppressedBy =
      clusterSuppression ??
      (nodeHealth.maintenance ? maintenanceNote(`node ${nodeHealth.label}`, snap.maintenance) : undefined);
    const ctx = { snapshot, health, node: { snap, health: nodeHealth }, active: active.get(key) };
    return { key, ctx, ...(suppressedBy ? { suppressedBy } : {}) };
  });
}

interface Collector {
  raise: AlarmDecision[];
  clear: AlarmDecision[];
  keep: KeptAlarm[];
  suppressed: SuppressedAlarm[];
}

function keepChange(active: Alarm, severity: AlarmSeverity, reason: string): KeepChange {
  if (severity !== active.severity) {
    return severityRank(severity) > severityRank(active.severity) ? 'escalated' : 'deescalated';
  }
  return reason === active.reason ? 'none' : 'updated';
}

function decideFiring(
  rule: AlarmRule,
  target: Target,
  check: { readonly severity: AlarmSeverity; readonly reason: string },
  now: number,
  out: Collector,
): void {
  const active = target.ctx.active;
  const node = target.ctx.node ? nodeKey(target.ctx.node.snap) : undefined;
  const escalating = active !== undefined && severityRank(check.severity) > severityRank(active.severity);
  if (target.suppressedBy !== undefined && (active === undefined || escalating)) {
    const reason = `${check.reason} (suppressed: ${target.suppressedBy})`;
    out.suppressed.push({
      key: target.key,
      rule: rule.id,
      severity: check.severity,
      reason,
      ...(node ? { node } : {}),
    });
    if (active) out.keep.push({ alarm: active, reason, change: 'none' });
    return;
  }
  if (active === undefined) {
    const alarm: Alarm = {
      key: target.key,
      rule: rule.id,
      cluster: target.ctx.snapshot.cluster,
      ...(node ? { node } : {}),
      severity: check.severity,
      reason: check.reason,
      raisedAt: now,
      updatedAt: now,
    };
    out.raise.push({ alarm, reason: check.reason });
    return;
  }
  const change = keepChange(active, check.severity, check.reason);
  if (change === 'none') {
    out.keep.push({ alarm: active, reason: check.reason, change });
    return;
  }
  const { acknowledged: _ack, ...unacked } = active;
  const alarm: Alarm = {
    ...(change === 'escalated' ? unacked : active),
    severity: check.severity,
    reason: check.reason,
    updatedAt: now,
  };
  out.keep.push({ alarm, reason: check.reason, change });
}

function ruleApplies(rule: AlarmRule, type: ClusterType, config: AlarmConfig): boolean {
  if (config.disabledRules?.includes(rule.id)) return false;
  return rule.types === undefined || rule.types.includes(type);
}

/**
 * Evaluates every rule against the snapshot. `active` may hold alarms of other clusters: they are ignored (and
 * appear in no list). Active alarms of this cluster that no rule produces any more (rule disabled, node removed)
 * are cleared.
 */
export function evaluateAlarms(
  active: readonly Alarm[],
  snapshot: ClusterSnapshot,
  config: AlarmConfig = {},
  now: number = snapshot.time,
): AlarmEvaluation {
  const health = classifyCluster(snapshot);
  const mine = new Map(active.filter((a) => a.cluster === snapshot.cluster).map((a) => [a.key, a]));
  const out: Collector = { raise: [], clear: [], keep: [], suppressed: [] };
  const seen = new Set<string>();
  for (const rule of RULES.filter((r) => ruleApplies(r, snapshot.type, config))) {
    for (const target of targetsOf(rule, snapshot, health, mine, now)) {
      seen.add(target.key);
      const check = rule.check(target.ctx);
      const current = target.ctx.active;
      if (check.status === 'firing') decideFiring(rule, target, check, now, out);
      else if (current && check.status === 'ok') out.clear.push({ alarm: current, reason: check.reason });
      else if (current) out.keep.push({ alarm: current, reason: check.reason, change: 'none' });
    }
  }
  for (const alarm of mine.values()) {
    if (seen.has(alarm.key)) continue;
    const why = config.disabledRules?.includes(alarm.rule)
      ? `rule ${alarm.rule} disabled`
      : `${alarm.node ?? alarm.rule} no longer monitored in cluster ${alarm.cluster}`;
    out.clear.push({ alarm, reason: why });
  }
  return { ...out, health };
}

/** The active alarms after applying an evaluation (what a store would hold). */
export function applyEvaluation(active: readonly Alarm[], evaluation: AlarmEvaluation): Alarm[] {
  const cleared = new Set(evaluation.clear.map((d) => d.alarm.key));
  const changed = new Map(
    [...evaluation.keep, ...evaluation.raise].map((d) => [d.alarm.key, d.alarm] as const),
  );
  const result = active.filter((a) => !cleared.has(a.key)).map((a) => changed.get(a.key) ?? a);
  const present = new Set(result.map((a) => a.key));
  return [...result, ...evaluation.raise.map((d) => d.alarm).filter((a) => !present.has(a.key))];
}
