// Self-healing's pure decisions: restart or not (and why), the backoff, reopening a read-only primary, the Galera
// writer's usable members, the full-crash recovery plan, and the log line that says why a server stopped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  MAX_START_FAILURES,
  SLOW_RETRY_MS,
  decideReopen,
  decideRestart,
  restartDelayMs,
  type ReopenInput,
  type RestartInput,
} from '../../../src/core/recovery/restart.ts';
import {
  galeraWriterTopology,
  memberUsable,
  noMemberServes,
  proxiesWriter,
  writerMoveNeeded,
} from '../../../src/core/recovery/galera-writer.ts';
import type { ClusterSnapshot, NodeSnapshot } from '../../../src/core/monitor/observation.ts';
import { decideGaleraRecovery, type GaleraNodeFacts } from '../../../src/engines/galera/bootstrap.ts';
import { lastErrorLine } from '../../../src/hosts/output.ts';
import { stateTransfer } from '../../../src/engines/galera/node-server.ts';
import type { NodeSpec } from '../../../src/core/spec.ts';

const base: RestartInput = {
  role: 'replica',
  reachable: false,
  singlePrimary: true,
  fenced: false,
  locked: false,
  maintenance: false,
  enabled: true,
  failoverRunning: false,
  jobRunning: undefined,
  needsServingPeer: false,
  servingPeer: false,
};

test('restart: a replica that does not answer is started; each reason to hold is named', () => {
  assert.equal(decideRestart(base).action, 'start');
  assert.equal(decideRestart({ ...base, reachable: true }).action, 'none');
  assert.equal(decideRestart({ ...base, fenced: true }).action, 'none');
  assert.match(decideRestart({ ...base, role: 'primary' }).reason, /failover decides/);
  assert.equal(decideRestart({ ...base, role: 'primary' }).action, 'none');
  // Galera has no single primary: every member is self-healing's.
  assert.equal(decideRestart({ ...base, role: 'primary', singlePrimary: false }).action, 'start');
  const holds: [Partial<RestartInput>, RegExp][] = [
    [{ locked: true }, /locked/],
    [{ maintenance: true }, /maintenance/],
    [{ enabled: false }, /recovery is off/],
    [{ failoverRunning: true }, /failover/],
    [{ jobRunning: 'node.rebuild' }, /node\.rebuild/],
    [{ needsServingPeer: true, servingPeer: false }, /no Primary component to join/],
  ];
  for (const [change, why] of holds) {
    const d = decideRestart({ ...base, ...change });
    assert.equal(d.action, 'hold', JSON.stringify(change));
    assert.match(d.reason, why);
  }
  assert.equal(decideRestart({ ...base, needsServingPeer: true, servingPeer: true }).action, 'start');
  // A lock wins over everything but "not ours" (the operator said hands off).
  assert.match(decideRestart({ ...base, locked: true, enabled: false }).reason, /locked/);
});

test('restart backoff: at once, then 1, 2, 4 s, then the slow retry after the alarm', () => {
  assert.deepEqual(
    [0, 1, 2, 3].map((f) => restartDelayMs(f)),
    [0, 1000, 2000, 4000],
  );
  assert.equal(restartDelayMs(MAX_START_FAILURES), SLOW_RETRY_MS);
  assert.equal(restartDelayMs(MAX_START_FAILURES + 5), SLOW_RETRY_MS);
});

const reopen: ReopenInput = {
  primaryReadOnly: true,
  primaryReplicates: false,
  othersWritable: [],
  othersUnreachable: [],
  totalNodes: 3,
  enabled: true,
  maintenance: false,
  failoverRunning: false,
  locked: false,
  seenTimes: 2,
};

test('reopen: a read-only primary is made writable only when no other writer can exist', () => {
  assert.equal(decideReopen(reopen).action, 'reopen');
  assert.equal(decideReopen({ ...reopen, primaryReadOnly: false }).action, 'none');
  assert.equal(decideReopen({ ...reopen, primaryReplicates: true }).action, 'none');
  assert.equal(decideReopen({ ...reopen, seenTimes: 1 }).action, 'none');
  const second = decideReopen({ ...reopen, othersWritable: ['10.0.0.2:3306'] });
  assert.equal(second.action, 'hold');
  assert.match(second.reason, /10\.0\.0\.2:3306 accept/);
  const minority = decideReopen({ ...reopen, othersUnreachable: ['a:1', 'b:1'] });
  assert.equal(minority.action, 'hold');
  assert.match(minority.reason, /only 1 of 3/);
  assert.equal(decideReopen({ ...reopen, othersUnreachable: ['a:1'] }).action, 'reopen');
  for (const change of [
    { enabled: false },
    { locked: true },
    { maintenance: true },
    { failoverRunning: true },
  ]) {
    assert.equal(decideReopen({ ...reopen, ...change }).action, 'hold', JSON.stringify(change));
  }
});

function member(
  host: string,
  o: Partial<NodeSnapshot> & { status?: string; state?: string; up?: boolean },
): NodeSnapshot {
  const galera = {
    clusterStatus: o.status ?? 'Primary',
    clusterSize: 3,
    localState: o.state ?? 'Synced',
    ready: true,
    flowControlPaused: 0,
    recvQueue: 0,
    lastCommitted: 10,
  };
  const up = o.up ?? true;
  return {
    host,
    port: 3306,
    observation: up
      ? { time: 1, reachable: true, role: 'member', galera }
      : { time: 1, reachable: false, role: 'unknown' },
    lastGood: {
      time: 0,
      reachable: true,
      role: 'member',
      galera: { ...galera, clusterStatus: 'Primary', localState: 'Synced' },
    },
    consecutiveFailures: o.consecutiveFailures ?? (up ? 0 : 1),
  };
}

function snap(nodes: NodeSnapshot[]): ClusterSnapshot {
  return {
    cluster: 'g',
    type: 'galera',
    expectedNodes: nodes.length,
    time: 1,
    nodes,
    thresholds: {} as ClusterSnapshot['thresholds'],
  };
}

test('galera writer: non-Primary at once, silent after two misses, desynced after the bound', () => {
  assert.equal(memberUsable(member('a', {}), 0).usable, true);
  assert.equal(memberUsable(member('a', { status: 'non-Primary' }), 0).usable, false);
  assert.equal(memberUsable(member('a', { up: false, consecutiveFailures: 1 }), 0).usable, true);
  assert.equal(memberUsable(member('a', { up: false, consecutiveFailures: 2 }), 0).usable, false);
  assert.equal(memberUsable(member('a', { state: 'Donor/Desynced' }), 2).usable, true);
  assert.equal(memberUsable(member('a', { state: 'Donor/Desynced' }), 3).usable, false);
  assert.equal(memberUsable(member('a', { state: 'Joining' }), 0).usable, false);
  const topo = galeraWriterTopology(
    snap([member('a', { status: 'non-Primary' }), member('b', {}), member('c', {})]),
    new Map(),
  );
  assert.deepEqual(
    topo.nodes.map((n) => n.role),
    ['unknown', 'member', 'member'],
  );
  assert.equal(
    noMemberServes(snap([member('a', { up: false }), member('b', { status: 'non-Primary' })])),
    true,
  );
  assert.equal(noMemberServes(snap([member('a', {})])), false);
});

test('galera writer: the proxies are told when they use another writer or would move back', () => {
  const ready = (server: string, backup: boolean, admin = 'ready', health = 'up') => ({
    backend: 'write',
    server,
    admin,
    health,
    backup,
  });
  const deployed = [ready('a', false), ready('b', true), ready('c', true)];
  assert.equal(proxiesWriter(deployed), 'a');
  assert.equal(writerMoveNeeded('a', 'a', deployed), false);
  assert.equal(writerMoveNeeded('b', 'a', deployed), true);
  // HAProxy fell back to b by itself (a's check failed): b is chosen, but a would take the writes back.
  const fellBack = [ready('a', false, 'ready', 'down'), ready('b', true), ready('c', true)];
  assert.equal(proxiesWriter(fellBack), 'b');
  assert.equal(writerMoveNeeded('b', 'b', fellBack), true);
  // After the move: a in maintenance, b the writer, c drained.
  const moved = [ready('a', false, 'maint'), ready('b', true), ready('c', true, 'drain')];
  assert.equal(proxiesWriter(moved), 'b');
  assert.equal(writerMoveNeeded('b', 'b', moved), false);
  assert.equal(
    writerMoveNeeded(undefined, 'a', deployed),
    false,
    'no usable member: leave the proxies alone',
  );
});

const n = (host: string): NodeSpec => ({ host, port: 3306, priority: 0 }) as NodeSpec;
const uuid = '6b1e8c3a-0000-11ee-9a3c-1f2e3d4c5b6a';
const stopped = (host: string, seqno: number): GaleraNodeFacts => ({
  node: n(host),
  running: false,
  grastate: { uuid, seqno, safeToBootstrap: false },
});

test('galera recovery: the most advanced examined node, a majority examined, never a new cluster', () => {
  const all = decideGaleraRecovery({
    examined: [stopped('a', 5), stopped('b', 9), stopped('c', 7)],
    unexamined: [],
    force: false,
  });
  assert.equal(all.action, 'bootstrap');
  assert.equal(all.action === 'bootstrap' && all.node.host, 'b');
  assert.equal(all.action === 'bootstrap' && all.startPosition, `${uuid}:9`);
  const two = decideGaleraRecovery({
    examined: [stopped('a', 5), stopped('c', 7)],
    unexamined: [n('b')],
    force: false,
  });
  assert.equal(two.action === 'bootstrap' && two.node.host, 'c');
  assert.match(two.reason, /b:3306 could not be examined/);
  const one = decideGaleraRecovery({
    examined: [stopped('a', 5)],
    unexamined: [n('b'), n('c')],
    force: false,
  });
  assert.equal(one.action, 'refuse');
  assert.match(one.reason, /only 1 of 3 nodes could be examined/);
  const forced = decideGaleraRecovery({
    examined: [stopped('a', 5)],
    unexamined: [n('b'), n('c')],
    force: true,
  });
  assert.equal(forced.action === 'bootstrap' && forced.node.host, 'a');
  const empty = decideGaleraRecovery({
    examined: [
      { node: n('a'), running: false },
      { node: n('b'), running: false },
    ],
    unexamined: [],
    force: true,
  });
  assert.equal(empty.action, 'refuse');
  assert.match(empty.reason, /never creates a new cluster/);
  const live: GaleraNodeFacts = {
    node: n('a'),
    running: true,
    state: {
      clusterStatus: 'non-Primary',
      localState: 'Initialized',
      clusterSize: 1,
      clusterStateUuid: uuid,
      incomingAddresses: [],
      ready: false,
      connected: true,
      lastCommitted: 12,
    },
  };
  const nonPrimary = decideGaleraRecovery({
    examined: [live, stopped('b', 9), stopped('c', 9)],
    unexamined: [],
    force: false,
  });
  assert.equal(nonPrimary.action, 'refuse');
  assert.match(nonPrimary.reason, /non-Primary/);
  const pc = decideGaleraRecovery({
    examined: [live, stopped('b', 9), stopped('c', 9)],
    unexamined: [],
    force: true,
  });
  assert.equal(pc.action, 'pc-bootstrap');
  const serving = decideGaleraRecovery({
    examined: [{ ...live, state: { ...live.state!, clusterStatus: 'Primary' } }],
    unexamined: [n('b'), n('c')],
    force: false,
  });
  assert.equal(serving.action, 'join');
});

test('the log line that says why a server stopped', () => {
  const mariadb = [
    '2026-12-06 14:30:16 0 [Note] Starting MariaDB',
    "2026-12-06 14:30:16 0 [ERROR] /usr/sbin/mariadbd: unknown variable 'no_such_option=1'",
    '2026-12-06 14:30:16 0 [ERROR] Aborting',
  ].join('\n');
  assert.match(lastErrorLine(mariadb), /unknown variable/);
  const pg = '2026-12-06 LOG:  starting\n2026-12-06 FATAL:  unrecognized configuration parameter "x"\n';
  assert.match(lastErrorLine(pg), /FATAL: {2}unrecognized/);
  assert.equal(lastErrorLine('just a line\n'), 'just a line');
  assert.equal(lastErrorLine(''), '');
});

test('galera: IST or SST, from the joiner log', () => {
  // Lines of real joiner logs (MariaDB 10.11, rsync): the SST script runs in both cases.
  const ist = [
    "WSREP: Running: 'wsrep_sst_rsync --role 'joiner' --address '10.77.70.12'",
    'WSREP_SST: [INFO] rsync IST completed on joiner (20261206 14:32:47.338)',
    'WSREP: SST received',
    'WSREP: Receiving IST: 204 writesets, seqnos 53-256',
  ].join('\n');
  assert.equal(stateTransfer(ist), 'IST');
  const sst = [
    "WSREP: Running: 'wsrep_sst_rsync --role 'joiner' --address '10.77.70.12'",
    'WSREP_SST: [INFO] rsync SST completed on joiner (20261206 14:32:30.358)',
    'WSREP: IST received: dbe6c241-f181-11f1-90b3-b7e1599e2afa:21',
  ].join('\n');
  assert.equal(stateTransfer(sst), 'SST');
  assert.equal(stateTransfer('WSREP: Shifting JOINED -> SYNCED'), 'none');
});
