// Per-cluster monitoring settings (threshold overrides, disabled alarm rules) and maintenance windows (of a cluster
// or of one node). The monitor reads them each tick through a small in-memory cache that every write drops
// (this process is the only writer of the database).
import { z } from 'zod';
import { NinesError } from '../../core/errors.ts';
import { ALARM_RULES, type AlarmConfig, type AlarmRuleId } from '../../core/monitor/alarms.ts';
import {
  resolveThresholds,
  type MaintenanceWindow,
  type MonitorThresholds,
} from '../../core/monitor/observation.ts';
import type { Db } from '../store/db.ts';

export interface MonitorSettings {
  /** The overrides as given (validated by resolveThresholds). */
  readonly thresholds: Readonly<Record<string, unknown>>;
  readonly disabledRules: readonly AlarmRuleId[];
  readonly updatedAt: number | null;
  readonly updatedBy: string | null;
}

export interface MaintenanceRecord extends MaintenanceWindow {
  readonly cluster: string;
  /** host:port, or null for the whole cluster. */
  readonly node: string | null;
  readonly setBy: string | null;
  readonly createdAt: number;
}

const DisabledRules = z.array(z.enum(ALARM_RULES, `expected one of ${ALARM_RULES.join(', ')}`));

interface MaintenanceRow {
  cluster: string;
  node: string;
  until: number;
  reason: string | null;
  set_by: string | null;
  created_at: number;
}

/** The largest time a Date can represent (ms): beyond it toISOString() throws. */
const MAX_TIME = 8.64e15;

/** A stored window, or why the row cannot be used (written by an older version or by hand). */
function toWindow(r: MaintenanceRow): MaintenanceRecord | string {
  const until: unknown = r.until;
  if (typeof until !== 'number' || !Number.isSafeInteger(until) || Math.abs(until) > MAX_TIME) {
    return `maintenance window of cluster ${r.cluster}${r.node ? ` node ${r.node}` : ''}: until ${String(until)} is not a time`;
  }
  if (typeof r.node !== 'string' || (r.reason !== null && typeof r.reason !== 'string')) {
    return `maintenance window of cluster ${r.cluster}: node or reason is not text`;
  }
  return {
    cluster: r.cluster,
    node: r.node === '' ? null : r.node,
    until,
    ...(r.reason ? { reason: r.reason } : {}),
    setBy: r.set_by,
    createdAt: r.created_at,
  };
}

interface SettingsRow {
  thresholds_json: string;
  disabled_rules_json: string;
  updated_at: number;
  updated_by: string | null;
}

const NO_SETTINGS: MonitorSettings = { thresholds: {}, disabledRules: [], updatedAt: null, updatedBy: null };

/** A stored settings row validated (thresholds and rules as the API accepts them), or why it cannot be used. */
function toSettings(cluster: string, row: SettingsRow): MonitorSettings | string {
  try {
    const thresholds = JSON.parse(row.thresholds_json) as unknown;
    if (typeof thresholds !== 'object' || thresholds === null || Array.isArray(thresholds)) {
      return `monitor settings of cluster ${cluster}: thresholds are not an object`;
    }
    resolveThresholds(thresholds);
    const rules = DisabledRules.safeParse(JSON.parse(row.disabled_rules_json));
    if (!rules.success) return `monitor settings of cluster ${cluster}: disabledRules invalid`;
    return {
      thresholds: thresholds as Record<string, unknown>,
      disabledRules: rules.data,
      updatedAt: row.updated_at,
      updatedBy: row.updated_by,
    };
  } catch (err) {
    return `monitor settings of cluster ${cluster}: ${(err as Error).message}`;
  }
}

export class MonitorSettingsRepo {
  private readonly db: Db;
  private readonly settingsCache = new Map<string, MonitorSettings | string>();
  private maintenanceCache: MaintenanceRecord[] | undefined;
  /** Why stored windows were skipped, by cluster (filled with the maintenance cache). */
  private invalidWindows = new Map<string, string[]>();

  constructor(db: Db) {
    this.db = db;
  }

  /**
   * The stored settings of a cluster; NINES_E_MONITOR_ROW_INVALID when the stored row cannot be used (the monitor
   * then runs on the defaults and raises monitor-degraded).
   */
  settings(cluster: string): MonitorSettings {
    const s = this.read(cluster);
    if (typeof s === 'string') {
      throw new NinesError('NINES_E_MONITOR_ROW_INVALID', s, { context: { cluster } });
    }
    return s;
  }

  private read(cluster: string): MonitorSettings | string {
    const cached = this.settingsCache.get(cluster);
    if (cached) return cached;
    const row = this.db.get<SettingsRow>('SELECT * FROM monitor_settings WHERE cluster = ?', cluster);
    const s = row ? toSettings(cluster, row) : NO_SETTINGS;
    this.settingsCache.set(cluster, s);
    return s;
  }

  /** Thresholds resolved over the defaults (the spec's maxLagSeconds is the lag warning level). */
  thresholds(cluster: string, maxLagSeconds?: number): MonitorThresholds {
    return resolveThresholds(this.settings(cluster).thresholds, maxLagSeconds);
  }

  alarmConfig(cluster: string): AlarmConfig {
    return { disabledRules: this.settings(cluster).disabledRules };
  }

  /** Validates and stores new settings (absent parts stay as they are). */
  update(
    cluster: string,
    change: { readonly thresholds?: unknown; readonly disabledRules?: unknown },
    by: string | null,
    now: number,
  ): MonitorSettings {
    // A stored row that cannot be used is replaced (this is how an operator repairs it).
    const stored = this.read(cluster);
    const current = typeof stored === 'string' ? NO_SETTINGS : stored;
    const thresholds = change.thresholds ?? current.thresholds;
    resolveThresholds(thresholds); // throws NINES_E_MONITOR_CONFIG_INVALID naming the key
    const parsed = DisabledRules.safeParse(change.disabledRules ?? current.disabledRules);
    if (!parsed.success) {
      throw new NinesError(
        'NINES_E_MONITOR_CONFIG_INVALID',
        `disabledRules: ${parsed.error.issues[0]?.message ?? 'invalid'}`,
      );
    }
    this.db.run(
      `INSERT INTO monitor_settings (cluster, thresholds_json, disabled_rules_json, updated_at, updated_by)
       VALUES (?, ?, ?, ?, ?) ON CONFLICT (cluster) DO UPDATE SET thresholds_json = excluded.thresholds_json,
       disabled_rules_json = excluded.disabled_rules_json, updated_at = excluded.updated_at,
       updated_by = excluded.updated_by`,
      cluster,
      JSON.stringify(thresholds),
      JSON.stringify(parsed.data),
      now,
      by,
    );
    this.settingsCache.delete(cluster);
    return this.settings(cluster);
  }

  /** Every maintenance window, open or ended (ended ones are removed by prune). */
  maintenance(cluster?: string): MaintenanceRecord[] {
    if (!this.maintenanceCache) {
      const windows: MaintenanceRecord[] = [];
      const invalid = new Map<string, string[]>();
      for (const row of this.db.all<MaintenanceRow>(
        'SELECT * FROM maintenance_windows ORDER BY cluster, node',
      )) {
        const w = toWindow(row);
        if (typeof w !== 'string') windows.push(w);
        else invalid.set(row.cluster, [...(invalid.get(row.cluster) ?? []), w]);
      }
      this.maintenanceCache = windows;
      this.invalidWindows = invalid;
    }
    return cluster ? this.maintenanceCache.filter((m) => m.cluster === cluster) : this.maintenanceCache;
  }

  /** Why stored windows of a cluster were skipped (empty when every row is usable). */
  invalidMaintenance(cluster: string): readonly string[] {
    this.maintenance();
    return this.invalidWindows.get(cluster) ?? [];
  }

  /** Clusters that have stored settings or maintenance windows (to find those of deleted clusters). */
  clusters(): string[] {
    return this.db
      .all<{ cluster: string }>(
        'SELECT cluster FROM monitor_settings UNION SELECT cluster FROM maintenance_windows ORDER BY cluster',
      )
      .map((r) => r.cluster);
  }

  setMaintenance(
    cluster: string,
    node: string | null,
    window: MaintenanceWindow,
    by: string | null,
    now: number,
  ): MaintenanceRecord {
    this.db.run(
      `INSERT INTO maintenance_windows (cluster, node, until, reason, set_by, created_at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (cluster, node) DO UPDATE SET until = excluded.until, reason = excluded.reason,
       set_by = excluded.set_by, created_at = excluded.created_at`,
      cluster,
      node ?? '',
      window.until,
      window.reason ?? null,
      by,
      now,
    );
    this.maintenanceCache = undefined;
    return this.maintenance(cluster).find((m) => m.node === node) as MaintenanceRecord;
  }

  /** Ends a window now; returns whether one existed. */
  endMaintenance(cluster: string, node: string | null): boolean {
    const n = this.db.run(
      'DELETE FROM maintenance_windows WHERE cluster = ? AND node = ?',
      cluster,
      node ?? '',
    ).changes;
    this.maintenanceCache = undefined;
    return n > 0;
  }

  /** Removes windows that ended before `now`; returns them. */
  pruneMaintenance(now: number): MaintenanceRecord[] {
    const ended = this.maintenance().filter((m) => m.until <= now);
    if (ended.length === 0) return [];
    // Only the windows read above (a row that cannot be read is left for the operator to replace).
    this.db.run('DELETE FROM maintenance_windows WHERE until <= ?', now);
    this.maintenanceCache = undefined;
    return ended;
  }

  /** Drops everything of a deleted cluster. */
  forget(cluster: string): void {
    this.db.run('DELETE FROM maintenance_windows WHERE cluster = ?', cluster);
    this.db.run('DELETE FROM monitor_settings WHERE cluster = ?', cluster);
    this.maintenanceCache = undefined;
    this.settingsCache.delete(cluster);
  }
}
