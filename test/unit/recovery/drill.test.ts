import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  distribution,
  drillRunFigures,
  lostAcknowledged,
  recoveryTime,
  summarizeDrill,
  unacknowledgedPresent,
  writableOverlaps,
  writableSince,
  type AckRecord,
  type DrillRunOutcome,
  type WritabilitySample,
} from '../../../src/core/recovery/drill.ts';

const ack = (id: number, sentAt: number, ackedAt?: number, error?: string): AckRecord => ({
  id,
  sentAt,
  ...(ackedAt !== undefined ? { ackedAt } : {}),
  ...(error !== undefined ? { error } : {}),
});

/** Samples of one node from a compact string: one letter per poll, every `step` ms from `at` (w, r, ?). */
const polls = (node: string, at: number, states: string, step = 100): WritabilitySample[] =>
  [...states].map((c, i) => ({
    node,
    time: at + i * step,
    state: c === 'w' ? 'writable' : c === 'r' ? 'read-only' : 'unknown',
  }));

test('RTO: last ack of a write sent before the fault -> first ack of one sent after it', () => {
  const table: Array<[string, AckRecord[], number, ReturnType<typeof recoveryTime>]> = [
    [
      'writes before and after',
      [ack(1, 900, 910), ack(2, 950, 990), ack(3, 1000, undefined, 'timeout'), ack(4, 3000, 3020)],
      1000,
      { lastAckBefore: 990, firstAckAfter: 3020, rtoMs: 2030 },
    ],
    [
      'a write sent at the fault counts as before it',
      [ack(1, 1000, 1003), ack(2, 1500, 1600)],
      1000,
      { lastAckBefore: 1003, firstAckAfter: 1600, rtoMs: 597 },
    ],
    [
      'a write sent before the fault whose acknowledgement is read just after it is before it',
      [ack(1, 940, 950), ack(2, 990, 1060), ack(3, 1050, undefined, 'timeout'), ack(4, 2500, 2510)],
      1000,
      { lastAckBefore: 1060, firstAckAfter: 2510, rtoMs: 1450 },
    ],
    [
      'acks out of order in the log (concurrent writes)',
      [ack(5, 2900, 3100), ack(4, 2800, 3050), ack(2, 800, 990), ack(1, 700, 950)],
      1000,
      { lastAckBefore: 990, firstAckAfter: 3050, rtoMs: 2060 },
    ],
    [
      'writes never came back',
      [ack(1, 900, 950), ack(2, 1100, undefined, 'NINES_E_DB_UNREACHABLE')],
      1000,
      { lastAckBefore: 950, firstAckAfter: null, rtoMs: null },
    ],
    [
      'nothing acknowledged before the fault',
      [ack(1, 900, undefined, 'timeout'), ack(2, 1200, 1250)],
      1000,
      { lastAckBefore: null, firstAckAfter: 1250, rtoMs: null },
    ],
    ['an empty log', [], 1000, { lastAckBefore: null, firstAckAfter: null, rtoMs: null }],
  ];
  for (const [name, acks, faultAt, expected] of table)
    assert.deepEqual(recoveryTime(acks, faultAt), expected, name);
});

test('RTO: writes that came back only after the fault was reverted do not count', () => {
  const acks = [ack(1, 900, 950), ack(2, 1100, undefined, 'timeout'), ack(3, 5000, 5010), ack(4, 2000, 2050)];
  assert.deepEqual(recoveryTime(acks, 1000, 4000), { lastAckBefore: 950, firstAckAfter: 2050, rtoMs: 1100 });
  assert.deepEqual(
    recoveryTime(
      acks.filter((a) => a.id !== 4),
      1000,
      4000,
    ),
    {
      lastAckBefore: 950,
      firstAckAfter: null,
      rtoMs: null,
    },
  );
});

test('lost: acknowledged but missing on the new primary; unacknowledged but present is reported apart', () => {
  const acks = [
    ack(1, 0, 5),
    ack(2, 10, 15),
    ack(3, 20, undefined, 'timeout'),
    ack(4, 30, undefined, 'NINES_E_DB_UNREACHABLE'),
    ack(5, 40, 45),
  ];
  const table: Array<[string, number[], number[], number[]]> = [
    ['everything there', [1, 2, 3, 4, 5], [], [3, 4]],
    ['only the acknowledged ones', [1, 2, 5], [], []],
    ['an acknowledged write lost', [1, 5, 3], [2], [3]],
    ['nothing there', [], [1, 2, 5], []],
  ];
  for (const [name, ids, lost, extra] of table) {
    const present = new Set(ids);
    assert.deepEqual(lostAcknowledged(acks, present), lost, `${name}: lost`);
    assert.deepEqual(unacknowledgedPresent(acks, present), extra, `${name}: unacknowledged present`);
  }
});

test('writable overlaps: proven only when writable runs of two nodes intersect', () => {
  const table: Array<[string, WritabilitySample[], { proven: unknown[]; max: number; possible: number }]> = [
    [
      'crash failover: old primary unknown, then a new one',
      [...polls('a', 0, 'www???????'), ...polls('b', 50, 'rrrrrwwwww')],
      { proven: [], max: 1, possible: 0 },
    ],
    [
      'fence then promote between two polls: not proven, possible for the poll gap',
      // a: writable at 0,100,200 then read-only at 300; b: read-only until 250, writable from 250 (polls at 50+).
      [...polls('a', 0, 'wwwrrrr'), ...polls('b', 50, 'rrwwww')],
      { proven: [], max: 1, possible: 1 },
    ],
    [
      'split brain: both answer writable for several polls',
      [...polls('a', 0, 'wwwwwwr'), ...polls('b', 250, 'wwww')],
      { proven: [{ from: 250, to: 500, ms: 250, nodes: ['a', 'b'] }], max: 2, possible: 1 },
    ],
    [
      'one writable answer inside another node writable run counts (0 ms long)',
      [...polls('a', 0, 'wwww'), ...polls('b', 150, 'wr')],
      { proven: [{ from: 150, to: 150, ms: 0, nodes: ['a', 'b'] }], max: 2, possible: 1 },
    ],
    [
      'a frozen old primary answers writable after it thaws, next to the new primary',
      [...polls('a', 0, 'ww??????ww'), ...polls('b', 10, 'rrrwwwwwww')],
      { proven: [{ from: 800, to: 900, ms: 100, nodes: ['a', 'b'] }], max: 2, possible: 1 },
    ],
    [
      'three nodes',
      [...polls('a', 0, 'www'), ...polls('b', 0, 'www'), ...polls('c', 100, 'w')],
      { proven: [{ from: 0, to: 200, ms: 200, nodes: ['a', 'b', 'c'] }], max: 3, possible: 1 },
    ],
    ['no samples', [], { proven: [], max: 0, possible: 0 }],
  ];
  for (const [name, samples, expected] of table) {
    const o = writableOverlaps(samples);
    assert.deepEqual(o.proven, expected.proven, `${name}: proven`);
    assert.equal(o.maxWritable, expected.max, `${name}: max writable`);
    assert.equal(o.possible.length, expected.possible, `${name}: possible`);
  }
});

test('possible overlaps: a writable answer holds until the next answer of that node', () => {
  // a writable at 0,100,200, read-only at 300; b writable from 250: possibly both in [250, 300).
  const o = writableOverlaps([...polls('a', 0, 'wwwr'), ...polls('b', 250, 'ww')]);
  assert.deepEqual(o.possible, [{ from: 250, to: 300, ms: 50, nodes: ['a', 'b'] }]);
  // Samples given out of order are sorted per node first.
  const shuffled = [...polls('a', 0, 'wwwr'), ...polls('b', 250, 'ww')].reverse();
  assert.deepEqual(writableOverlaps(shuffled).possible, o.possible);
  // An unknown answer ends the hold as well (a frozen node does not take writes while frozen).
  assert.deepEqual(writableOverlaps([...polls('a', 0, 'ww??'), ...polls('b', 250, 'www')]).possible, []);
});

test('writableSince: writable answers of one node after a time', () => {
  const samples = [...polls('a', 0, 'ww??rw'), ...polls('b', 0, 'wwwwww')];
  assert.deepEqual(writableSince(samples, 'a', 200), { samples: 1, firstAt: 500 });
  assert.deepEqual(writableSince(samples, 'a', 600), { samples: 0, firstAt: null });
  assert.deepEqual(writableSince(samples, 'a', 0), { samples: 3, firstAt: 0 });
});

test('drillRunFigures puts the figures of a run together; unread ids leave the loss unmeasured', () => {
  const acks = [ack(1, 0, 10), ack(2, 100, undefined, 'timeout'), ack(3, 2000, 2010)];
  const samples = [...polls('a', 0, 'w??'), ...polls('b', 0, 'rrw')];
  const measured = drillRunFigures({ acks, faultAt: 50, present: new Set([1, 2, 3]), samples });
  assert.equal(measured.rtoMs, 2000);
  assert.equal(measured.sent, 3);
  assert.equal(measured.acknowledged, 2);
  assert.equal(measured.failed, 1);
  assert.deepEqual(measured.lostAcknowledged, []);
  assert.deepEqual(measured.unacknowledgedPresent, [2]);
  assert.equal(measured.overlaps.maxWritable, 1);
  const unmeasured = drillRunFigures({ acks, faultAt: 50, present: null, samples });
  assert.equal(unmeasured.lostAcknowledged, null);
  assert.equal(unmeasured.unacknowledgedPresent, null);
});

test('distribution: nearest-rank percentiles', () => {
  const table: Array<[number[], ReturnType<typeof distribution>]> = [
    [[], { count: 0, min: null, p50: null, p90: null, max: null }],
    [[7], { count: 1, min: 7, p50: 7, p90: 7, max: 7 }],
    [[3, 1, 2], { count: 3, min: 1, p50: 2, p90: 3, max: 3 }],
    [[1, 2, 3, 4], { count: 4, min: 1, p50: 2, p90: 4, max: 4 }],
    [
      [1000, 900, 800, 700, 600, 500, 400, 300, 200, 100],
      { count: 10, min: 100, p50: 500, p90: 900, max: 1000 },
    ],
  ];
  for (const [values, expected] of table) assert.deepEqual(distribution(values), expected, values.join(','));
});

test('summarizeDrill: RTO distribution, failures with stage and reason, losses and max writable', () => {
  const run = (n: number, over: Partial<DrillRunOutcome> = {}): DrillRunOutcome => ({
    run: n,
    rtoMs: 1000 * n,
    failedStage: null,
    reason: 'recovered',
    lostAcknowledged: 0,
    maxWritable: 1,
    ...over,
  });
  const s = summarizeDrill([
    run(1),
    run(2, { lostAcknowledged: 2 }),
    run(3, {
      failedStage: 'failover',
      reason: 'no new primary within 120 s',
      rtoMs: null,
      lostAcknowledged: null,
    }),
    run(4, { failedStage: 'rejoin', reason: 'h1 not a replica within 120 s', maxWritable: 2 }),
  ]);
  assert.equal(s.runs, 4);
  assert.deepEqual(s.rtoMs, { count: 3, min: 1000, p50: 2000, p90: 4000, max: 4000 });
  assert.deepEqual(s.failures, [
    { run: 3, stage: 'failover', reason: 'no new primary within 120 s' },
    { run: 4, stage: 'rejoin', reason: 'h1 not a replica within 120 s' },
  ]);
  assert.equal(s.lostAcknowledged, 2);
  assert.equal(s.lossUnmeasured, 1);
  assert.equal(s.maxWritable, 2);
  assert.deepEqual(summarizeDrill([]).rtoMs.count, 0);
});
