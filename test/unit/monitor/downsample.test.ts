import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  DEFAULT_RETENTION,
  downsample,
  isExpired,
  planRetention,
  rollup,
  tierFor,
  type MetricPoint,
} from '../../../src/core/monitor/downsample.ts';

const S = 1000;
const M = 60 * S;
const H = 60 * M;
const D = 24 * H;

describe('downsample', () => {
  test('exact aggregates on a small input', () => {
    const points: MetricPoint[] = [
      { time: 0, value: 1 },
      { time: 59_999, value: 3 },
      { time: 60_000, value: 10 },
      { time: 30_000, value: 2 },
      { time: 125_000, value: -4 },
      { time: 61_000, value: Number.NaN },
    ];
    assert.deepEqual(downsample(points, M), [
      { start: 0, count: 3, sum: 6, min: 1, max: 3, avg: 2 },
      { start: 60_000, count: 1, sum: 10, min: 10, max: 10, avg: 10 },
      { start: 120_000, count: 1, sum: -4, min: -4, max: -4, avg: -4 },
    ]);
  });

  test('empty input, empty output; a bad resolution throws', () => {
    assert.deepEqual(downsample([], M), []);
    assert.throws(() => downsample([], 0), RangeError);
    assert.throws(() => downsample([], 1.5), RangeError);
  });

  test('rollup of 1-min aggregates into 1 h equals downsampling the raw points to 1 h', () => {
    const points = Array.from({ length: 300 }, (_, i) => ({ time: i * 37 * S, value: (i * 7) % 13 }));
    const direct = downsample(points, H);
    const viaMinutes = rollup(downsample(points, M), H);
    assert.deepEqual(viaMinutes, direct);
  });

  const arbPoints = fc.array(
    fc.record({
      time: fc.integer({ min: 0, max: 3 * H }),
      value: fc.double({ min: -1e6, max: 1e6, noNaN: true }),
    }),
    { maxLength: 300 },
  );
  const arbRes = fc.constantFrom(S, 10 * S, M, 5 * M, H);

  test('property: counts sum to the number of points, min <= avg <= max, buckets sorted and aligned', () => {
    fc.assert(
      fc.property(arbPoints, arbRes, (points, res) => {
        const aggs = downsample(points, res);
        assert.equal(
          aggs.reduce((n, a) => n + a.count, 0),
          points.length,
        );
        for (const [i, a] of aggs.entries()) {
          assert.ok(a.min <= a.avg && a.avg <= a.max, `min ${a.min} avg ${a.avg} max ${a.max}`);
          assert.equal(a.start % res, 0);
          if (i > 0) assert.ok(a.start > (aggs[i - 1]?.start ?? -1));
        }
      }),
    );
  });

  test('property: rollup preserves counts, min and max', () => {
    fc.assert(
      fc.property(arbPoints, (points) => {
        const minutes = downsample(points, M);
        const hours = rollup(minutes, H);
        const direct = downsample(points, H);
        assert.deepEqual(
          hours.map((a) => [a.start, a.count, a.min, a.max]),
          direct.map((a) => [a.start, a.count, a.min, a.max]),
        );
        for (const a of hours) assert.ok(a.min <= a.avg && a.avg <= a.max);
      }),
    );
  });
});

describe('retention', () => {
  const now = 100 * D + 30 * M + 20 * S; // 100 days, 30 min, 20 s after the epoch

  test('first run: roll up what can exist, delete nothing un-aggregated', () => {
    const plan = planRetention(now, {});
    assert.deepEqual(
      plan.rollups.map((r) => [r.source, r.target, r.from, r.to]),
      [
        ['raw', '1m', now - 20 * S - H, now - 20 * S], // complete minutes of the last hour
        ['1m', '1h', 100 * D - 7 * D, 100 * D], // complete hours of the last 7 days
      ],
    );
    assert.deepEqual(
      plan.deletes.map((d) => [d.tier, d.before]),
      [['1h', now - 90 * D]],
    );
  });

  test('with watermarks: delete raw past 1 h and 1m past 7 days, never past the watermark', () => {
    const plan = planRetention(now, { '1m': now - 20 * S, '1h': 100 * D });
    assert.deepEqual(plan.rollups, []);
    assert.deepEqual(
      plan.deletes.map((d) => [d.tier, d.before]),
      [
        ['raw', now - H],
        ['1m', now - 7 * D],
        ['1h', now - 90 * D],
      ],
    );
  });

  test('a lagging watermark holds deletion back', () => {
    const stuck = now - 2 * H; // rollups into 1m stopped two hours ago
    const plan = planRetention(now, { '1m': stuck, '1h': 100 * D });
    const raw = plan.deletes.find((d) => d.tier === 'raw');
    assert.equal(raw?.before, stuck);
    assert.match(raw?.reason ?? '', /only up to the 1m watermark/);
    assert.deepEqual(
      plan.rollups.map((r) => [r.source, r.target, r.from, r.to]),
      [['raw', '1m', stuck, now - 20 * S]],
    );
  });

  test('late points: a bucket is rolled up only after the grace period', () => {
    const t = 10 * M + 3 * S; // 3 s after minute 10 ended, grace 5 s
    const plan = planRetention(t, { '1m': 9 * M, '1h': 0 }, DEFAULT_RETENTION, 5 * S);
    assert.deepEqual(
      plan.rollups.map((r) => [r.from, r.to]),
      [],
    );
    const later = planRetention(t + 2 * S, { '1m': 9 * M, '1h': 0 }, DEFAULT_RETENTION, 5 * S);
    assert.deepEqual(
      later.rollups.map((r) => [r.source, r.from, r.to]),
      [['raw', 9 * M, 10 * M]],
    );
  });

  test('isExpired and tierFor', () => {
    const [raw, minute, hour] = DEFAULT_RETENTION;
    assert.ok(raw && minute && hour);
    assert.equal(isExpired(raw, now - H - 1, now), true);
    assert.equal(isExpired(raw, now - H, now), false);
    assert.equal(tierFor(now - 30 * M, now).name, 'raw');
    assert.equal(tierFor(now - 2 * D, now).name, '1m');
    assert.equal(tierFor(now - 30 * D, now).name, '1h');
    assert.equal(tierFor(now - 365 * D, now).name, '1h');
  });
});
