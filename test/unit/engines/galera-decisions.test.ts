// Galera decisions: how to start (never a second cluster), import classification, quorum on removal, and the
// parsers of grastate.dat and --wsrep-recover output.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateSpec, type NodeSpec } from '../../../src/core/spec.ts';
import { isNinesError } from '../../../src/core/errors.ts';
import {
  classifyGalera,
  decideGaleraStart,
  parseGrastate,
  parseRecoveredPosition,
  removalKeepsQuorum,
  type GaleraNodeFacts,
} from '../../../src/engines/galera/index.ts';
import type { GaleraState } from '../../../src/engines/mysql/observe.ts';

const spec = validateSpec({
  name: 'shop',
  type: 'galera',
  nodes: [{ host: 'a' }, { host: 'b' }, { host: 'c' }],
  ssh: { key: 'k' },
}).spec;
const [A, B, C] = spec.nodes as [NodeSpec, NodeSpec, NodeSpec];
const U = '6c0e5b10-e612-11f1-9b0b-eeb4ed6d8b07';
const U2 = '7d1f6c21-e612-11f1-9b0b-eeb4ed6d8b07';

function galera(clusterStatus: string, localState = 'Synced', size = 3, uuid = U): GaleraState {
  return {
    clusterStatus,
    localState,
    clusterSize: size,
    clusterStateUuid: uuid,
    incomingAddresses: ['a:3306', 'b:3306', 'c:3306'].slice(0, size),
    ready: clusterStatus === 'Primary',
    connected: true,
    lastCommitted: 10,
  };
}

const down = (
  node: NodeSpec,
  grastate?: GaleraNodeFacts['grastate'],
  recovered?: GaleraNodeFacts['recovered'],
): GaleraNodeFacts => ({
  node,
  running: false,
  ...(grastate ? { grastate } : {}),
  ...(recovered ? { recovered } : {}),
});
const up = (node: NodeSpec, state?: GaleraState): GaleraNodeFacts => ({
  node,
  running: true,
  ...(state ? { state } : {}),
});

test('fresh cluster: bootstrap the first node', () => {
  const plan = decideGaleraStart([down(A), down(B), down(C)]);
  assert.deepEqual(plan, {
    action: 'bootstrap',
    node: A,
    reason: 'no node has cluster state: new cluster from a:3306',
  });
});

test('a node already runs in a Primary component: join it, never bootstrap', () => {
  const plan = decideGaleraStart([
    up(A, galera('Primary', 'Synced', 2)),
    up(B, galera('Primary', 'Synced', 2)),
    down(C),
  ]);
  assert.equal(plan.action, 'join');
  assert.equal(plan.action === 'join' && plan.via, A);
  const second = decideGaleraStart([
    down(A, { uuid: U, seqno: -1, safeToBootstrap: false }),
    up(B, galera('Primary', 'Synced', 1)),
  ]);
  assert.equal(second.action === 'join' && second.via, B);
});

test('nodes run but none is Primary: refuse (bootstrapping would split the cluster)', () => {
  const plan = decideGaleraStart([up(A, galera('non-Primary', 'Initialized', 1)), up(B), down(C)]);
  assert.equal(plan.action, 'refuse');
  assert.match(plan.reason, /a:3306, b:3306 run\(s\) but no node is in a Primary component/);
});

test('all stopped after a crash: recover unknown positions first', () => {
  const crashed = { uuid: U, seqno: -1, safeToBootstrap: false };
  const plan = decideGaleraStart([down(A, crashed), down(B, crashed), down(C)]);
  assert.equal(plan.action, 'recover');
  assert.deepEqual(plan.action === 'recover' && plan.nodes, [A, B]);
});

test('all stopped: bootstrap the most advanced node with its position; others rejoin with theirs', () => {
  const crashed = { uuid: U, seqno: -1, safeToBootstrap: false };
  const plan = decideGaleraStart([
    down(A, crashed, { uuid: U, seqno: 40 }),
    down(B, crashed, { uuid: U, seqno: 42 }),
    down(C, { uuid: U, seqno: 41, safeToBootstrap: false }),
  ]);
  assert.deepEqual(plan, {
    action: 'bootstrap',
    node: B,
    startPosition: `${U}:42`,
    joinPositions: { 'a:3306': `${U}:40`, 'c:3306': `${U}:41` },
    reason: `no node runs; b:3306 has the most advanced position (${U}:42)`,
  });
});

test('equal positions: prefer the node Galera marked safe, then spec order', () => {
  const at = (safe: boolean) => ({ uuid: U, seqno: 7, safeToBootstrap: safe });
  const safe = decideGaleraStart([down(A, at(false)), down(B, at(true)), down(C, at(false))]);
  assert.equal(safe.action === 'bootstrap' && safe.node, B);
  const order = decideGaleraStart([down(A, at(false)), down(B, at(false))]);
  assert.equal(order.action === 'bootstrap' && order.node, A);
});

test('state of two different clusters: refuse', () => {
  const plan = decideGaleraStart([
    down(A, { uuid: U, seqno: 5, safeToBootstrap: true }),
    down(B, { uuid: U2, seqno: 9, safeToBootstrap: true }),
  ]);
  assert.equal(plan.action, 'refuse');
});

test('import: members with their state; unreachable nodes unknown', () => {
  const t = classifyGalera(spec, [
    { node: A, state: galera('Primary'), readOnly: false },
    { node: B, state: galera('Primary', 'Donor/Desynced') },
    { node: C, error: 'connect ECONNREFUSED' },
  ]);
  assert.deepEqual(
    t.nodes.map((n) => `${n.host} ${n.role} ${n.state}`),
    ['a member Synced', 'b member Donor/Desynced', 'c unknown unreachable: connect ECONNREFUSED'],
  );
});

test('import: two Primary components or a member outside the spec are inconsistent', () => {
  assert.throws(
    () =>
      classifyGalera(spec, [
        { node: A, state: galera('Primary', 'Synced', 1) },
        { node: B, state: galera('Primary', 'Synced', 1, U2) },
      ]),
    (e) => isNinesError(e, 'NINES_E_TOPOLOGY_INCONSISTENT'),
  );
  const stranger = { ...galera('Primary'), incomingAddresses: ['a:3306', 'z:3306'] };
  assert.throws(
    () => classifyGalera(spec, [{ node: A, state: stranger }]),
    (e) =>
      isNinesError(e, 'NINES_E_TOPOLOGY_INCONSISTENT') && /members not in the spec: z:3306/.test(e.message),
  );
});

test('quorum on removal: the members left must be a majority of the current size', () => {
  assert.equal(removalKeepsQuorum(3, 2), true);
  assert.equal(removalKeepsQuorum(4, 3), true);
  assert.equal(removalKeepsQuorum(2, 1), false);
  assert.equal(removalKeepsQuorum(3, 1), false);
  assert.equal(removalKeepsQuorum(1, 0), false);
  assert.equal(removalKeepsQuorum(5, 3), true);
});

test('grastate.dat and --wsrep-recover output', () => {
  assert.deepEqual(
    parseGrastate(`# GALERA saved state\nversion: 2.1\nuuid:    ${U}\nseqno:   -1\nsafe_to_bootstrap: 0\n`),
    {
      uuid: U,
      seqno: -1,
      safeToBootstrap: false,
    },
  );
  assert.equal(parseGrastate(''), undefined);
  const log = `x [Note] WSREP: Recovered position: ${U}:12\ny [Note] WSREP: Recovered position: ${U}:13\n`;
  assert.deepEqual(parseRecoveredPosition(log), { uuid: U, seqno: 13 });
  assert.equal(parseRecoveredPosition('nothing'), undefined);
});
