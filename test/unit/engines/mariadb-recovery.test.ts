// The pure half of the MariaDB failover verbs (src/engines/mariadb/recovery-plan.ts) as tables: positions from
// fresh readings and from observations, how commits were acknowledged, errant GTIDs, containment of a former
// primary's history, the port check's command and verdicts, a replica's state after START SLAVE.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { NodeObservation } from '../../../src/core/monitor/observation.ts';
import { parseGtidPosition, type GtidPosition } from '../../../src/core/recovery/positions.ts';
import { validateSpec, type ClusterSpec } from '../../../src/core/spec.ts';
import { mariadbReplicationEngine } from '../../../src/engines/mariadb/index.ts';
import {
  PORT_CHECK_USER,
  ackState,
  containment,
  errantCount,
  errantTransactions,
  factsFromState,
  observedPosition,
  parseGtidState,
  portCheckArgv,
  portVerdict,
  positionFromFacts,
  rejoinSlavePos,
  replicaSummary,
  startVerdict,
  type ServerFacts,
} from '../../../src/engines/mariadb/recovery-plan.ts';
import { changeMasterScript, changeMasterSql } from '../../../src/engines/mariadb/replication.ts';
import { sqlString } from '../../../src/engines/mysql/config.ts';
import { parseReplicationState, type ReplicaStatus } from '../../../src/engines/mysql/observe.ts';

const P = '10.0.0.1:3306';
const R2 = '10.0.0.2:3306';
const R3 = '10.0.0.3:3306';

function spec(semiSync: boolean): ClusterSpec {
  return validateSpec({
    name: 'c1',
    type: 'mariadb-replication',
    nodes: [{ host: '10.0.0.1', role: 'primary' }, { host: '10.0.0.2' }, { host: '10.0.0.3' }],
    ssh: { key: 'k' },
    credentials: { admin: 'a-secret-1', replication: "r'secret\\2", monitor: 'm-secret-3' },
    options: { semiSync },
  }).spec;
}

function gtid(text: string): GtidPosition {
  const p = parseGtidPosition(text);
  assert.ok(p, text);
  return p;
}

const replica = (over: Partial<NonNullable<ServerFacts['replica']>> = {}): ServerFacts['replica'] => ({
  source: P,
  ioRunning: true,
  sqlRunning: true,
  lagSeconds: 0,
  ioPos: '0-1-10',
  sqlError: null,
  ...over,
});

describe('positionFromFacts', () => {
  const cases: {
    name: string;
    facts: ServerFacts;
    want: Record<string, unknown>;
  }[] = [
    {
      name: 'a primary: received = applied = its binlog',
      facts: { readOnly: false, serverId: 1, binlogPos: '0-1-10', slavePos: '' },
      want: {
        role: 'primary',
        received: 10n,
        applied: 10n,
        receivedText: '0-1-10',
        label: 'GTID 0-1-10',
        applyBacklogSeconds: 0,
        source: null,
        linkUp: null,
      },
    },
    {
      name: 'a caught-up replica',
      facts: { readOnly: true, serverId: 2, binlogPos: '0-1-10', slavePos: '0-1-10', replica: replica() },
      want: {
        role: 'replica',
        received: 10n,
        applied: 10n,
        label: 'GTID 0-1-10',
        applyBacklogSeconds: 0,
        source: P,
        linkUp: true,
      },
    },
    {
      name: 'a replica with a backlog, its SQL thread applying',
      facts: {
        readOnly: true,
        serverId: 2,
        binlogPos: '0-1-7',
        slavePos: '0-1-7',
        replica: replica({ ioPos: '0-1-12', lagSeconds: 3 }),
      },
      want: {
        received: 12n,
        applied: 7n,
        receivedText: '0-1-12',
        appliedText: '0-1-7',
        label: 'GTID received 0-1-12, applied 0-1-7',
        applyBacklogSeconds: 3,
      },
    },
    {
      name: 'a backlog with the SQL thread stopped on an error: backlog unknown, the error is the applier’s',
      facts: {
        readOnly: true,
        serverId: 2,
        binlogPos: '0-1-7',
        slavePos: '0-1-7',
        replica: replica({ ioPos: '0-1-12', sqlRunning: false, lagSeconds: null, sqlError: 'dup key' }),
      },
      want: { applyBacklogSeconds: null, applyError: 'dup key' },
    },
    {
      name: 'the IO thread received nothing since a restart: received is what it applied',
      facts: {
        readOnly: true,
        serverId: 2,
        binlogPos: '0-1-9',
        slavePos: '0-1-9',
        replica: replica({ ioPos: '', ioRunning: false }),
      },
      want: { received: 9n, receivedText: '0-1-9', linkUp: false, applyBacklogSeconds: 0 },
    },
    {
      name: 'two domains: progress sums them',
      facts: {
        readOnly: true,
        serverId: 2,
        binlogPos: '',
        slavePos: '0-1-5,1-3-2',
        replica: replica({ ioPos: '0-1-6,1-3-2' }),
      },
      want: { received: 8n, applied: 7n, receivedText: '0-1-6,1-3-2' },
    },
    {
      name: 'a position MariaDB printed in a form we cannot read is unknown, not guessed',
      facts: { readOnly: true, serverId: 2, binlogPos: '', slavePos: 'garbage', replica: replica() },
      want: { received: null, applied: null, applyBacklogSeconds: null },
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const pos = positionFromFacts(R2, c.facts);
      assert.equal(pos.node, R2);
      assert.equal(pos.reachable, true);
      for (const [k, v] of Object.entries(c.want)) {
        assert.deepEqual((pos as unknown as Record<string, unknown>)[k], v, k);
      }
    });
  }

  test('a fresh SQL reading maps like an observation (SHOW SLAVE STATUS row)', () => {
    const state = parseReplicationState(
      {
        read_only: 1,
        server_id: 2,
        gtid_current_pos: '0-1-4',
        gtid_binlog_pos: '0-1-4',
        gtid_slave_pos: '0-1-4',
      },
      [
        {
          Master_Host: '10.0.0.1',
          Master_Port: 3306,
          Slave_IO_Running: 'Connecting',
          Slave_SQL_Running: 'Yes',
          Seconds_Behind_Master: null,
          Last_IO_Errno: 2003,
          Last_IO_Error: "error reconnecting to master 'nines_repl@10.0.0.1:3306'",
          Last_SQL_Errno: 0,
          Last_SQL_Error: '',
          Using_Gtid: 'Slave_Pos',
          Gtid_IO_Pos: '0-1-4',
        },
      ],
    );
    const pos = positionFromFacts(R2, factsFromState(state));
    assert.equal(pos.role, 'replica');
    assert.equal(pos.linkUp, false, 'Connecting is not a link');
    assert.equal(pos.applyError, null, 'an IO error is not an apply error');
    assert.equal(pos.applyBacklogSeconds, 0);
    assert.equal(pos.readOnly, true);
  });
});

function obs(
  over: Partial<NodeObservation> & { semi?: object; binlog?: string; slave?: string },
): NodeObservation {
  const { semi, binlog, slave, ...rest } = over;
  return {
    time: 1,
    reachable: true,
    role: 'replica',
    readOnly: true,
    mariadb: {
      serverId: 2,
      gtidCurrentPos: binlog ?? '0-1-10',
      gtidSlavePos: slave ?? '0-1-10',
      gtidBinlogPos: binlog ?? '0-1-10',
      uptimeSeconds: 100,
      innodb: { bufferPoolHitPct: null, rowLockWaitsNow: 0, historyLength: 0 },
      ...(semi
        ? { semiSync: { masterEnabled: true, masterActive: false, clients: 0, slaveActive: false, ...semi } }
        : {}),
    },
    ...rest,
  };
}

const repl = (over: object = {}) => ({
  replication: {
    kind: 'mariadb' as const,
    source: P,
    ioRunning: true,
    sqlRunning: true,
    lagSeconds: 0,
    lastError: null,
    gtidIoPos: '0-1-10',
    ...over,
  },
});

describe('observedPosition', () => {
  test('never observed / unreachable / no MariaDB part', () => {
    assert.deepEqual(
      [observedPosition(R2, undefined).reachable, observedPosition(R2, undefined).error],
      [false, 'never observed'],
    );
    const down = observedPosition(R2, {
      time: 1,
      reachable: false,
      role: 'unknown',
      error: { code: 'NINES_E_DB_UNREACHABLE', message: 'refused' },
    });
    assert.deepEqual(
      [down.reachable, down.error, down.received, down.label],
      [false, 'refused', null, 'not reachable'],
    );
    const bare = observedPosition(R2, { time: 1, reachable: true, role: 'replica' });
    assert.deepEqual([bare.reachable, bare.role, bare.received], [true, 'unknown', null]);
  });

  test('a replica observation: received from Gtid_IO_Pos, applied from gtid_slave_pos', () => {
    const p = observedPosition(
      R2,
      obs({ slave: '0-1-8', binlog: '0-1-8', ...repl({ gtidIoPos: '0-1-10', lagSeconds: 2 }) }),
    );
    assert.deepEqual(
      [p.role, p.received, p.applied, p.applyBacklogSeconds, p.source, p.linkUp],
      ['replica', 10n, 8n, 2, P, true],
    );
  });

  test('the observation’s one error is the applier’s only while the SQL thread is stopped', () => {
    const io = observedPosition(R2, obs({ ...repl({ ioRunning: false, lastError: 'reconnecting' }) }));
    assert.equal(io.applyError, null);
    const sql = observedPosition(R2, obs({ ...repl({ sqlRunning: false, lastError: 'dup key' }) }));
    assert.equal(sql.applyError, 'dup key');
  });
});

describe('ackState', () => {
  const acking = obs({ semi: { slaveActive: true }, ...repl() });
  const table: {
    name: string;
    semiSync: boolean;
    primary: NodeObservation | undefined;
    r2?: NodeObservation;
    r3?: NodeObservation;
    mode: string;
    ackSet: string[];
  }[] = [
    {
      name: 'semi-sync active: synchronous, both acknowledging replicas',
      semiSync: true,
      primary: obs({ role: 'primary', semi: { masterActive: true, clients: 2 } }),
      r2: acking,
      r3: acking,
      mode: 'synchronous',
      ackSet: [R2, R3],
    },
    {
      name: 'connected to the primary without semi-sync (asynchronous), or following another source: not counted',
      semiSync: true,
      primary: obs({ role: 'primary', semi: { masterActive: true, clients: 1 } }),
      r2: obs({ semi: { slaveActive: false }, ...repl() }),
      r3: obs({ semi: { slaveActive: true }, ...repl({ source: R2 }) }),
      mode: 'synchronous',
      ackSet: [],
    },
    {
      name: 'after the primary died: replicas of it whose IO thread reconnects may have acknowledged, they count',
      semiSync: true,
      primary: obs({ role: 'primary', semi: { masterActive: true, clients: 2 } }),
      r2: obs({ semi: { slaveActive: false }, ...repl({ ioRunning: false, lastError: 'reconnecting' }) }),
      r3: obs({ semi: { slaveActive: false }, ...repl({ ioRunning: false }) }),
      mode: 'synchronous',
      ackSet: [R2, R3],
    },
    {
      name: 'an unreachable replica of the primary (its last good observation) counts: it may hold commits',
      semiSync: true,
      primary: obs({ role: 'primary', semi: { masterActive: true } }),
      r2: { ...acking, reachable: false },
      r3: acking,
      mode: 'synchronous',
      ackSet: [R2, R3],
    },
    {
      name: 'enabled but fallen back to asynchronous: degraded',
      semiSync: true,
      primary: obs({ role: 'primary', semi: { masterEnabled: true, masterActive: false } }),
      r2: acking,
      mode: 'degraded',
      ackSet: [R2],
    },
    {
      name: 'semi-sync off on the primary: asynchronous',
      semiSync: false,
      primary: obs({ role: 'primary', semi: { masterEnabled: false } }),
      mode: 'asynchronous',
      ackSet: [],
    },
    {
      name: 'no semi-sync reading of the primary, semi-sync configured: degraded (nothing proven)',
      semiSync: true,
      primary: { time: 1, reachable: false, role: 'unknown' },
      r2: acking,
      mode: 'degraded',
      ackSet: [R2],
    },
    {
      name: 'no reading, not configured: asynchronous',
      semiSync: false,
      primary: undefined,
      mode: 'asynchronous',
      ackSet: [],
    },
  ];
  for (const c of table) {
    test(c.name, () => {
      const observations = new Map([
        [P, c.primary],
        [R2, c.r2],
        [R3, c.r3],
      ]);
      const s = ackState(spec(c.semiSync), P, observations);
      assert.equal(s.mode, c.mode);
      assert.deepEqual([...s.ackSet].sort(), c.ackSet);
      assert.equal(s.unit, 'transactions');
      assert.equal(s.ackName, 'semi-sync');
    });
  }

  test("the primary's last observed position is its binlog position", () => {
    const s = ackState(spec(true), P, new Map([[P, obs({ role: 'primary', binlog: '0-1-41,1-9-2' })]]));
    assert.equal(s.primaryPosition, 43n);
    assert.equal(s.primaryPositionText, '0-1-41,1-9-2');
  });
});

describe('errant transactions', () => {
  // The node is server 2.
  const table: [
    name: string,
    held: string,
    applied: string | null,
    reference: string | null,
    want: number,
  ][] = [
    ['a healthy replica: its binlog is what it applied from the writer', '0-1-100', '0-1-100', '0-1-100', 0],
    ['the primary wrote more after its last observation: not errant', '0-1-105', '0-1-105', '0-1-100', 0],
    ['3 local writes on a caught-up replica (its own server id)', '0-2-103', '0-1-100', '0-1-100', 3],
    ['5 local writes on a lagging replica: counted from what it applied', '0-2-103', '0-1-98', '0-1-150', 5],
    ['local writes found without a reference too (switchover)', '0-2-101', '0-1-100', null, 1],
    [
      'applying under load: the binlog is one ahead of gtid_slave_pos for a moment, not errant',
      '0-1-101',
      '0-1-100',
      null,
      0,
    ],
    ['a GTID of an earlier primary relayed by the source: not errant', '0-3-91', '0-3-90', '0-1-100', 0],
    ['a node without replication whose own writes go beyond the reference', '0-7-12', null, '0-1-10', 2],
    ['a node without replication, no reference: cannot tell', '0-7-12', null, null, 0],
    ['a domain the replica never applied from, written locally', '0-1-100,1-2-7', '0-1-100', '0-1-100', 7],
  ];
  for (const [name, held, applied, reference, want] of table) {
    test(name, () => {
      assert.equal(
        errantCount(
          gtid(held),
          applied === null ? null : gtid(applied),
          reference === null ? null : gtid(reference),
          2,
        ),
        want,
      );
    });
  }

  test('errantTransactions reads the binlog position a MariaDB position carries', () => {
    const pos = positionFromFacts(R2, {
      readOnly: true,
      serverId: 2,
      binlogPos: '0-2-103',
      slavePos: '0-1-100',
      replica: replica({ ioPos: '0-1-100' }),
    });
    assert.equal(pos.receivedText, '0-1-100', 'local writes are not received');
    assert.equal(errantTransactions(pos, '0-1-100'), 3);
    // A bare ReplicationPosition (no binlog text): what it received is all that can be compared.
    const { binlogText: _b, serverId: _s, ...bare } = pos;
    assert.equal(errantTransactions(bare, '0-1-100'), 0);
    assert.equal(errantTransactions(pos, 'not a position'), 0);
  });
});

describe('containment of a former primary in the new primary', () => {
  const table: [name: string, held: string, primaryState: string, errant: string[]][] = [
    ['the old primary stopped where the new one took over', '0-1-100', '0-1-100,0-2-150', []],
    [
      'it holds two commits nobody received (crash before the ACK)',
      '0-1-102',
      '0-1-100,0-2-150',
      ['0-1-102'],
    ],
    [
      'a write on the fenced node after it replicated the new primary',
      '0-1-161',
      '0-1-100,0-2-165',
      ['0-1-161'],
    ],
    ['a replica behind the primary', '0-2-140', '0-1-100,0-2-150', []],
    ['the primary has no transaction of that server: left to the server (1236)', '0-9-5', '0-2-150', []],
    ['an empty binlog (a copy) is contained', '', '0-2-150', []],
  ];
  for (const [name, held, state, errant] of table) {
    test(name, () => {
      const primaryState = parseGtidState(state);
      assert.ok(primaryState);
      assert.deepEqual(
        containment(gtid(held), primaryState).errant.map((e) => e.gtid),
        errant,
      );
    });
  }

  test('gtid_binlog_state parsing keeps every server of a domain; malformed is null', () => {
    assert.deepEqual(parseGtidState('0-1-100,0-2-150, 1-3-4'), [
      { domain: 0, server: 1, seq: 100n },
      { domain: 0, server: 2, seq: 150n },
      { domain: 1, server: 3, seq: 4n },
    ]);
    assert.deepEqual(parseGtidState(''), []);
    assert.equal(parseGtidState('0-1-x'), null);
  });

  test('a former primary starts replicating from everything its binlog holds', () => {
    assert.equal(rejoinSlavePos(gtid('0-1-102'), gtid('0-3-50')), '0-1-102');
    assert.equal(rejoinSlavePos(gtid(''), gtid('0-2-150')), '0-2-150');
    assert.equal(rejoinSlavePos(gtid('0-1-9,1-1-3'), gtid('0-2-8')), '0-1-9,1-1-3');
  });
});

describe('port check', () => {
  test('argv: mariadb-admin ping over TCP under timeout -s KILL, no password, values as one argument each', () => {
    assert.deepEqual(portCheckArgv({ host: '10.0.0.1', port: 3307 }, 700), [
      'timeout',
      '-s',
      'KILL',
      '0.700',
      'mariadb-admin',
      '--no-defaults',
      '--protocol=tcp',
      '--connect-timeout=1',
      '--host=10.0.0.1',
      '--port=3307',
      `--user=${PORT_CHECK_USER}`,
      'ping',
    ]);
    assert.equal(portCheckArgv({ host: 'db', port: 1 }, 2500)[7], '--connect-timeout=3');
  });

  const verdicts: [exit: number, verdict: string][] = [
    [0, 'up'], // the server answered (also with Access denied)
    [1, 'down'], // refused, lost at handshake, connect timeout
    [124, 'down'],
    [137, 'down'], // killed by timeout: no greeting in time (a frozen server)
    [127, 'unknown'], // mariadb-admin not installed on that host
    [126, 'unknown'],
    [125, 'unknown'],
  ];
  for (const [exit, verdict] of verdicts) {
    test(`exit ${exit} -> ${verdict}`, () => assert.equal(portVerdict(exit), verdict));
  }
});

describe('the engine exposes the verbs', () => {
  test('mariadb-replication has recovery, and its pure verbs are these', () => {
    const r = mariadbReplicationEngine.recovery;
    assert.ok(r);
    assert.equal(r.observedPosition(R2, undefined).reachable, false);
    assert.equal(r.ackState(spec(false), P, new Map()).mode, 'asynchronous');
  });
});

describe('CHANGE MASTER', () => {
  test('over a direct connection every string is a parameter; the script inlines them escaped', () => {
    const s = spec(true);
    const params: string[] = [];
    const sql = changeMasterSql(s, s.nodes[1] ?? assert.fail(), (v) => {
      params.push(v);
      return '?';
    });
    assert.equal(
      sql,
      'CHANGE MASTER TO MASTER_HOST=?, MASTER_PORT=3306, MASTER_USER=?, MASTER_PASSWORD=?, MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1, MASTER_HEARTBEAT_PERIOD=1',
    );
    assert.deepEqual(params, ['10.0.0.2', 'nines_repl', "r'secret\\2"]);
    const script = changeMasterScript(s, s.nodes[1] ?? assert.fail());
    assert.ok(script.includes(`MASTER_PASSWORD=${sqlString("r'secret\\2")}`));
    assert.ok(script.startsWith('STOP SLAVE;\nCHANGE MASTER TO') && script.endsWith('START SLAVE;\n'));
  });
});

describe('a replica after START SLAVE', () => {
  const status = (over: Partial<ReplicaStatus>): ReplicaStatus => ({
    sourceHost: '10.0.0.1',
    sourcePort: 3306,
    ioRunning: 'Yes',
    sqlRunning: true,
    secondsBehind: 0,
    lastIoErrno: 0,
    lastIoError: '',
    lastSqlErrno: 0,
    lastSqlError: '',
    usingGtid: 'Slave_Pos',
    gtidIoPos: '',
    ...over,
  });
  const table: [name: string, r: ReplicaStatus | undefined, want: string | null][] = [
    ['both threads run: replicating', status({}), 'ok: replicating from 10.0.0.1:3306 from GTID 0-2-9'],
    ['the IO thread is still connecting: not yet', status({ ioRunning: 'Connecting' }), null],
    ['no replication row yet: not yet', undefined, null],
    [
      '1236: the primary lacks the position, refused for good',
      status({ ioRunning: 'No', lastIoErrno: 1236, lastIoError: 'not in the master binlog' }),
      'refused: 10.0.0.1:3306 cannot serve 10.0.0.2:3306 from GTID 0-2-9: not in the master binlog',
    ],
    [
      'an applier error (strict mode): refused',
      status({ sqlRunning: false, lastSqlErrno: 1950, lastSqlError: 'out-of-order sequence number' }),
      'refused: 10.0.0.2:3306 cannot apply what 10.0.0.1:3306 sends: out-of-order sequence number',
    ],
    [
      'a retryable IO error (2003) is not final',
      status({ ioRunning: 'Connecting', lastIoErrno: 2003 }),
      null,
    ],
  ];
  for (const [name, r, want] of table) {
    test(name, () => {
      const v = startVerdict(r, R2, P, '0-2-9');
      assert.equal(v === null ? null : v.ok ? `ok: ${v.how}` : `refused: ${v.reason}`, want);
    });
  }

  test('the summary names both threads and their errors', () => {
    assert.equal(replicaSummary(undefined), 'no replication');
    assert.equal(
      replicaSummary(status({ ioRunning: 'Connecting', lastIoError: "can't connect" })),
      "io Connecting, sql Yes: can't connect",
    );
  });
});
