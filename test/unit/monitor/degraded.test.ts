// The monitor-degraded decision (pure): raised with every failed stage and its code, updated when the failures
// change, kept through fewer than N clean ticks, cleared after N.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decideDegraded, degradedReason } from '../../../src/core/monitor/degraded.ts';

const base = { cluster: 'c1', cleanTicks: 0, clearAfterTicks: 3, now: 1000 };
const storeFailed = { stage: 'alarm-store' as const, code: 'NINES_E_STORE', message: 'disk I/O error' };

test('a failed stage raises a critical monitor-degraded alarm naming the stage and the code', () => {
  const d = decideDegraded({ ...base, active: undefined, failures: [storeFailed] });
  assert.equal(d.action, 'raise');
  assert.equal(d.alarm?.key, 'monitor-degraded/c1');
  assert.equal(d.alarm?.severity, 'critical');
  assert.equal(d.reason, 'monitor degraded: alarm-store failed (NINES_E_STORE: disk I/O error)');
});

test('same failures keep the alarm; other failures update its reason; one entry per stage', () => {
  const raised = decideDegraded({ ...base, active: undefined, failures: [storeFailed] }).alarm;
  const same = decideDegraded({ ...base, active: raised, failures: [storeFailed, storeFailed] });
  assert.equal(same.action, 'keep');
  const other = decideDegraded({
    ...base,
    now: 2000,
    active: raised,
    failures: [{ stage: 'notify', code: 'NINES_E_INTERNAL', message: 'boom\nsecond line' }],
  });
  assert.equal(other.action, 'update');
  assert.equal(other.reason, 'monitor degraded: notify failed (NINES_E_INTERNAL: boom second line)');
  assert.equal(other.alarm?.raisedAt, 1000);
  assert.equal(other.alarm?.updatedAt, 2000);
});

test('cleared only after clearAfterTicks clean ticks in a row; a failure resets the count', () => {
  const raised = decideDegraded({ ...base, active: undefined, failures: [storeFailed] });
  let d = decideDegraded({ ...base, active: raised.alarm, failures: [], cleanTicks: raised.cleanTicks });
  assert.deepEqual([d.action, d.cleanTicks], ['keep', 1]);
  d = decideDegraded({ ...base, active: d.alarm, failures: [], cleanTicks: d.cleanTicks });
  assert.deepEqual([d.action, d.cleanTicks], ['keep', 2]);
  const again = decideDegraded({ ...base, active: d.alarm, failures: [storeFailed], cleanTicks: 2 });
  assert.deepEqual([again.action, again.cleanTicks], ['keep', 0]);
  d = decideDegraded({ ...base, active: d.alarm, failures: [], cleanTicks: 2 });
  assert.equal(d.action, 'clear');
  assert.equal(d.alarm, undefined);
  assert.match(d.reason, /^monitor ok: 3 clean ticks in a row \(cleared after 3\)$/);
  assert.equal(decideDegraded({ ...base, active: undefined, failures: [] }).action, 'none');
});

test('long messages are shortened to one line', () => {
  const r = degradedReason([{ stage: 'metrics', code: 'NINES_E_STORE', message: 'x'.repeat(500) }]);
  assert.ok(r.length < 260, r);
  assert.match(r, /\.\.\.\)$/);
});
