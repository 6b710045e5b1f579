import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { alarmKey, evaluateAlarms, applyEvaluation, type Alarm } from '../../../src/core/monitor/alarms.ts';
import {
  alarmTransitions,
  channelAccepts,
  decideNotifications,
  pruneLedger,
  type AlarmTransition,
  type NotifyLedger,
  type TransitionKind,
} from '../../../src/core/monitor/notify.ts';
import type { AlarmSeverity } from '../../../src/core/monitor/alarms.ts';
import { T0, mariaCluster, mariaReplica, node, unreachable } from '../monitor/fixtures.ts';

function tr(
  kind: TransitionKind,
  severity: AlarmSeverity = 'critical',
  cluster = 'prod',
  time = T0,
): AlarmTransition {
  const alarm: Alarm = {
    key: alarmKey('node-down', cluster, 'h2:3306'),
    rule: 'node-down',
    cluster,
    node: 'h2:3306',
    severity,
    reason: 'node h2 down',
    raisedAt: T0,
    updatedAt: T0,
  };
  return { kind, alarm, reason: alarm.reason, time };
}

function sequence(steps: readonly AlarmTransition[]): string[] {
  let ledger: NotifyLedger = new Map();
  const sent: string[] = [];
  for (const t of steps) {
    const d = decideNotifications([t], ledger);
    ledger = d.ledger;
    sent.push(d.notify.map((n) => `${n.kind} ${n.alarm.severity}`).join(',') || '-');
  }
  return sent;
}

describe('decideNotifications: change only, dedup', () => {
  test('raised twice without a clear gives one notification', () => {
    assert.deepEqual(sequence([tr('raised'), tr('raised')]), ['raised critical', '-']);
  });
  test('raise, clear, raise again notifies each change', () => {
    assert.deepEqual(sequence([tr('raised'), tr('cleared'), tr('raised')]), [
      'raised critical',
      'cleared critical',
      'raised critical',
    ]);
  });
  test('a second clear is not sent', () => {
    assert.deepEqual(sequence([tr('raised'), tr('cleared'), tr('cleared')]), [
      'raised critical',
      'cleared critical',
      '-',
    ]);
  });
  test('a raise at a higher severity becomes an escalation; a lower one is dropped', () => {
    assert.deepEqual(sequence([tr('raised', 'warning'), tr('raised', 'critical'), tr('raised', 'warning')]), [
      'raised warning',
      'escalated critical',
      '-',
    ]);
  });
  test('an escalation is sent once', () => {
    assert.deepEqual(
      sequence([tr('raised', 'warning'), tr('escalated', 'critical'), tr('escalated', 'critical')]),
      ['raised warning', 'escalated critical', '-'],
    );
  });
  test('a clear with no ledger entry is sent (the raise may predate a restart)', () => {
    assert.deepEqual(sequence([tr('cleared')]), ['cleared critical']);
  });
  test('skipped transitions carry a reason', () => {
    const first = decideNotifications([tr('raised')], new Map());
    const second = decideNotifications([tr('raised')], first.ledger);
    assert.equal(
      second.skipped[0]?.reason,
      'node-down/prod/h2:3306 already notified as raised (critical) and not cleared since',
    );
  });
  test('pruneLedger forgets old clears, keeps open raises', () => {
    const ledger: NotifyLedger = new Map([
      ['a', { state: 'cleared', severity: 'warning', at: T0 - 10_000 }],
      ['b', { state: 'cleared', severity: 'warning', at: T0 - 10 }],
      ['c', { state: 'raised', severity: 'critical', at: T0 - 10_000 }],
    ]);
    assert.deepEqual([...pruneLedger(ledger, T0, 1000).keys()], ['b', 'c']);
  });
});

describe('alarmTransitions from evaluations: nothing while an alarm stays active', () => {
  test('down, down, up -> raised, nothing, cleared', () => {
    const down = mariaCluster({ h2: node('h2', unreachable(), { failures: 2, last: mariaReplica() }) });
    let active: Alarm[] = [];
    const kinds: string[][] = [];
    for (const s of [down, down, mariaCluster()]) {
      const e = evaluateAlarms(active, s);
      kinds.push(alarmTransitions(e, T0).map((t) => `${t.kind} ${t.alarm.rule}`));
      active = applyEvaluation(active, e);
    }
    assert.deepEqual(kinds, [
      ['raised node-down', 'raised cluster-state'],
      [],
      ['cleared node-down', 'cleared cluster-state'],
    ]);
  });

  test('an escalation is a transition, a de-escalation is not', () => {
    const at = (pct: number) => mariaCluster({ h2: node('h2', mariaReplica({ host: { diskPct: pct } })) });
    let active: Alarm[] = [];
    const kinds: string[][] = [];
    for (const s of [at(90), at(97), at(90)]) {
      const e = evaluateAlarms(active, s);
      kinds.push(alarmTransitions(e, T0).map((t) => `${t.kind} ${t.alarm.severity}`));
      active = applyEvaluation(active, e);
    }
    assert.deepEqual(kinds, [['raised warning'], ['escalated critical'], []]);
  });
});

describe('channelAccepts', () => {
  const cases: [
    string,
    { minSeverity: AlarmSeverity; clusters?: string[] },
    AlarmTransition,
    boolean,
    string,
  ][] = [
    [
      'warning channel takes critical',
      { minSeverity: 'warning' },
      tr('raised', 'critical'),
      true,
      'critical alarm of cluster prod',
    ],
    [
      'critical channel drops warning',
      { minSeverity: 'critical' },
      tr('raised', 'warning'),
      false,
      "severity warning below the channel's minimum critical",
    ],
    [
      'cluster filter drops others',
      { minSeverity: 'warning', clusters: ['dev'] },
      tr('raised'),
      false,
      "cluster prod is not in the channel's clusters",
    ],
    [
      'cluster filter keeps its own',
      { minSeverity: 'warning', clusters: ['dev', 'prod'] },
      tr('cleared'),
      true,
      'critical alarm of cluster prod',
    ],
  ];
  for (const [name, filter, t, accept, reason] of cases) {
    test(name, () => assert.deepEqual(channelAccepts(filter, t), { accept, reason }));
  }
});
