import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { classifyCluster, classifyNode, diffStates } from '../../../src/core/monitor/health.ts';
import {
  DEFAULT_THRESHOLDS,
  nextNodeSnapshot,
  resolveThresholds,
} from '../../../src/core/monitor/observation.ts';
import { isNinesError } from '../../../src/core/errors.ts';
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

describe('classifyNode', () => {
  const cases = [
    { name: 'never probed', n: node('h1', undefined), state: 'unknown', reason: 'unknown: never probed' },
    { name: 'probe ok', n: node('h1', primary()), state: 'up', reason: 'up: reachable as primary' },
    {
      name: 'first failure is pending',
      n: node('h1', unreachable(), { failures: 1, last: primary() }),
      state: 'pending',
      reason:
        'pending: 1 failed probe in a row (down after 2): NINES_E_HOST_UNREACHABLE connect ECONNREFUSED',
    },
    {
      name: 'N failures is down',
      n: node('h1', unreachable(), { failures: 2, last: primary() }),
      state: 'down',
      reason: 'down: 2 failed probes in a row (down after 2): NINES_E_HOST_UNREACHABLE connect ECONNREFUSED',
    },
    {
      name: 'more than N stays down',
      n: node('h1', unreachable('timeout'), { failures: 7 }),
      state: 'down',
      reason: 'down: 7 failed probes in a row (down after 2): NINES_E_HOST_UNREACHABLE timeout',
    },
    {
      name: 'back to up on success',
      n: node('h1', mariaReplica(), { failures: 0 }),
      state: 'up',
      reason: 'up: reachable as replica',
    },
    {
      name: 'read-only primary is up but says so',
      n: node('h1', primary({ readOnly: true })),
      state: 'up',
      reason: 'up: reachable as primary (read-only)',
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const h = classifyNode(c.n, DEFAULT_THRESHOLDS, T0);
      assert.equal(h.state, c.state);
      assert.equal(h.reason, c.reason);
    });
  }

  test('N is configurable: down after 3', () => {
    const t = resolveThresholds({ downAfterFailures: 3 });
    assert.equal(classifyNode(node('h1', unreachable(), { failures: 2 }), t, T0).state, 'pending');
    assert.equal(classifyNode(node('h1', unreachable(), { failures: 3 }), t, T0).state, 'down');
  });

  test('pending and down nodes keep their last known role', () => {
    const h = classifyNode(
      node('h1', unreachable(), { failures: 5, last: primary() }),
      DEFAULT_THRESHOLDS,
      T0,
    );
    assert.equal(h.role, 'primary');
  });

  test('nextNodeSnapshot counts failures in a row and resets on success', () => {
    const at = { host: 'h1', port: 3306 };
    let s = nextNodeSnapshot(undefined, at, primary());
    assert.equal(s.consecutiveFailures, 0);
    s = nextNodeSnapshot(s, at, unreachable());
    s = nextNodeSnapshot(s, at, unreachable());
    assert.equal(s.consecutiveFailures, 2);
    assert.equal(s.lastGood?.role, 'primary');
    assert.equal(classifyNode(s, DEFAULT_THRESHOLDS, T0).state, 'down');
    s = nextNodeSnapshot(s, at, primary());
    assert.equal(s.consecutiveFailures, 0);
    assert.equal(classifyNode(s, DEFAULT_THRESHOLDS, T0).state, 'up');
  });
});

describe('classifyCluster: MariaDB replication', () => {
  const cases = [
    { name: 'all fine', s: mariaCluster(), reason: 'healthy: primary h1, 2 replicas' },
    {
      name: 'replica pending is still healthy',
      s: mariaCluster({ h2: node('h2', unreachable(), { failures: 1, last: mariaReplica() }) }),
      reason: 'healthy: primary h1, 2 replicas; h2 pending',
    },
    {
      name: 'replica down',
      s: mariaCluster({ h2: node('h2', unreachable(), { failures: 2, last: mariaReplica() }) }),
      reason: 'degraded: replica h2 down',
    },
    {
      name: 'IO thread stopped',
      s: mariaCluster({
        h3: node('h3', mariaReplica({}, { ioRunning: false, lastError: 'error connecting to master' })),
      }),
      reason: 'degraded: replica h3 replication broken: IO thread stopped (error connecting to master)',
    },
    {
      name: 'both threads stopped and a lagging replica',
      s: mariaCluster({
        h2: node('h2', mariaReplica({}, { ioRunning: false, sqlRunning: false, lagSeconds: null })),
        h3: node('h3', mariaReplica({}, { lagSeconds: 45 })),
      }),
      reason:
        'degraded: replica h2 replication broken: IO and SQL threads stopped; replica h3 lagging 45 s (max 30 s)',
    },
    {
      name: 'primary down',
      s: mariaCluster({ h1: node('h1', unreachable(), { failures: 2, last: primary() }) }),
      reason: 'failed: no writable primary (primary h1 down)',
    },
    {
      name: 'primary pending gets the benefit of the doubt',
      s: mariaCluster({ h1: node('h1', unreachable(), { failures: 1, last: primary() }) }),
      reason: 'healthy: primary h1, 2 replicas; h1 pending',
    },
    {
      name: 'primary read-only',
      s: mariaCluster({ h1: node('h1', primary({ readOnly: true })) }),
      reason: 'failed: no writable primary (primary h1 is read-only)',
    },
    {
      name: 'two writable primaries',
      s: mariaCluster({ h2: node('h2', primary()) }),
      reason: 'failed: 2 writable primaries (h1, h2)',
    },
    {
      name: 'a writable replica next to the primary: two writers',
      s: mariaCluster({ h2: node('h2', mariaReplica({ readOnly: false })) }),
      reason: 'failed: 2 writable nodes: h1 (primary), h2 (replica); only the primary may accept writes',
    },
    {
      name: 'a writable replica and a read-only primary',
      s: mariaCluster({
        h1: node('h1', primary({ readOnly: true })),
        h3: node('h3', mariaReplica({ readOnly: false })),
      }),
      reason: 'failed: no writable primary (primary h1 is read-only); replica h3 is writable',
    },
    {
      name: 'a pending replica last seen writable is not counted as a writer',
      s: mariaCluster({
        h2: node('h2', unreachable(), { failures: 1, last: mariaReplica({ readOnly: false }) }),
      }),
      reason: 'healthy: primary h1, 2 replicas; h2 pending',
    },
    {
      name: 'all down',
      s: mariaCluster({
        h1: node('h1', unreachable(), { failures: 3 }),
        h2: node('h2', unreachable(), { failures: 3 }),
        h3: node('h3', unreachable(), { failures: 3 }),
      }),
      reason: 'failed: all 3 nodes down',
    },
    {
      name: 'a node never probed makes the cluster unknown',
      s: mariaCluster({ h3: node('h3', undefined) }),
      reason: 'unknown: 1 of 3 nodes not probed yet (h3)',
    },
    {
      name: 'cluster maintenance',
      s: mariaCluster({}, { maintenance: { until: T0 + 60_000, reason: 'upgrade' } }),
      reason: 'maintenance: cluster in maintenance until 2026-01-01T12:01:00.000Z (upgrade)',
    },
    {
      name: 'expired maintenance is ignored',
      s: mariaCluster({}, { maintenance: { until: T0 - 1 } }),
      reason: 'healthy: primary h1, 2 replicas',
    },
    {
      name: 'a replica in maintenance does not degrade',
      s: mariaCluster({
        h2: node('h2', unreachable(), { failures: 5, maintenance: { until: T0 + 1000 } }),
      }),
      reason: 'healthy: primary h1, 2 replicas; h2 in maintenance',
    },
    {
      name: 'fewer nodes monitored than expected',
      s: mariaCluster({}, { expectedNodes: 4 }),
      reason: 'degraded: 3 of 4 expected nodes monitored',
    },
  ];
  for (const c of cases) {
    test(c.name, () => assert.equal(classifyCluster(c.s).reason, c.reason));
  }
});

describe('classifyCluster: PostgreSQL streaming', () => {
  const pg = (standby2 = pgStandby()) =>
    snapshot('postgres-streaming', [
      node('p1', primary(), { port: 5432 }),
      node('p2', standby2, { port: 5432 }),
    ]);
  test('streaming standby is healthy', () => {
    assert.equal(classifyCluster(pg()).reason, 'healthy: primary p1, 1 replica');
  });
  test('WAL receiver not streaming is degraded', () => {
    const s = pg(pgStandby({}, { receiverStatus: null }));
    assert.equal(
      classifyCluster(s).reason,
      'degraded: replica p2 replication broken: WAL receiver not running',
    );
  });
  test('WAL receiver in startup is degraded', () => {
    const s = pg(pgStandby({}, { receiverStatus: 'startup' }));
    assert.equal(classifyCluster(s).reason, 'degraded: replica p2 replication broken: WAL receiver startup');
  });
  test('lag beyond maxLagSeconds is degraded', () => {
    const s = pg(pgStandby({}, { lagSeconds: 31, lagBytes: 1_000_000 }));
    assert.equal(classifyCluster(s).reason, 'degraded: replica p2 lagging 31 s (max 30 s)');
  });
});

describe('classifyCluster: Galera', () => {
  const cases = [
    { name: 'all Synced', s: galeraCluster(), reason: 'healthy: galera Primary component of 3, all Synced' },
    {
      name: 'one node down, size 2',
      s: galeraCluster({
        g1: node('g1', galera({ clusterSize: 2 })),
        g2: node('g2', galera({ clusterSize: 2 })),
        g3: node('g3', unreachable(), { failures: 2 }),
      }),
      reason: 'degraded: node g3 down; galera size 2 below expected 3',
    },
    {
      name: 'non-Primary on all nodes',
      s: galeraCluster({
        g1: node('g1', galera({ clusterStatus: 'non-Primary', clusterSize: 1 })),
        g2: node('g2', galera({ clusterStatus: 'non-Primary', clusterSize: 1 })),
        g3: node('g3', galera({ clusterStatus: 'non-Primary', clusterSize: 1 })),
      }),
      reason: 'failed: galera non-Primary on all nodes',
    },
    {
      name: 'non-Primary on the reachable nodes',
      s: galeraCluster({
        g1: node('g1', galera({ clusterStatus: 'non-Primary', clusterSize: 1 })),
        g2: node('g2', unreachable(), { failures: 2 }),
        g3: node('g3', unreachable(), { failures: 2 }),
      }),
      reason: 'failed: galera non-Primary on all reachable nodes (1 of 3)',
    },
    {
      name: 'an isolated node',
      s: galeraCluster({
        g1: node('g1', galera({ clusterSize: 2 })),
        g2: node('g2', galera({ clusterSize: 2 })),
        g3: node('g3', galera({ clusterStatus: 'non-Primary', clusterSize: 1 })),
      }),
      reason: 'degraded: node g3 galera non-Primary; galera size 2 below expected 3',
    },
    {
      name: 'a donor',
      s: galeraCluster({ g2: node('g2', galera({ localState: 'Donor/Desynced' })) }),
      reason: 'degraded: node g2 galera Donor/Desynced',
    },
    {
      name: 'Primary but nobody ready',
      s: galeraCluster({
        g1: node('g1', galera({ ready: false, localState: 'Joining' })),
        g2: node('g2', galera({ ready: false, localState: 'Joining' })),
        g3: node('g3', galera({ ready: false, localState: 'Joining' })),
      }),
      reason: 'failed: no node of the galera Primary component is ready',
    },
  ];
  for (const c of cases) {
    test(c.name, () => assert.equal(classifyCluster(c.s).reason, c.reason));
  }
});

describe('diffStates', () => {
  test('node pending, then down, then the cluster degrades', () => {
    const a = classifyCluster(mariaCluster());
    const b = classifyCluster(
      mariaCluster({ h2: node('h2', unreachable(), { failures: 1, last: mariaReplica() }) }),
    );
    const c = classifyCluster(
      mariaCluster({ h2: node('h2', unreachable(), { failures: 2, last: mariaReplica() }) }),
    );
    assert.deepEqual(
      diffStates(a, b).map((e) => [e.type, e.node, e.data.from, e.data.to, e.severity]),
      [['node.state', 'h2:3306', 'up', 'pending', 'warning']],
    );
    const events = diffStates(b, c);
    assert.deepEqual(
      events.map((e) => [e.type, e.data.from, e.data.to]),
      [
        ['node.state', 'pending', 'down'],
        ['cluster.state', 'healthy', 'degraded'],
      ],
    );
    assert.equal(events[1]?.message, 'cluster prod healthy -> degraded: replica h2 down');
    assert.equal(events[1]?.severity, 'warning');
  });

  test('no change, no event', () => {
    const a = classifyCluster(mariaCluster());
    assert.deepEqual(diffStates(a, classifyCluster(mariaCluster())), []);
  });

  test('first classification reports the current state once', () => {
    const events = diffStates(undefined, classifyCluster(mariaCluster()));
    assert.deepEqual(
      events.map((e) => `${e.type} ${e.data.from}->${e.data.to}`),
      [
        'node.state unknown->up',
        'node.state unknown->up',
        'node.state unknown->up',
        'cluster.state unknown->healthy',
      ],
    );
  });

  test('a role change (failover) is an event', () => {
    const before = classifyCluster(mariaCluster());
    const after = classifyCluster(
      mariaCluster({
        h1: node('h1', mariaReplica({}, { source: 'h2:3306' })),
        h2: node('h2', primary()),
      }),
    );
    const roles = diffStates(before, after).filter((e) => e.type === 'node.role');
    assert.deepEqual(
      roles.map((e) => e.message),
      ['node h1 role primary -> replica', 'node h2 role replica -> primary'],
    );
  });
});

describe('resolveThresholds', () => {
  test('defaults, maxLagSeconds from the spec, overrides merged', () => {
    const t = resolveThresholds({ diskPct: { warning: 70 } }, 10);
    assert.equal(t.lagSeconds.warning, 10);
    assert.deepEqual(t.diskPct, { warning: 70, critical: 95, clearMargin: 3 });
    assert.equal(t.downAfterFailures, 2);
    assert.ok(Object.isFrozen(t.diskPct));
  });
  test('invalid input names every problem', () => {
    assert.throws(
      () => resolveThresholds({ downAfterFailures: 0, cpuPct: { warning: 90, critical: 80 }, bogus: 1 }),
      (err: unknown) =>
        isNinesError(err, 'NINES_E_MONITOR_CONFIG_INVALID') &&
        /downAfterFailures/.test(err.message) &&
        /bogus/.test(err.message),
    );
    assert.throws(
      () => resolveThresholds({ cpuPct: { warning: 90, critical: 80 } }),
      /cpuPct.critical: expected at least the warning level 90, got 80/,
    );
  });
});
