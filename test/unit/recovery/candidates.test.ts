import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  compareCandidates,
  rankCandidates,
  type CandidateInput,
  type RankingContext,
} from '../../../src/core/recovery/candidates.ts';

const ctx: RankingContext = { primaryDatacenter: 'dc1', maxApplyBacklogSeconds: 10 };
const c = (node: string, over: Partial<CandidateInput> = {}): CandidateInput => ({
  node,
  reachable: true,
  received: 100n,
  applied: 100n,
  applyBacklogSeconds: 0,
  datacenter: 'dc1',
  priority: 100,
  ...over,
});

const order = (inputs: CandidateInput[], context = ctx) =>
  rankCandidates(inputs, context).candidates.map((x) => x.node);

test('the order: received, then applied, then datacenter, then priority, then name', () => {
  const table: Array<[string, CandidateInput[], string[]]> = [
    [
      'most received wins over everything else',
      [c('a', { received: 99n, priority: 1000 }), c('b')],
      ['b', 'a'],
    ],
    ['then most applied', [c('a', { applied: 90n }), c('b', { applied: 95n })], ['b', 'a']],
    ["then the old primary's datacenter", [c('a', { datacenter: 'dc2', priority: 900 }), c('b')], ['b', 'a']],
    ['then higher priority', [c('a', { priority: 50 }), c('b', { priority: 60 })], ['b', 'a']],
    ['then the name, ascending', [c('h3:3306'), c('h2:3306')], ['h2:3306', 'h3:3306']],
  ];
  for (const [name, inputs, expected] of table) assert.deepEqual(order(inputs), expected, name);
});

test('exclusions say why, and never leave an ineligible node in the list', () => {
  const { candidates, excluded } = rankCandidates(
    [
      c('down', { reachable: false, received: 1000n }),
      c('zero', { priority: 0, received: 1000n }),
      c('dnp', { doNotPromote: true }),
      c('fenced', { fenced: true }),
      c('rejoin', { rejoining: true }),
      c('maint', { inMaintenance: true }),
      c('unknown', { received: null }),
      c('broken', { applyError: 'Duplicate entry' }),
      c('nobacklog', { applyBacklogSeconds: null }),
      c('slow', { applyBacklogSeconds: 11 }),
      c('errant', { errantTransactions: 2 }),
      c('ok'),
    ],
    ctx,
  );
  assert.deepEqual(
    candidates.map((x) => x.node),
    ['ok'],
  );
  assert.deepEqual(Object.fromEntries(excluded.map((e) => [e.node, e.reason])), {
    down: 'not reachable from the controller',
    zero: 'priority 0 (never promoted)',
    dnp: 'marked do-not-promote',
    fenced: 'fenced',
    rejoin: 'still rejoining',
    maint: 'in maintenance',
    unknown: 'its received position is unknown',
    broken: 'its applier failed: Duplicate entry',
    nobacklog: 'cannot tell how long it needs to apply what it received',
    slow: 'needs 11 s to apply its backlog (max 10 s)',
    errant: 'has 2 errant transaction(s) the old primary never had',
  });
  assert.deepEqual(order([c('errant', { errantTransactions: 2 })], { ...ctx, force: true }), ['errant']);
  assert.deepEqual(order([c('down', { reachable: false })], { ...ctx, force: true }), []);
});

test('the first candidate explains itself', () => {
  const { candidates } = rankCandidates([c('h3', { received: 90n, datacenter: 'dc2' }), c('h2')], ctx);
  assert.equal(candidates[0]?.reason, 'most advanced, same datacenter, priority 100');
  assert.equal(candidates[1]?.reason, 'behind the first candidate, datacenter dc2, priority 100');
});

test('the order is total and does not depend on input order (property)', () => {
  const arb = fc.record({
    node: fc.constantFrom('h1', 'h2', 'h3', 'h4', 'h5'),
    reachable: fc.constant(true),
    received: fc.bigInt({ min: 0n, max: 5n }),
    applied: fc.bigInt({ min: 0n, max: 5n }),
    applyBacklogSeconds: fc.constant(0),
    datacenter: fc.constantFrom('dc1', 'dc2'),
    priority: fc.integer({ min: 1, max: 3 }),
  });
  fc.assert(
    fc.property(fc.uniqueArray(arb, { selector: (x) => x.node, minLength: 1, maxLength: 5 }), (inputs) => {
      const a = order(inputs);
      const b = order([...inputs].reverse());
      assert.deepEqual(a, b);
      for (const x of inputs) {
        for (const y of inputs) {
          assert.ok(Math.sign(compareCandidates(x, y, ctx)) + Math.sign(compareCandidates(y, x, ctx)) === 0);
        }
      }
    }),
  );
});
