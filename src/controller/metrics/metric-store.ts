// Time series in SQLite: raw points (1 s) and 1-minute / 1-hour aggregates (tables of migration 2, layout in
// docs/monitoring.md). Writes are batched: one transaction per monitor tick. Downsampling and retention follow the
// pure plan of core/monitor/downsample.ts (planRetention, downsample, rollup), run periodically with a bounded
// amount of work per pass. Queries pick the finest tier that still holds the requested range.
import { NinesError } from '../../core/errors.ts';
import {
  DEFAULT_RETENTION,
  downsample,
  planRetention,
  rollup,
  tierFor,
  type Aggregate,
  type RetentionTier,
  type RollupTask,
  type RollupWatermarks,
  type TierName,
} from '../../core/monitor/downsample.ts';
import type { Db } from '../store/db.ts';

/** One value of one series at one time; node is host:port, absent for a cluster series. */
export interface MetricSample {
  readonly node?: string;
  readonly metric: string;
  readonly value: number;
}

export interface SeriesKey {
  readonly cluster: string;
  readonly node: string | null;
  readonly metric: string;
}

export interface MetricQuery {
  readonly cluster: string;
  /** Metric names; all of the cluster's when empty. */
  readonly metrics?: readonly string[];
  /** host:port; absent = every node and the cluster series. */
  readonly node?: string;
  readonly from: number;
  readonly to: number;
  /** Wanted spacing of points in ms (coarser tiers are chosen for large steps). */
  readonly stepMs?: number;
}

export interface SeriesPoints extends SeriesKey {
  /** time, avg, min, max (min = max = value for raw points). */
  readonly points: readonly { time: number; value: number; min: number; max: number }[];
}

export interface MetricQueryResult {
  readonly tier: TierName;
  readonly stepMs: number;
  readonly series: readonly SeriesPoints[];
}

/** Bound on one rollup pass: at most this much source time (the rest waits for the next pass). */
const MAX_ROLLUP_SPAN: Readonly<Record<TierName, number>> = {
  raw: 10 * 60_000,
  '1m': 24 * 3_600_000,
  '1h': 24 * 3_600_000,
};

const TABLE: Readonly<Record<TierName, { table: string; time: string }>> = {
  raw: { table: 'metric_raw', time: 'time' },
  '1m': { table: 'metric_1m', time: 'start' },
  '1h': { table: 'metric_1h', time: 'start' },
};

export interface RetentionPassResult {
  readonly rolledUp: number;
  readonly deleted: number;
  readonly watermarks: RollupWatermarks;
}

export class MetricStore {
  private readonly db: Db;
  private readonly policy: readonly RetentionTier[];
  private readonly ids = new Map<string, number>();

  constructor(db: Db, policy: readonly RetentionTier[] = DEFAULT_RETENTION) {
    this.db = db;
    this.policy = policy;
  }

  private seriesId(cluster: string, node: string | null, metric: string): number {
    const k = `${cluster}\u0000${node ?? ''}\u0000${metric}`;
    const known = this.ids.get(k);
    if (known !== undefined) return known;
    this.db.run(
      'INSERT INTO metric_series (cluster, node, metric) VALUES (?, ?, ?) ON CONFLICT DO NOTHING',
      cluster,
      node ?? '',
      metric,
    );
    const id = this.db.get<{ id: number }>(
      'SELECT id FROM metric_series WHERE cluster = ? AND node = ? AND metric = ?',
      cluster,
      node ?? '',
      metric,
    )?.id as number;
    this.ids.set(k, id);
    return id;
  }

  /** Stores the samples of one tick in one transaction (non-finite values are skipped). */
  record(cluster: string, time: number, samples: readonly MetricSample[]): number {
    const valid = samples.filter((s) => Number.isFinite(s.value));
    if (valid.length === 0) return 0;
    this.db.tx(() => {
      for (const s of valid) {
        this.db.run(
          'INSERT OR REPLACE INTO metric_raw (series_id, time, value) VALUES (?, ?, ?)',
          this.seriesId(cluster, s.node ?? null, s.metric),
          time,
          s.value,
        );
      }
    });
    return valid.length;
  }

  series(cluster: string): (SeriesKey & { id: number })[] {
    return this.db
      .all<{ id: number; cluster: string; node: string; metric: string }>(
        'SELECT id, cluster, node, metric FROM metric_series WHERE cluster = ? ORDER BY node, metric',
        cluster,
      )
      .map((r) => ({ id: r.id, cluster: r.cluster, node: r.node === '' ? null : r.node, metric: r.metric }));
  }

  /** Picks the tier (finest holding `from`, or coarser for large steps) and returns the points of each series. */
  query(q: MetricQuery, now: number = Date.now()): MetricQueryResult {
    if (!(q.to > q.from)) {
      throw new NinesError('NINES_E_INVALID_ARGUMENT', `metrics range: 'to' must be after 'from'`);
    }
    const byRange = tierFor(q.from, now, this.policy);
    const byStep = [...this.policy].reverse().find((t) => (q.stepMs ?? 0) >= t.resolutionMs);
    const tier = byStep && byStep.resolutionMs > byRange.resolutionMs ? byStep : byRange;
    const stepMs = Math.max(tier.resolutionMs, q.stepMs ?? tier.resolutionMs);
    const wanted = new Set(q.metrics ?? []);
    const series = this.series(q.cluster).filter(
      (s) => (wanted.size === 0 || wanted.has(s.metric)) && (q.node === undefined || s.node === q.node),
    );
    return {
      tier: tier.name,
      stepMs,
      series: series.map(({ id, ...key }) => ({ ...key, points: this.points(id, tier, q, stepMs) })),
    };
  }

  private points(id: number, tier: RetentionTier, q: MetricQuery, stepMs: number): SeriesPoints['points'] {
    const { table, time } = TABLE[tier.name];
    let aggs: Aggregate[];
    if (tier.name === 'raw') {
      const rows = this.db.all<{ time: number; value: number }>(
        `SELECT time, value FROM ${table} WHERE series_id = ? AND time >= ? AND time < ? ORDER BY time`,
        id,
        q.from,
        q.to,
      );
      if (stepMs <= tier.resolutionMs) {
        return rows.map((r) => ({ time: r.time, value: r.value, min: r.value, max: r.value }));
      }
      aggs = downsample(rows, stepMs);
    } else {
      const rows = this.db.all<Aggregate>(
        `SELECT start, count, sum, min, max, sum / count AS avg FROM ${table}
         WHERE series_id = ? AND ${time} >= ? AND ${time} < ? ORDER BY ${time}`,
        id,
        q.from - (q.from % tier.resolutionMs),
        q.to,
      );
      aggs = stepMs > tier.resolutionMs ? rollup(rows, stepMs) : rows;
    }
    return aggs.map((a) => ({ time: a.start, value: a.avg, min: a.min, max: a.max }));
  }

  watermarks(): RollupWatermarks {
    const rows = this.db.all<{ tier: TierName; watermark: number }>('SELECT * FROM metric_rollup');
    return Object.fromEntries(rows.map((r) => [r.tier, r.watermark]));
  }

  /**
   * One retention pass: the rollups planned by planRetention (each bounded in span, each in one transaction with
   * its watermark), then the deletes of the plan (made from the watermarks read before the rollups).
   */
  retentionPass(now: number = Date.now()): RetentionPassResult {
    const plan = planRetention(now, this.watermarks(), this.policy);
    let rolledUp = 0;
    for (const task of plan.rollups) rolledUp += this.runRollup(task);
    let deleted = 0;
    const ids = this.db.all<{ id: number }>('SELECT id FROM metric_series').map((r) => r.id);
    for (const d of plan.deletes) {
      const { table, time } = TABLE[d.tier];
      this.db.tx(() => {
        for (const id of ids) {
          deleted += this.db.run(
            `DELETE FROM ${table} WHERE series_id = ? AND ${time} < ?`,
            id,
            d.before,
          ).changes;
        }
      });
    }
    return { rolledUp, deleted, watermarks: this.watermarks() };
  }

  private runRollup(task: RollupTask): number {
    const target = this.policy.find((t) => t.name === task.target);
    if (!target) return 0;
    const span = Math.max(target.resolutionMs, MAX_ROLLUP_SPAN[task.source]);
    const to = Math.min(task.to, task.from + span - (span % target.resolutionMs));
    const { table, time } = TABLE[task.source];
    const ids = this.db.all<{ id: number }>('SELECT id FROM metric_series').map((r) => r.id);
    if (ids.length === 0) return 0; // nothing recorded yet: no watermark either
    let written = 0;
    this.db.tx(() => {
      for (const id of ids) {
        const aggs =
          task.source === 'raw'
            ? downsample(
                this.db.all<{ time: number; value: number }>(
                  `SELECT time, value FROM ${table} WHERE series_id = ? AND time >= ? AND time < ?`,
                  id,
                  task.from,
                  to,
                ),
                target.resolutionMs,
              )
            : rollup(
                this.db.all<Aggregate>(
                  `SELECT start, count, sum, min, max, sum / count AS avg FROM ${table}
                   WHERE series_id = ? AND ${time} >= ? AND ${time} < ?`,
                  id,
                  task.from,
                  to,
                ),
                target.resolutionMs,
              );
        for (const a of aggs) {
          this.db.run(
            `INSERT OR REPLACE INTO ${TABLE[task.target].table} (series_id, start, count, sum, min, max)
             VALUES (?, ?, ?, ?, ?, ?)`,
            id,
            a.start,
            a.count,
            a.sum,
            a.min,
            a.max,
          );
          written++;
        }
      }
      this.db.run(
        'INSERT INTO metric_rollup (tier, watermark) VALUES (?, ?) ON CONFLICT (tier) DO UPDATE SET watermark = ?',
        task.target,
        to,
        to,
      );
    });
    return written;
  }

  /** Clusters that have series (to find those of deleted clusters). */
  clusters(): string[] {
    return this.db
      .all<{ cluster: string }>('SELECT DISTINCT cluster FROM metric_series ORDER BY cluster')
      .map((r) => r.cluster);
  }

  /** Removes every series of a deleted cluster with its points. */
  forget(cluster: string): void {
    const ids = this.series(cluster).map((s) => s.id);
    this.db.tx(() => {
      for (const id of ids) {
        for (const { table } of Object.values(TABLE))
          this.db.run(`DELETE FROM ${table} WHERE series_id = ?`, id);
        this.db.run('DELETE FROM metric_series WHERE id = ?', id);
      }
    });
    for (const k of [...this.ids.keys()]) if (k.startsWith(`${cluster}\u0000`)) this.ids.delete(k);
  }

  /** Row counts per tier (diagnostics, bench). */
  counts(): Record<TierName, number> {
    const n = (t: string): number => this.db.get<{ n: number }>(`SELECT COUNT(*) AS n FROM ${t}`)?.n ?? 0;
    return { raw: n('metric_raw'), '1m': n('metric_1m'), '1h': n('metric_1h') };
  }
}
