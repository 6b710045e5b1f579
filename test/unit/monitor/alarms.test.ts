import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  acknowledgeAlarm,
  alarmKey,
  applyEvaluation,
  evaluateAlarms,
  type Alarm,
  type AlarmConfig,
  type AlarmRuleId,
  type AlarmSeverity,
} from '../../../src/core/monitor/alarms.ts';
import type { ClusterSnapshot, NodeObservation } from '../../../src/core/monitor/observation.ts';
import {
  T0,
  galera,
  galeraCluster,
  mariaCluster,
  mariaReplica,
  node,
  pgStandby,
  primary,
  snapshot,
  unreachable,
} from './fixtures.ts';

function alarm(
  rule: AlarmRuleId,
  severity: AlarmSeverity,
  nodeAddr?: string,
  extra: Partial<Alarm> = {},
): Alarm {
  return {
    key: alarmKey(rule, 'prod', nodeAddr),
    rule,
    cluster: 'prod',
    ...(nodeAddr ? { node: nodeAddr } : {}),
    severity,
    reason: 'before',
    raisedAt: T0 - 60_000,
    updatedAt: T0 - 60_000,
    ...extra,
  };
}

/** A compact view of an evaluation: "key severity" per list, keep with its change. */
function run(
  active: readonly Alarm[],
  s: ClusterSnapshot,
  config?: AlarmConfig,
  rules?: readonly AlarmRuleId[],
) {
  const e = evaluateAlarms(active, s, config);
  const pick = (a: Alarm) => rules === undefined || rules.includes(a.rule);
  return {
    raise: e.raise.filter((d) => pick(d.alarm)).map((d) => `${d.alarm.key} ${d.alarm.severity}`),
    clear: e.clear.filter((d) => pick(d.alarm)).map((d) => d.alarm.key),
    keep: e.keep.filter((d) => pick(d.alarm)).map((d) => `${d.alarm.key} ${d.alarm.severity} ${d.change}`),
    suppressed: e.suppressed.filter((d) => rules === undefined || rules.includes(d.rule)).map((d) => d.key),
    e,
  };
}

const withHost = (host: Partial<NonNullable<NodeObservation['host']>>) => mariaReplica({ host });
const H2 = 'h2:3306';

describe('evaluateAlarms: node down', () => {
  test('a healthy cluster raises nothing', () => {
    const r = run([], mariaCluster());
    assert.deepEqual([r.raise, r.clear, r.keep, r.suppressed], [[], [], [], []]);
  });

  test('pending raises nothing (PENDING before DOWN)', () => {
    const r = run([], mariaCluster({ h2: node('h2', unreachable(), { failures: 1, last: mariaReplica() }) }));
    assert.deepEqual(r.raise, []);
  });

  test('down raises node-down (critical) and cluster-state (warning), with reasons', () => {
    const r = run([], mariaCluster({ h2: node('h2', unreachable(), { failures: 2, last: mariaReplica() }) }));
    assert.deepEqual(r.raise, ['node-down/prod/h2:3306 critical', 'cluster-state/prod warning']);
    assert.equal(
      r.e.raise[0]?.reason,
      'node h2 down: 2 failed probes in a row (down after 2): NINES_E_HOST_UNREACHABLE connect ECONNREFUSED',
    );
    assert.equal(r.e.raise[1]?.reason, 'cluster prod degraded: replica h2 down');
    assert.equal(r.e.raise[0]?.alarm.raisedAt, T0);
  });

  test('still down: kept, not raised again', () => {
    const s = mariaCluster({ h2: node('h2', unreachable(), { failures: 2, last: mariaReplica() }) });
    const first = evaluateAlarms([], s);
    const active = applyEvaluation([], first);
    const r = run(active, s);
    assert.deepEqual(r.raise, []);
    assert.deepEqual(r.keep, ['node-down/prod/h2:3306 critical none', 'cluster-state/prod warning none']);
  });

  test('back up: both cleared', () => {
    const active = [alarm('node-down', 'critical', H2), alarm('cluster-state', 'warning')];
    const r = run(active, mariaCluster());
    assert.deepEqual(r.clear, ['node-down/prod/h2:3306', 'cluster-state/prod']);
    assert.equal(r.e.clear[0]?.reason, 'node h2 up');
    assert.equal(r.e.clear[1]?.reason, 'cluster prod healthy: primary h1, 2 replicas');
  });

  test('primary down escalates cluster-state from degraded to failed', () => {
    const active = [alarm('cluster-state', 'warning')];
    const r = run(
      active,
      mariaCluster({ h1: node('h1', unreachable(), { failures: 2, last: primary() }) }),
      {},
      ['cluster-state'],
    );
    assert.deepEqual(r.keep, ['cluster-state/prod critical escalated']);
    assert.equal(r.e.keep[0]?.reason, 'cluster prod failed: no writable primary (primary h1 down)');
  });
});

describe('evaluateAlarms: replication', () => {
  test('IO thread stopped raises replication-broken', () => {
    const s = mariaCluster({ h2: node('h2', mariaReplica({}, { ioRunning: false, lastError: 'boom' })) });
    const r = run([], s, {}, ['replication-broken']);
    assert.deepEqual(r.raise, ['replication-broken/prod/h2:3306 critical']);
    assert.equal(r.e.raise[0]?.reason, 'replica h2 replication broken: IO thread stopped (boom)');
  });

  test('WAL receiver not streaming raises replication-broken', () => {
    const s = snapshot('postgres-streaming', [
      node('p1', primary(), { port: 5432 }),
      node('p2', pgStandby({}, { receiverStatus: null }), { port: 5432 }),
    ]);
    assert.deepEqual(run([], s, {}, ['replication-broken']).raise, [
      'replication-broken/prod/p2:5432 critical',
    ]);
  });

  test('a replica promoted to primary clears its replication alarm', () => {
    const s = mariaCluster({
      h1: node('h1', unreachable(), { failures: 5, last: primary() }),
      h2: node('h2', primary()),
    });
    const r = run([alarm('replication-broken', 'critical', H2)], s, {}, ['replication-broken']);
    assert.deepEqual(r.clear, ['replication-broken/prod/h2:3306']);
    assert.equal(r.e.clear[0]?.reason, 'h2 is primary, not a replica');
  });

  // lag warning at 30 s, clear margin 5 s: raised above 30, cleared at or below 25
  const lagCases: [string, number, AlarmSeverity | undefined, string][] = [
    ['below the level, nothing active', 29, undefined, 'none'],
    ['above the level raises', 31, undefined, 'raise warning'],
    ['inside the margin keeps', 28, 'warning', 'keep warning'],
    ['at the clear level clears', 25, 'warning', 'clear'],
    ['inside the margin with nothing active stays quiet', 28, undefined, 'none'],
  ];
  for (const [name, lag, active, expected] of lagCases) {
    test(`lag hysteresis: ${name}`, () => {
      const s = mariaCluster({ h2: node('h2', mariaReplica({}, { lagSeconds: lag })) });
      const r = run(active ? [alarm('replication-lag', active, H2)] : [], s, {}, ['replication-lag']);
      const got =
        r.raise.length > 0
          ? `raise ${r.e.raise[0]?.alarm.severity}`
          : r.clear.length > 0
            ? 'clear'
            : r.keep.length > 0
              ? `keep ${r.e.keep.find((k) => k.alarm.rule === 'replication-lag')?.alarm.severity}`
              : 'none';
      assert.equal(got, expected);
    });
  }

  test('lag reason names value and level', () => {
    const s = mariaCluster({ h2: node('h2', mariaReplica({}, { lagSeconds: 31 })) });
    assert.equal(run([], s).e.raise[0]?.reason, 'replica h2 lagging 31 s (warning above 30 s)');
  });

  test('a PostgreSQL lag reason also names the WAL not replayed yet', () => {
    const s = snapshot('postgres-streaming', [
      node('p1', primary(), { port: 5432 }),
      node('p2', pgStandby({}, { lagSeconds: 31, lagBytes: 64232 }), { port: 5432 }),
    ]);
    assert.equal(
      run([], s, {}, ['replication-lag']).e.raise[0]?.reason,
      'replica p2 lagging 31 s (warning above 30 s); 64232 bytes not replayed',
    );
  });
});

describe('evaluateAlarms: writers in a single-writer cluster', () => {
  test('a replica with read_only off raises writable-replica and multiple-writers (critical) at once', () => {
    const s = mariaCluster({ h2: node('h2', mariaReplica({ readOnly: false })) });
    const r = run([], s, {}, ['writable-replica', 'multiple-writers']);
    assert.deepEqual(r.raise, ['writable-replica/prod/h2:3306 critical', 'multiple-writers/prod critical']);
    assert.equal(
      r.e.raise[0]?.reason,
      'replica h2 accepts writes (read-only is off) while replicating from h1:3306',
    );
    assert.equal(
      r.e.raise[1]?.reason,
      '2 writable nodes in cluster prod: h1 (primary), h2 (replica); only the primary may accept writes',
    );
    assert.equal(r.e.health.state, 'failed');
  });

  test('two writable primaries raise multiple-writers naming both', () => {
    const s = snapshot('postgres-streaming', [
      node('p1', primary(), { port: 5432 }),
      node('p2', primary(), { port: 5432 }),
    ]);
    const r = run([], s, {}, ['writable-replica', 'multiple-writers']);
    assert.deepEqual(r.raise, ['multiple-writers/prod critical']);
    assert.match(
      r.e.raise[0]?.reason ?? '',
      /2 writable nodes in cluster prod: p1 \(primary\), p2 \(primary\)/,
    );
  });

  test('read-only again: both cleared', () => {
    const active = [alarm('writable-replica', 'critical', H2), alarm('multiple-writers', 'critical')];
    const r = run(active, mariaCluster(), {}, ['writable-replica', 'multiple-writers']);
    assert.deepEqual(r.clear, ['writable-replica/prod/h2:3306', 'multiple-writers/prod']);
  });

  test('a writer that stops answering keeps multiple-writers (it may still take writes)', () => {
    const active = [alarm('multiple-writers', 'critical')];
    const s = mariaCluster({ h2: node('h2', unreachable(), { failures: 3, last: primary() }) });
    const r = run(active, s, {}, ['multiple-writers']);
    assert.deepEqual(r.clear, []);
    assert.deepEqual(r.keep, ['multiple-writers/prod critical none']);
  });

  test('galera is multi-writer: no writer rules', () => {
    const r = run([], galeraCluster(), {}, ['writable-replica', 'multiple-writers']);
    assert.deepEqual(r.raise, []);
  });

  test('a healthy cluster raises neither', () => {
    assert.deepEqual(run([], mariaCluster(), {}, ['writable-replica', 'multiple-writers']).raise, []);
  });
});

describe('evaluateAlarms: host stats, hysteresis on two levels', () => {
  // disk: warning 85, critical 95, margin 3
  const cases: [string, number, AlarmSeverity | undefined, string][] = [
    ['86% raises warning', 86, undefined, 'raise warning'],
    ['96% raises critical', 96, undefined, 'raise critical'],
    ['96% escalates an active warning', 96, 'warning', 'keep critical escalated'],
    ['93% keeps critical (clears at 92)', 93, 'critical', 'keep critical updated'],
    ['92% de-escalates to warning', 92, 'critical', 'keep warning deescalated'],
    ['83% keeps warning (clears at 82)', 83, 'warning', 'keep warning updated'],
    ['82% clears', 82, 'warning', 'clear'],
    ['40% with nothing active', 40, undefined, 'none'],
  ];
  for (const [name, pct, active, expected] of cases) {
    test(name, () => {
      const s = mariaCluster({ h2: node('h2', withHost({ diskPct: pct })) });
      const r = run(active ? [alarm('disk-high', active, H2)] : [], s, {}, ['disk-high']);
      const k = r.e.keep[0];
      const got = r.raise.length
        ? `raise ${r.e.raise[0]?.alarm.severity}`
        : r.clear.length
          ? 'clear'
          : k
            ? `keep ${k.alarm.severity} ${k.change}`
            : 'none';
      assert.equal(got, expected);
    });
  }

  test('no data (node down) keeps the alarm instead of clearing it', () => {
    const s = mariaCluster({ h2: node('h2', unreachable(), { failures: 3 }) });
    const r = run([alarm('disk-high', 'warning', H2)], s, {}, ['disk-high']);
    assert.deepEqual(r.keep, ['disk-high/prod/h2:3306 warning none']);
    assert.equal(r.e.keep[0]?.reason, 'no data: node h2 down');
  });

  test('memory, cpu and long query rules', () => {
    const s = mariaCluster({
      h2: node('h2', mariaReplica({ host: { memPct: 98, cpuPct: 95 }, longestQuerySeconds: 400 })),
    });
    const r = run([], s, {}, ['memory-high', 'cpu-high', 'long-query']);
    assert.deepEqual(r.raise, [
      'memory-high/prod/h2:3306 critical',
      'cpu-high/prod/h2:3306 warning',
      'long-query/prod/h2:3306 warning',
    ]);
    assert.equal(r.e.raise[2]?.reason, 'oldest query on h2 running 400 s (warning above 300 s)');
  });
});

describe('evaluateAlarms: acknowledge', () => {
  test('an acknowledged alarm stays active and acked', () => {
    const acked = acknowledgeAlarm(alarm('disk-high', 'warning', H2), 'alice', T0 - 1000, 'on it');
    const s = mariaCluster({ h2: node('h2', withHost({ diskPct: 88 })) });
    const r = run([acked], s, {}, ['disk-high']);
    assert.equal(r.e.keep[0]?.alarm.acknowledged?.by, 'alice');
    assert.equal(r.e.keep[0]?.change, 'updated');
  });

  test('an escalation removes the acknowledgement', () => {
    const acked = acknowledgeAlarm(alarm('disk-high', 'warning', H2), 'alice', T0 - 1000);
    const s = mariaCluster({ h2: node('h2', withHost({ diskPct: 97 })) });
    const k = run([acked], s, {}, ['disk-high']).e.keep[0];
    assert.equal(k?.change, 'escalated');
    assert.equal(k?.alarm.acknowledged, undefined);
  });

  test('an acknowledged alarm still clears', () => {
    const acked = acknowledgeAlarm(alarm('node-down', 'critical', H2), 'alice', T0 - 1000);
    assert.deepEqual(run([acked], mariaCluster(), {}, ['node-down']).clear, ['node-down/prod/h2:3306']);
  });
});

describe('evaluateAlarms: maintenance', () => {
  const until = T0 + 3_600_000;
  test('node maintenance suppresses raising for that node', () => {
    const s = mariaCluster({
      h2: node('h2', unreachable(), { failures: 5, maintenance: { until, reason: 'disk swap' } }),
    });
    const r = run([], s);
    assert.deepEqual(r.raise, []);
    assert.deepEqual(r.suppressed, ['node-down/prod/h2:3306']);
    assert.match(
      r.e.suppressed[0]?.reason ?? '',
      /\(suppressed: node h2 in maintenance until 2026-01-01T13:00:00.000Z \(disk swap\)\)$/,
    );
  });

  test('node maintenance does not suppress other nodes', () => {
    const s = mariaCluster({
      h2: node('h2', unreachable(), { failures: 5, maintenance: { until } }),
      h3: node('h3', unreachable(), { failures: 5 }),
    });
    assert.deepEqual(run([], s, {}, ['node-down']).raise, ['node-down/prod/h3:3306 critical']);
  });

  test('cluster maintenance suppresses every rule', () => {
    const s = mariaCluster({ h1: node('h1', unreachable(), { failures: 5 }) }, { maintenance: { until } });
    const r = run([], s);
    assert.deepEqual(r.raise, []);
    assert.deepEqual(r.suppressed, ['node-down/prod/h1:3306']);
  });

  test('maintenance in the past suppresses nothing', () => {
    const s = mariaCluster({
      h2: node('h2', unreachable(), { failures: 5, maintenance: { until: T0 - 1 } }),
    });
    assert.deepEqual(run([], s, {}, ['node-down']).raise, ['node-down/prod/h2:3306 critical']);
  });

  test('an alarm whose condition ends during maintenance is cleared', () => {
    const s = mariaCluster({ h2: node('h2', mariaReplica(), { maintenance: { until } }) });
    assert.deepEqual(run([alarm('node-down', 'critical', H2)], s, {}, ['node-down']).clear, [
      'node-down/prod/h2:3306',
    ]);
  });

  test('maintenance blocks an escalation but keeps the alarm', () => {
    const s = mariaCluster({ h2: node('h2', withHost({ diskPct: 97 }), { maintenance: { until } }) });
    const r = run([alarm('disk-high', 'warning', H2)], s, {}, ['disk-high']);
    assert.deepEqual(r.keep, ['disk-high/prod/h2:3306 warning none']);
    assert.deepEqual(r.suppressed, ['disk-high/prod/h2:3306']);
  });
});

describe('evaluateAlarms: config, removed nodes, other clusters, galera', () => {
  test('a disabled rule raises nothing and clears its active alarms', () => {
    const s = mariaCluster({ h2: node('h2', withHost({ diskPct: 99 })) });
    const r = run([alarm('disk-high', 'critical', H2)], s, { disabledRules: ['disk-high'] });
    assert.deepEqual(r.raise, []);
    assert.deepEqual(r.clear, ['disk-high/prod/h2:3306']);
    assert.equal(r.e.clear[0]?.reason, 'rule disk-high disabled');
  });

  test('an alarm of a node no longer in the cluster is cleared', () => {
    const r = run([alarm('node-down', 'critical', 'h9:3306')], mariaCluster());
    assert.deepEqual(r.clear, ['node-down/prod/h9:3306']);
    assert.equal(r.e.clear[0]?.reason, 'h9:3306 no longer monitored in cluster prod');
  });

  test('alarms of other clusters are left alone', () => {
    const other = { ...alarm('node-down', 'critical', H2), cluster: 'dev', key: 'node-down/dev/h2:3306' };
    const r = run([other], mariaCluster());
    assert.deepEqual([r.raise, r.clear, r.keep], [[], [], []]);
  });

  test('galera: an isolated node raises non-Primary, size and cluster-state', () => {
    const s = galeraCluster({
      g1: node('g1', galera({ clusterSize: 2 })),
      g2: node('g2', galera({ clusterSize: 2 })),
      g3: node('g3', galera({ clusterStatus: 'non-Primary', clusterSize: 1 })),
    });
    const r = run([], s);
    assert.deepEqual(r.raise, [
      'galera-non-primary/prod/g3:3306 critical',
      'galera-size/prod warning',
      'cluster-state/prod warning',
    ]);
    assert.equal(r.e.raise[1]?.reason, 'galera size 2 below expected 3');
  });

  test('galera rules do not apply to replication clusters, replication rules not to galera', () => {
    const r = run([], galeraCluster({ g1: node('g1', galera({}, { longestQuerySeconds: 1 })) }));
    assert.deepEqual(r.raise, []);
    const rules = new Set(
      evaluateAlarms([], mariaCluster({ h2: node('h2', unreachable(), { failures: 9 }) })).raise.map(
        (d) => d.alarm.rule,
      ),
    );
    assert.ok(!rules.has('galera-size'));
  });

  test('applyEvaluation: raise, then clear, leaves nothing active', () => {
    const down = mariaCluster({ h2: node('h2', unreachable(), { failures: 2 }) });
    let active = applyEvaluation([], evaluateAlarms([], down));
    assert.deepEqual(
      active.map((a) => a.key),
      ['node-down/prod/h2:3306', 'cluster-state/prod'],
    );
    active = applyEvaluation(active, evaluateAlarms(active, mariaCluster()));
    assert.deepEqual(active, []);
  });
});
