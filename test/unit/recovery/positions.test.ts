import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  errantEntries,
  formatGtidPosition,
  formatLsn,
  gtidContains,
  gtidGap,
  gtidProgress,
  parseGtidPosition,
  parseLsn,
} from '../../../src/core/recovery/positions.ts';

function pos(text: string) {
  const p = parseGtidPosition(text);
  assert.ok(p, `parses ${text}`);
  return p;
}

test('GTID positions parse as MariaDB prints them and refuse anything ambiguous', () => {
  assert.equal(formatGtidPosition(pos('1-3-20,\n 0-1-5531')), '0-1-5531,1-3-20');
  assert.equal(pos('').size, 0);
  for (const bad of ['0-1', '0-1-x', '0-1-5,0-2-6', '-1-1-1', '0-1-5;1-1-1']) {
    assert.equal(parseGtidPosition(bad), null, bad);
  }
  assert.equal(pos('0-1-18446744073709551615').get(0)?.seq, 18446744073709551615n);
});

test('containment and gaps are per domain', () => {
  const primary = pos('0-1-100,1-2-50');
  assert.ok(gtidContains(primary, pos('0-1-99,1-2-50')));
  assert.ok(!gtidContains(pos('0-1-99,1-2-50'), primary));
  assert.ok(!gtidContains(pos('0-1-200'), primary), 'a missing domain is not contained');
  assert.equal(gtidGap(primary, pos('0-1-97,1-2-50')), 3n);
  assert.equal(gtidGap(primary, pos('0-1-100')), 50n);
  assert.equal(gtidGap(pos('0-1-90'), primary), 0n);
});

test('progress is consistent with containment (property)', () => {
  const arbPos = fc
    .uniqueArray(fc.tuple(fc.integer({ min: 0, max: 5 }), fc.bigInt({ min: 0n, max: 10n ** 12n })), {
      selector: (t) => t[0],
      maxLength: 4,
    })
    .map((entries) => entries.map(([d, s]) => `${d}-1-${s}`).join(','));
  fc.assert(
    fc.property(arbPos, arbPos, (a, b) => {
      const pa = pos(a);
      const pb = pos(b);
      if (gtidContains(pa, pb)) assert.ok(gtidProgress(pa) >= gtidProgress(pb));
      assert.equal(gtidGap(pa, pb) === 0n, gtidContains(pb, pa));
    }),
  );
});

test('errant transactions: written by a server that never was a primary, beyond the old primary', () => {
  const oldPrimary = pos('0-1-100');
  const writers = new Set([1]);
  assert.deepEqual(errantEntries(pos('0-1-100'), oldPrimary, writers), []);
  assert.deepEqual(errantEntries(pos('0-1-98'), oldPrimary, writers), []);
  const errant = errantEntries(pos('0-3-101'), oldPrimary, writers);
  assert.equal(errant.length, 1);
  assert.equal(errant[0]?.server, 3);
  // A later writer (a promoted replica) is a known writer: not errant.
  assert.deepEqual(errantEntries(pos('0-3-101'), oldPrimary, new Set([1, 3])), []);
  // A local write in a domain the old primary never used is errant too.
  assert.equal(errantEntries(pos('0-1-100,7-3-1'), oldPrimary, writers).length, 1);
});

test('LSNs parse to byte positions and print back', () => {
  assert.equal(parseLsn('0/3000148'), 0x3000148n);
  assert.equal(parseLsn('16/B374D848'), (0x16n << 32n) | 0xb374d848n);
  assert.equal(formatLsn(parseLsn('16/B374D848') ?? 0n), '16/B374D848');
  for (const bad of [null, undefined, '', '16', '16/', 'G/1', '1/123456789'])
    assert.equal(parseLsn(bad), null);
  assert.ok((parseLsn('1/0') ?? 0n) > (parseLsn('0/FFFFFFFF') ?? 0n));
});
