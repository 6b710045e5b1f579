import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AuthLimiter } from '../../../src/core/auth-limiter.ts';

test('limit wrong tokens lock the address; one token refills after windowMs / limit', () => {
  const l = new AuthLimiter({ limit: 3, windowMs: 60_000 });
  const t0 = 1_000_000;
  assert.deepEqual(l.check('a', t0), { allowed: true });
  assert.equal(l.fail('a', t0), false);
  assert.equal(l.fail('a', t0), false);
  assert.equal(l.fail('a', t0), true, 'the third failure locks');
  assert.deepEqual(l.check('a', t0), { allowed: false, retryAfterMs: 20_000 });
  assert.deepEqual(l.check('a', t0 + 5_000), { allowed: false, retryAfterMs: 15_000 });
  assert.deepEqual(l.check('b', t0), { allowed: true }, 'other addresses are unaffected');
  assert.deepEqual(l.check('a', t0 + 20_000), { allowed: true }, 'one token back');
  assert.equal(l.fail('a', t0 + 20_000), true, 'and one failure locks again');
  assert.equal(l.check('a', t0 + 20_000).allowed, false);
});

test('a full bucket is forgotten; memory is bounded by maxAddresses', () => {
  const l = new AuthLimiter({ limit: 2, windowMs: 1000, maxAddresses: 3 });
  l.fail('a', 0);
  assert.equal(l.size, 1);
  assert.deepEqual(l.check('a', 1000), { allowed: true });
  assert.equal(l.size, 0, 'refilled completely -> forgotten');
  for (const a of ['a', 'b', 'c']) l.fail(a, 0);
  l.fail('a', 0);
  l.fail('a', 0); // a is locked out
  l.fail('d', 0); // over the bound: the fullest bucket (b or c) goes, not the locked one
  assert.equal(l.size, 3);
  assert.equal(l.check('a', 0).allowed, false);
});
