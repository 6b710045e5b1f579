// Standby lag from LSNs and replay time together (pure): idle time is not lag, a real gap is.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  parseLsn,
  standbyLag,
  type StandbyLagInput,
  type StandbyLagState,
} from '../../../src/core/monitor/lag.ts';

const T = 1_000_000;
const base: StandbyLagInput = {
  time: T,
  receiverStatus: 'streaming',
  receivedLsn: '0/3000148',
  replayedLsn: '0/3000148',
  replayAgeSeconds: 121,
};

test('parseLsn: hi/lo hex, null for absent or malformed', () => {
  assert.equal(parseLsn('0/3000148'), 0x3000148n);
  assert.equal(parseLsn('1/0'), 1n << 32n);
  assert.equal(parseLsn(null), null);
  assert.equal(parseLsn('garbage'), null);
});

const cases: {
  name: string;
  input: Partial<StandbyLagInput>;
  previous?: StandbyLagState;
  lagBytes: number | null;
  lagSeconds: number | null;
}[] = [
  {
    name: 'idle primary: everything replayed, last transaction 121 s ago -> 0',
    input: {},
    lagBytes: 0,
    lagSeconds: 0,
  },
  {
    name: 'after a standby restart the receive position restarts at the segment start (below replay) -> 0',
    input: { receivedLsn: '0/3000000' },
    lagBytes: 0,
    lagSeconds: 0,
  },
  {
    name: 'a gap opens after idle time: counted from when it opened, not from the last transaction',
    input: { receivedLsn: '0/3000200' },
    previous: { behindSince: null },
    lagBytes: 0xb8,
    lagSeconds: 0,
  },
  {
    name: 'real lag under load: received but not replayed, the gap lasts; age of the last replayed transaction',
    input: { receivedLsn: '0/4000000', replayAgeSeconds: 12.5 },
    previous: { behindSince: T - 60_000 },
    lagBytes: 0x4000000 - 0x3000148,
    lagSeconds: 12.5,
  },
  {
    name: 'replay paused while the primary writes: the gap has lasted 20 s (the last transaction is older)',
    input: { receivedLsn: '0/3100000', replayAgeSeconds: 140 },
    previous: { behindSince: T - 20_000 },
    lagBytes: 0x3100000 - 0x3000148,
    lagSeconds: 20,
  },
  {
    name: 'first observation with a gap (controller start): unknown for this reading, never a fresh-looking 0',
    input: { receivedLsn: '0/3100000', replayAgeSeconds: 600 },
    lagBytes: 0x3100000 - 0x3000148,
    lagSeconds: null,
  },
  {
    name: 'a gap and no transaction replayed since start: the gap duration',
    input: { receivedLsn: '0/3100000', replayAgeSeconds: null },
    previous: { behindSince: T - 7000 },
    lagBytes: 0x3100000 - 0x3000148,
    lagSeconds: 7,
  },
  {
    name: 'WAL receiver down, nothing left to replay: unknown (the primary may have moved on)',
    input: { receiverStatus: null },
    lagBytes: 0,
    lagSeconds: null,
  },
  {
    name: 'WAL receiver down with received WAL not replayed: that WAL is lag',
    input: { receiverStatus: null, receivedLsn: '0/3000248', replayAgeSeconds: 9 },
    previous: { behindSince: T - 30_000 },
    lagBytes: 0x100,
    lagSeconds: 9,
  },
  {
    name: 'nothing received or replayed: unknown',
    input: { receivedLsn: null, replayedLsn: null },
    lagBytes: null,
    lagSeconds: null,
  },
  {
    name: 'clock skew: a negative age is 0',
    input: { receivedLsn: '0/3100000', replayAgeSeconds: -0.4 },
    previous: { behindSince: T - 3000 },
    lagBytes: 0x3100000 - 0x3000148,
    lagSeconds: 0,
  },
];

for (const c of cases) {
  test(`standbyLag: ${c.name}`, () => {
    const r = standbyLag({ ...base, ...c.input }, c.previous);
    assert.deepEqual(
      { lagBytes: r.lagBytes, lagSeconds: r.lagSeconds },
      { lagBytes: c.lagBytes, lagSeconds: c.lagSeconds },
      r.reason,
    );
  });
}

test('standbyLag: the gap start carries over while the gap lasts and resets when it closes', () => {
  const open = standbyLag({ ...base, receivedLsn: '0/3100000' }, { behindSince: null });
  assert.equal(open.state.behindSince, T);
  const later = standbyLag(
    { ...base, time: T + 5000, receivedLsn: '0/3200000', replayAgeSeconds: 126 },
    open.state,
  );
  assert.equal(later.lagSeconds, 5);
  assert.equal(later.state.behindSince, T);
  const closed = standbyLag(
    { ...base, time: T + 6000, replayedLsn: '0/3200000', receivedLsn: '0/3200000' },
    later.state,
  );
  assert.equal(closed.lagSeconds, 0);
  assert.equal(closed.state.behindSince, null);
});

test('standbyLag: after a controller start, a lasting gap reports the full age; a closed one 0', () => {
  const first = standbyLag({ ...base, receivedLsn: '0/3100000', replayAgeSeconds: 600 });
  assert.equal(first.lagSeconds, null);
  const behind = standbyLag(
    { ...base, time: T + 1000, receivedLsn: '0/3200000', replayAgeSeconds: 601 },
    first.state,
  );
  assert.equal(behind.lagSeconds, 601);
  const closed = standbyLag(
    { ...base, time: T + 1000, replayedLsn: '0/3100000', receivedLsn: '0/3100000' },
    first.state,
  );
  assert.equal(closed.lagSeconds, 0);
});
