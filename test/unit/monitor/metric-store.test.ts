// The metric store on a temp SQLite file: batched insert, query per tier, rollup into 1-minute and 1-hour tiers
// by the pure plan (exact sums), retention that never deletes what was not rolled up, bounded work per pass.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Db } from '../../../src/controller/store/db.ts';
import { MetricStore } from '../../../src/controller/metrics/metric-store.ts';

function withStore(fn: (m: MetricStore, db: Db) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'nines-metrics-'));
  const db = new Db(join(dir, 'm.db'));
  db.migrate();
  try {
    fn(new MetricStore(db), db);
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const T0 = Date.UTC(2026, 0, 1, 0, 0, 0);

test('insert one tick in one transaction, query raw points by series and node', () => {
  withStore((m) => {
    for (let i = 0; i < 120; i++) {
      m.record('c', T0 + i * 1000, [
        { node: 'h1:3306', metric: 'qps', value: i },
        { node: 'h2:3306', metric: 'qps', value: 2 * i },
        { metric: 'nodes_up', value: 2 },
        { node: 'h1:3306', metric: 'lag_seconds', value: Number.NaN },
      ]);
    }
    const r = m.query(
      { cluster: 'c', metrics: ['qps'], node: 'h1:3306', from: T0, to: T0 + 60_000 },
      T0 + 120_000,
    );
    assert.equal(r.tier, 'raw');
    assert.equal(r.series.length, 1);
    assert.equal(r.series[0]?.points.length, 60);
    assert.deepEqual(r.series[0]?.points[5], { time: T0 + 5000, value: 5, min: 5, max: 5 });
    const stepped = m.query(
      { cluster: 'c', metrics: ['qps'], node: 'h1:3306', from: T0, to: T0 + 60_000, stepMs: 10_000 },
      T0 + 120_000,
    );
    assert.deepEqual(stepped.series[0]?.points[0], { time: T0, value: 4.5, min: 0, max: 9 });
    assert.equal(m.series('c').length, 3, 'NaN points are not stored');
  });
});

test('retention: raw rolled up into 1m (exact), then deleted after an hour; 1m into 1h', () => {
  withStore((m) => {
    for (let i = 0; i < 3 * 60; i++)
      m.record('c', T0 + i * 1000, [{ node: 'h1:3306', metric: 'qps', value: i % 60 }]);
    const now = T0 + 10 * 60_000;
    let pass = m.retentionPass(now);
    for (let k = 0; k < 10 && pass.watermarks['1m'] !== T0 + 9 * 60_000; k++) pass = m.retentionPass(now);
    assert.equal(pass.watermarks['1m'], T0 + 9 * 60_000, 'complete minutes rolled up, 5 s grace');
    const r = m.query({ cluster: 'c', metrics: ['qps'], from: T0, to: T0 + 3 * 60_000, stepMs: 60_000 }, now);
    assert.equal(r.tier, '1m');
    assert.deepEqual(
      r.series[0]?.points.map((p) => p.value),
      [29.5, 29.5, 29.5],
    );
    assert.equal(m.counts().raw, 180, 'raw kept for an hour');
    const later = T0 + 2 * 3_600_000;
    for (let k = 0; k < 20; k++) m.retentionPass(later);
    assert.equal(m.counts().raw, 0, 'raw older than an hour and rolled up is deleted');
    assert.equal(m.counts()['1m'], 3);
    assert.ok(m.counts()['1h'] >= 1);
    const h = m.query({ cluster: 'c', metrics: ['qps'], from: T0, to: T0 + 3_600_000 }, T0 + 10 * 86_400_000);
    assert.equal(h.tier, '1h');
    assert.equal(h.series[0]?.points[0]?.value, 29.5);
  });
});

test('a rollup pass is bounded: a long backlog is caught up over several passes', () => {
  withStore((m) => {
    const now = T0 + 3_600_000;
    for (let i = 0; i < 3600; i += 5) m.record('c', T0 + i * 1000, [{ metric: 'nodes_up', value: 1 }]);
    const first = m.retentionPass(now);
    assert.ok((first.watermarks['1m'] ?? 0) - T0 <= 10 * 60_000, 'at most 10 minutes of raw per pass');
    for (let k = 0; k < 8; k++) m.retentionPass(now);
    assert.equal(m.counts()['1m'], 59);
  });
});

test('forget drops every series and point of a cluster', () => {
  withStore((m) => {
    m.record('a', T0, [{ metric: 'state', value: 0 }]);
    m.record('b', T0, [{ metric: 'state', value: 1 }]);
    m.forget('a');
    assert.equal(m.series('a').length, 0);
    assert.equal(m.series('b').length, 1);
    assert.equal(m.counts().raw, 1);
  });
});
