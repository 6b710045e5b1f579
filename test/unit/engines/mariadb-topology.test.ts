// classifyReplication: the topology an import reports, and the inconsistencies it refuses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateSpec, type NodeSpec } from '../../../src/core/spec.ts';
import { isNinesError } from '../../../src/core/errors.ts';
import { classifyReplication, type NodeObservation } from '../../../src/engines/mariadb/index.ts';
import type { ReplicationState } from '../../../src/engines/mysql/observe.ts';

const spec = validateSpec({
  name: 'shop',
  type: 'mariadb-replication',
  nodes: [{ host: 'a' }, { host: 'b' }, { host: 'c' }],
  ssh: { key: 'k' },
}).spec;
const [A, B, C] = spec.nodes as [NodeSpec, NodeSpec, NodeSpec];

function server(
  readOnly: boolean,
  source?: string,
  io: 'Yes' | 'No' | 'Connecting' = 'Yes',
): ReplicationState {
  const base = { readOnly, serverId: 1, gtidCurrentPos: '', gtidBinlogPos: '', gtidSlavePos: '' };
  if (!source) return base;
  const [host = '', port = '3306'] = source.split(':');
  return {
    ...base,
    replica: {
      sourceHost: host,
      sourcePort: Number(port),
      ioRunning: io,
      sqlRunning: true,
      secondsBehind: 0,
      lastIoErrno: 0,
      lastIoError: io === 'Yes' ? '' : 'error connecting to master',
      lastSqlErrno: 0,
      lastSqlError: '',
      usingGtid: 'Slave_Pos',
      gtidIoPos: '',
    },
  };
}

const obs = (node: NodeSpec, state?: ReplicationState): NodeObservation =>
  state ? { node, state } : { node, error: 'connect ECONNREFUSED' };
const roles = (o: readonly NodeObservation[]): string[] =>
  classifyReplication(spec, o).nodes.map(
    (n) => `${n.host} ${n.role}${n.source ? ` <- ${n.source}` : ''} [${n.state}]`,
  );

test('a writable primary and two replicas', () => {
  assert.deepEqual(
    roles([obs(A, server(false)), obs(B, server(true, 'a:3306')), obs(C, server(true, 'a:3306'))]),
    ['a primary [writable]', 'b replica <- a:3306 [replicating]', 'c replica <- a:3306 [replicating]'],
  );
});

test('a read-only primary (deploy not finished) is still the primary when it is the only node without replication', () => {
  assert.deepEqual(roles([obs(A, server(true)), obs(B, server(true, 'a:3306', 'Connecting'))]), [
    'a primary [read-only]',
    'b replica <- a:3306 [io Connecting, sql Yes: error connecting to master]',
  ]);
});

test('unreachable nodes are unknown; chained replicas keep their source', () => {
  assert.deepEqual(roles([obs(A, server(false)), obs(B), obs(C, server(true, 'b:3306'))]), [
    'a primary [writable]',
    'b unknown [unreachable: connect ECONNREFUSED]',
    'c replica <- b:3306 [replicating]',
  ]);
});

test('two read-only servers without replication: no primary is guessed', () => {
  assert.deepEqual(roles([obs(A, server(true)), obs(B, server(true))]), [
    'a unknown [standalone (no replication)]',
    'b unknown [standalone (no replication)]',
  ]);
});

test('two writable primaries are inconsistent', () => {
  assert.throws(
    () =>
      classifyReplication(spec, [
        obs(A, server(false)),
        obs(B, server(false)),
        obs(C, server(true, 'a:3306')),
      ]),
    (e) =>
      isNinesError(e, 'NINES_E_TOPOLOGY_INCONSISTENT') &&
      /2 writable primaries: a:3306, b:3306/.test(e.message),
  );
});

test('a replica following a host outside the spec is inconsistent', () => {
  assert.throws(
    () => classifyReplication(spec, [obs(A, server(false)), obs(B, server(true, 'x:3306'))]),
    (e) =>
      isNinesError(e, 'NINES_E_TOPOLOGY_INCONSISTENT') &&
      /b:3306 replicates from x:3306, which is not a node of the spec/.test(e.message),
  );
  assert.throws(
    () => classifyReplication(spec, [obs(A, server(false)), obs(B, server(true, 'a:3307'))]),
    (e) => isNinesError(e, 'NINES_E_TOPOLOGY_INCONSISTENT'),
  );
});
