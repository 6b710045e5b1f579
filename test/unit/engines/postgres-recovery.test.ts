// postgres-streaming failover verbs, the pure parts as tables: positions from observations (received = the larger
// of received and replayed, backlog), ack state from synchronous_standby_names + pg_stat_replication, "replayed
// all it can", the listed standbys; and with a fake executor, that portCheck and fence stay within their bound
// and never throw for a host that does not answer. The host commands: postgres-recovery-commands.test.ts.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { validateSpec, type ClusterSpec, type NodeSpec } from '../../../src/core/spec.ts';
import { NinesError } from '../../../src/core/errors.ts';
import type { NodeObservation, PostgresStandbyState } from '../../../src/core/monitor/observation.ts';
import type { RecoveryContext } from '../../../src/engines/engine.ts';
import {
  ackState,
  applyBacklogSeconds,
  listedStandbys,
  observedPosition,
  reachedPosition,
  replayProgress,
  shutdownPosition,
  standbysCovered,
  walRecordEnd,
  type ReplayReading,
} from '../../../src/engines/postgres/positions.ts';
import { postgresEngine } from '../../../src/engines/postgres/index.ts';
import { synchronousStandbyNames } from '../../../src/engines/postgres/config.ts';
import { FakeExecutor } from '../../support/fake-executor.ts';

function makeSpec(synchronous: boolean, version = '15'): ClusterSpec {
  return validateSpec({
    name: 'shop',
    type: 'postgres-streaming',
    version,
    nodes: [
      { host: '10.0.0.1', role: 'primary' },
      { host: '10.0.0.2' },
      { host: 'db-3.example', port: 5440 },
    ],
    ssh: { key: 'k' },
    credentials: { admin: "adm'in pass", replication: 'repl-pass', monitor: 'mon-pass1' },
    options: { synchronous },
  }).spec;
}

const spec = makeSpec(true);
const node = (i: number): NodeSpec => {
  const n = spec.nodes[i];
  assert.ok(n);
  return n;
};

const primaryObs: NodeObservation = {
  time: 1,
  reachable: true,
  role: 'primary',
  readOnly: false,
  postgres: { timeline: 2, currentLsn: '0/5000060', slots: [] },
};

function standbyObs(
  rep: Partial<{
    receivedLsn: string | null;
    replayedLsn: string | null;
    receiverStatus: string | null;
    lagSeconds: number | null;
    replayPaused: boolean;
  }>,
): NodeObservation {
  return {
    time: 1,
    reachable: true,
    role: 'replica',
    readOnly: true,
    replication: {
      kind: 'postgres',
      source: '10.0.0.1:5432',
      receiverStatus: 'streaming',
      receivedLsn: '0/5000060',
      replayedLsn: '0/5000060',
      lagBytes: 0,
      lagSeconds: 0,
      ...rep,
    },
    postgres: { timeline: 2, currentLsn: null, slots: [] },
  };
}

describe('observedPosition', () => {
  test('a primary: received = applied = its current LSN, nothing to apply', () => {
    assert.deepEqual(observedPosition('10.0.0.1:5432', primaryObs), {
      node: '10.0.0.1:5432',
      reachable: true,
      readOnly: false,
      timeline: 2,
      role: 'primary',
      received: 0x5000060n,
      applied: 0x5000060n,
      receivedText: '0/5000060',
      appliedText: '0/5000060',
      label: 'LSN 0/5000060 (timeline 2)',
      applyBacklogSeconds: 0,
      applyError: null,
      source: null,
      linkUp: null,
    });
  });

  const cases: {
    name: string;
    obs: NodeObservation | undefined;
    want: Partial<ReturnType<typeof observedPosition>>;
  }[] = [
    {
      name: 'a streaming standby that replayed everything',
      obs: standbyObs({}),
      want: {
        role: 'replica',
        received: 0x5000060n,
        applied: 0x5000060n,
        applyBacklogSeconds: 0,
        linkUp: true,
        source: '10.0.0.1:5432',
        label: 'LSN 0/5000060 (timeline 2)',
      },
    },
    {
      name: 'restarted: the receiver starts at the segment start, below what was replayed',
      obs: standbyObs({ receivedLsn: '0/5000000', replayedLsn: '0/50041B0', receiverStatus: 'streaming' }),
      want: { received: 0x50041b0n, applied: 0x50041b0n, applyBacklogSeconds: 0, receivedText: '0/50041B0' },
    },
    {
      name: 'nothing received by streaming (WAL from pg_wal): received = replayed',
      obs: standbyObs({ receivedLsn: null, replayedLsn: '0/3000000', receiverStatus: null }),
      want: { received: 0x3000000n, applied: 0x3000000n, applyBacklogSeconds: 0, linkUp: false },
    },
    {
      name: 'its primary died: no receiver, nothing left to replay — still 0 to apply (not unknown)',
      obs: standbyObs({ receiverStatus: null, lagSeconds: null }),
      want: { applyBacklogSeconds: 0, linkUp: false },
    },
    {
      name: 'a gap under load: the shorter of the lag and the gap at 16 MiB/s',
      obs: standbyObs({ replayedLsn: '0/4000060', lagSeconds: 5 }),
      want: {
        received: 0x5000060n,
        applied: 0x4000060n,
        applyBacklogSeconds: 1,
        label: 'LSN 0/5000060 received, 0/4000060 replayed (timeline 2)',
      },
    },
    {
      name: 'a gap on the first reading (lag unknown): the gap at 16 MiB/s',
      obs: standbyObs({ replayedLsn: '0/5000000', lagSeconds: null }),
      want: { applyBacklogSeconds: 0 },
    },
    {
      name: 'replay paused with WAL left: cannot tell',
      obs: standbyObs({ replayedLsn: '0/4000000', replayPaused: true }),
      want: { applyBacklogSeconds: null },
    },
    {
      name: 'unreachable: everything unknown, the error kept',
      obs: {
        time: 1,
        reachable: false,
        role: 'unknown',
        error: { code: 'NINES_E_DB_UNREACHABLE', message: 'refused' },
      },
      want: {
        reachable: false,
        role: 'unknown',
        error: 'refused',
        received: null,
        applied: null,
        readOnly: null,
        applyBacklogSeconds: null,
        linkUp: null,
      },
    },
    {
      name: 'never observed',
      obs: undefined,
      want: { reachable: false, error: 'never observed', received: null },
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const got = observedPosition('n:5432', c.obs);
      assert.deepEqual(
        Object.fromEntries(Object.keys(c.want).map((k) => [k, got[k as keyof typeof got]])),
        c.want,
      );
      assert.equal(got.applyError, null);
    });
  }
});

test('applyBacklogSeconds table', () => {
  const rows: [bigint | null, number | null, boolean, number | null][] = [
    [null, 3, false, null],
    [0n, null, true, 0],
    [16n * 1024n * 1024n * 10n, null, false, 10],
    [16n * 1024n * 1024n * 10n, 2.5, false, 2.5],
    [1024n, 60, false, 0],
    [1024n, 0.5, true, null],
  ];
  for (const [gapBytes, lagSeconds, replayPaused, want] of rows) {
    assert.equal(applyBacklogSeconds({ gapBytes, lagSeconds, replayPaused }), want, String(gapBytes));
  }
});

describe('ackState', () => {
  const standby = (applicationName: string, syncState: string): PostgresStandbyState => ({
    applicationName,
    address: null,
    state: 'streaming',
    syncState,
    sentLsn: null,
    flushLsn: null,
    replayLsn: null,
  });
  const withPrimary = (
    names: string | undefined,
    standbys: PostgresStandbyState[] | undefined,
  ): Map<string, NodeObservation> =>
    new Map([
      [
        '10.0.0.1:5432',
        {
          ...primaryObs,
          postgres: {
            timeline: 2,
            currentLsn: '0/5000060',
            slots: [],
            ...(names === undefined ? {} : { synchronousStandbyNames: names }),
            ...(standbys === undefined ? {} : { standbys }),
          },
        },
      ],
    ]);
  const names = synchronousStandbyNames(spec);
  const rows: {
    name: string;
    spec: ClusterSpec;
    obs: Map<string, NodeObservation | undefined>;
    mode: string;
    ackSet: string[];
  }[] = [
    {
      name: 'ANY 1 with both standbys quorum',
      spec,
      obs: withPrimary(names, [standby('n10_0_0_2', 'quorum'), standby('db_3_example_5440', 'quorum')]),
      mode: 'synchronous',
      ackSet: ['10.0.0.2:5432', 'db-3.example:5440'],
    },
    {
      name: 'FIRST 1: the sync one counts, the potential one does not',
      spec,
      obs: withPrimary('FIRST 1 (n10_0_0_2, db_3_example_5440)', [
        standby('n10_0_0_2', 'sync'),
        standby('db_3_example_5440', 'potential'),
      ]),
      mode: 'synchronous',
      ackSet: ['10.0.0.2:5432'],
    },
    {
      name: 'configured, but no standby attached: degraded',
      spec,
      obs: withPrimary(names, []),
      mode: 'degraded',
      ackSet: [],
    },
    {
      name: 'a pg_basebackup sender and an async standby do not count',
      spec,
      obs: withPrimary(names, [standby('nines_clone', 'async'), standby('n10_0_0_2', 'async')]),
      mode: 'degraded',
      ackSet: [],
    },
    {
      name: 'an acknowledging standby that is no node of the spec: nothing can be proven',
      spec,
      obs: withPrimary('ANY 1 (*)', [standby('n10_0_0_2', 'quorum'), standby('stranger', 'quorum')]),
      mode: 'degraded',
      ackSet: [],
    },
    {
      name: 'asynchronous: empty setting',
      spec,
      obs: withPrimary('', [standby('n10_0_0_2', 'async')]),
      mode: 'asynchronous',
      ackSet: [],
    },
    {
      name: 'primary never observed, synchronous spec: degraded',
      spec,
      obs: new Map([['10.0.0.1:5432', undefined]]),
      mode: 'degraded',
      ackSet: [],
    },
    {
      name: 'primary never observed, asynchronous spec: asynchronous',
      spec: makeSpec(false),
      obs: new Map(),
      mode: 'asynchronous',
      ackSet: [],
    },
  ];
  for (const r of rows) {
    test(r.name, () => {
      const ack = ackState(r.spec, '10.0.0.1:5432', r.obs);
      assert.equal(ack.mode, r.mode);
      assert.deepEqual([...ack.ackSet].sort(), r.ackSet);
      assert.equal(ack.unit, 'bytes');
      assert.equal(ack.ackName, 'synchronous');
    });
  }
  test('the primary position is its last current LSN', () => {
    const ack = ackState(spec, '10.0.0.1:5432', withPrimary(names, []));
    assert.equal(ack.primaryPosition, 0x5000060n);
    assert.equal(ack.primaryPositionText, '0/5000060');
    assert.equal(ackState(spec, 'x:1', new Map()).primaryPosition, null);
  });
  test('through the engine object, with errantTransactions always 0', () => {
    const r = postgresEngine.recovery;
    assert.ok(r);
    assert.equal(r.ackState(spec, '10.0.0.1:5432', withPrimary(names, [])).mode, 'degraded');
    assert.equal(r.errantTransactions(observedPosition('a:1', primaryObs), '0/1'), 0);
  });
});

test('replayProgress table', () => {
  const r = (
    time: number,
    replayedLsn: string | null,
    receivedLsn: string | null,
    startupWait: string | null = null,
    inRecovery = true,
  ): ReplayReading => ({ time, inRecovery, receivedLsn, replayedLsn, startupWait });
  const W = 'RecoveryWalStream';
  const rows: [string, ReplayReading[], boolean][] = [
    ['replayed = received', [r(0, '0/5000060', '0/5000060')], true],
    ['replayed past received (after a restart)', [r(0, '0/5000060', '0/5000000')], true],
    ['replaying', [r(0, '0/4000000', '0/5000000', null)], false],
    ['promoted meanwhile', [r(0, null, null, null, false)], true],
    [
      'an incomplete last record: waiting for WAL for 200 ms at the same positions',
      [
        r(0, '0/4FFFF00', '0/5000000', W),
        r(60, '0/4FFFF00', '0/5000000', W),
        r(200, '0/4FFFF00', '0/5000000', W),
      ],
      true,
    ],
    [
      'waiting, but not long enough yet',
      [r(0, '0/4FFFF00', '0/5000000', W), r(150, '0/4FFFF00', '0/5000000', W)],
      false,
    ],
    [
      'received moved: the stream is alive, the stall starts again',
      [
        r(0, '0/4FFFF00', '0/5000000', W),
        r(150, '0/4FFFF00', '0/5001000', W),
        r(300, '0/4FFFF00', '0/5001000', 'RecoveryRetrieveRetryInterval'),
      ],
      false,
    ],
    [
      'replay moved in between',
      [r(0, '0/4FFF000', '0/5000000', W), r(300, '0/4FFFF00', '0/5000000', W)],
      false,
    ],
    [
      'the same positions but busy (an I/O wait) does not count',
      [r(0, '0/4FFFF00', '0/5000000', 'DataFileRead'), r(300, '0/4FFFF00', '0/5000000', 'DataFileRead')],
      false,
    ],
    ['nothing known', [r(0, null, null)], false],
  ];
  for (const [name, readings, want] of rows) {
    let stalledSince: ReplayReading | undefined;
    let done = false;
    for (const reading of readings) ({ done, stalledSince } = replayProgress(stalledSince, reading));
    assert.equal(done, want, name);
  }
});

test('walRecordEnd: MAXALIGNed length over WAL pages, skipping the page headers it continues on', () => {
  const seg = 16n * 1024n * 1024n;
  const rows: [bigint, number, bigint][] = [
    // The shutdown checkpoint of PostgreSQL 15 (114 bytes) in the middle of a page: start + 120.
    [0x7002b48n, 114, 0x7002bc0n],
    // Ends exactly at the page end: it ends there (no header of the next page).
    [0x7003f88n, 114, 0x7004000n],
    // Continues on the next page: + the short page header (24).
    [0x7003fc0n, 114, 0x7004000n + 24n + 56n],
    // Continues on the first page of the next segment: + the long header (40).
    [seg - 64n, 114, seg + 40n + 56n],
    // Longer than a page: two headers.
    [0x7002018n, 9000, 0x7002018n + 9000n + 24n],
    // Its first byte at a segment start (after the long header), ending on the second page.
    [seg * 7n + 40n, 8200, seg * 7n + 40n + 8200n + 24n],
  ];
  for (const [start, length, want] of rows) {
    assert.equal(walRecordEnd(start, length, seg), want, `${start.toString(16)} + ${length}`);
  }
});

test('shutdownPosition: the end of the shutdown checkpoint, else its start', () => {
  const stop = { checkpointLsn: '0/7002B48', checkpointLength: 114, segmentSize: 16777216, timeline: 2 };
  const p = shutdownPosition('10.0.0.2:5432', stop);
  assert.ok(p);
  assert.equal(p.receivedText, '0/7002BC0');
  assert.equal(p.received, 0x7002bc0n);
  assert.equal(p.applied, 0x7002bc0n);
  assert.equal(p.timeline, 2);
  assert.equal(p.role, 'primary');
  assert.equal(p.readOnly, true);
  assert.equal(p.label, 'LSN 0/7002BC0 (timeline 2, shut down; shutdown checkpoint at 0/7002B48)');
  assert.equal(shutdownPosition('n', { ...stop, checkpointLength: null })?.receivedText, '0/7002B48');
  assert.equal(shutdownPosition('n', { ...stop, checkpointLsn: null }), null);
});

test('reachedPosition: received and applied both at least the target', () => {
  const at = (received: bigint | null, applied: bigint | null) => ({
    ...observedPosition('a:1', primaryObs),
    received,
    applied,
  });
  assert.equal(reachedPosition(at(10n, 10n), 10n), true);
  assert.equal(reachedPosition(at(11n, 9n), 10n), false);
  assert.equal(reachedPosition(at(null, 10n), 10n), false);
  assert.equal(reachedPosition(at(9n, 9n), 10n), false);
});

test('listedStandbys / standbysCovered table', () => {
  const rows: [string, string[]][] = [
    [
      'ANY 1 ("n10_0_0_1", "n10_0_0_2", "db_3_example_5440")',
      ['n10_0_0_1', 'n10_0_0_2', 'db_3_example_5440'],
    ],
    ['FIRST 2 (a, B, "C,d")', ['a', 'b', 'C,d']],
    ['2 (x,y)', ['x', 'y']],
    ['s1, S2', ['s1', 's2']],
    ['"we""ird"', ['we"ird']],
    ['*', ['*']],
    ['', []],
  ];
  for (const [setting, want] of rows) assert.deepEqual(listedStandbys(setting), want, setting);
  assert.equal(standbysCovered(synchronousStandbyNames(spec), ['n10_0_0_2', 'db_3_example_5440']), true);
  assert.equal(standbysCovered('ANY 1 (n10_0_0_2)', ['n10_0_0_2', 'db_3_example_5440']), false);
  assert.equal(standbysCovered('ANY 1 (*)', ['anything']), true);
  assert.equal(standbysCovered('', ['a']), false);
});

describe('verbs over a fake executor: bounded, never throwing for a silent host', () => {
  const ctxWith = (fake: FakeExecutor): RecoveryContext & { lines: string[] } => {
    const lines: string[] = [];
    return {
      spec,
      hosts: { executor: () => fake },
      lines,
      log: (l) => lines.push(l),
      signal: new AbortController().signal,
    };
  };
  const recovery = () => {
    assert.ok(postgresEngine.recovery);
    return postgresEngine.recovery;
  };

  test('portCheck maps the exit status and runs the check on the vantage host', async () => {
    const fake = new FakeExecutor('10.0.0.2').on(['timeout'], { exitCode: 2 });
    assert.equal(await recovery().portCheck(ctxWith(fake), node(1), node(0), 1000), 'down');
    assert.deepEqual(fake.calls[0]?.argv.slice(0, 5), ['timeout', '-k', '0.2', '0.700', 'bash']);
    assert.deepEqual(fake.calls[0]?.argv.slice(-3), ['10.0.0.1', '5432', 'nines_admin']);
    assert.notEqual(fake.calls[0]?.options.sudo, true, 'no root needed');
    fake.on(['timeout'], { exitCode: 0 });
    assert.equal(await recovery().portCheck(ctxWith(fake), node(1), node(0), 1000), 'up');
  });

  test('portCheck: a vantage host that does not answer is unknown, within the bound', async () => {
    const fake = new FakeExecutor('10.0.0.2').on(['timeout'], { delayMs: 10_000 });
    const start = Date.now();
    assert.equal(await recovery().portCheck(ctxWith(fake), node(1), node(0), 300), 'unknown');
    assert.ok(Date.now() - start < 1000, `${Date.now() - start} ms`);
    const down = new FakeExecutor('10.0.0.2').on(['timeout'], {
      error: new NinesError('NINES_E_HOST_UNREACHABLE', '10.0.0.2:22 refused'),
    });
    assert.equal(await recovery().portCheck(ctxWith(down), node(1), node(0), 300), 'unknown');
  });

  test('fence: stop script output -> fenced; a silent host -> fenced: false within the bound', async () => {
    const ok = new FakeExecutor('10.0.0.1').on(['sh', '-c'], {
      stdout:
        'standby_signal=1\nhow=immediate\nrunning=0\nstate=in production\ncheckpoint=0/3000028\ntimeline=1\n',
    });
    const ctx = ctxWith(ok);
    const fenced = await recovery().fence(ctx, node(0), 4500);
    assert.deepEqual(fenced, {
      fenced: true,
      how: 'server stopped (immediate shutdown after the fast one did not finish); standby.signal written: a restart comes up as a standby',
    });
    // 40% of the 4.5 s budget for the fast shutdown, 30% for the immediate one, in tenths of a second (the
    // budget has run a millisecond or so by then).
    const [name, version, port, fast, immediate] = ok.calls[0]?.argv.slice(3) ?? [];
    assert.deepEqual([name, version, port], ['nines-stop', '15', '5432']);
    assert.ok(fast === '17' || fast === '18', fast);
    assert.ok(immediate === '13', immediate);
    assert.equal(ok.calls[0]?.options.sudo, true);

    const silent = new FakeExecutor('10.0.0.1').on(['sh', '-c'], { delayMs: 10_000 });
    const start = Date.now();
    const result = await recovery().fence(ctxWith(silent), node(0), 300);
    assert.equal(result.fenced, false);
    assert.match(result.how, /^unreachable: no answer within 300 ms/);
    assert.ok(Date.now() - start < 1000, `${Date.now() - start} ms`);

    const refused = new FakeExecutor('10.0.0.1').on(['sh', '-c'], {
      error: new NinesError('NINES_E_HOST_UNREACHABLE', '10.0.0.1:22 refused'),
    });
    const r = await recovery().fence(ctxWith(refused), node(0), 2000);
    assert.equal(r.fenced, false);
    assert.match(r.how, /^unreachable: .*10\.0\.0\.1:22 refused/);
  });

  test('fence: a server that would not stop is not fenced', async () => {
    const stuck = new FakeExecutor('10.0.0.1').on(['sh', '-c'], {
      stdout: 'standby_signal=1\nhow=immediate-failed\nrunning=1\n',
    });
    const r = await recovery().fence(ctxWith(stuck), node(0), 2000);
    assert.equal(r.fenced, false);
  });

  test('readPosition of a node that refuses connections is unreachable, never a throw', async () => {
    const fake = new FakeExecutor('127.0.0.1');
    const local: NodeSpec = { host: '127.0.0.1', port: 1, datacenter: 'default', priority: 100 };
    const pos = await recovery().readPosition(ctxWith(fake), local, 1000);
    assert.equal(pos.reachable, false);
    assert.equal(pos.role, 'unknown');
    assert.match(pos.error ?? '', /127\.0\.0\.1:1/);
    assert.ok(!(pos.error ?? '').includes(spec.credentials.admin));
  });

  test('waitPosition refuses a position that is not an LSN', async () => {
    await assert.rejects(
      recovery().waitPosition(ctxWith(new FakeExecutor()), node(1), '0-1-5', 1000),
      (e: unknown) => e instanceof NinesError && e.code === 'NINES_E_INVALID_ARGUMENT',
    );
  });
});
