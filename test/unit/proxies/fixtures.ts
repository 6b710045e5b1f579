// Specs and topologies shared by the proxies unit tests.
import { validateSpec } from '../../../src/core/spec.ts';
import type { ClusterSpec } from '../../../src/core/spec.ts';
import type { Topology } from '../../../src/core/topology.ts';

const credentials = { admin: 'admin-pass-1', replication: 'repl-pass-1', monitor: 'mon-pass-1' };

export function mariadbSpec(endpoint: Record<string, unknown> = { proxies: ['10.0.0.21'] }): ClusterSpec {
  return validateSpec({
    name: 'shop',
    type: 'mariadb-replication',
    nodes: [{ host: '10.0.0.11', role: 'primary' }, { host: '10.0.0.12' }, { host: '10.0.0.13' }],
    ssh: { key: 'k' },
    credentials,
    endpoint,
  }).spec;
}

export function galeraSpec(): ClusterSpec {
  return validateSpec({
    name: 'gal',
    type: 'galera',
    nodes: [{ host: 'db1' }, { host: 'db2', priority: 200 }, { host: 'db3' }],
    ssh: { key: 'k' },
    credentials,
    endpoint: { proxies: ['px1', 'px2'], writePort: 6033, readPort: 6034 },
  }).spec;
}

export function postgresSpec(): ClusterSpec {
  return validateSpec({
    name: 'pg',
    type: 'postgres-streaming',
    nodes: [{ host: 'pg1', role: 'primary' }, { host: 'pg2' }],
    ssh: { key: 'k' },
    credentials,
    endpoint: { proxies: ['px1'] },
  }).spec;
}

export const mariadbTopology: Topology = {
  type: 'mariadb-replication',
  nodes: [
    { host: '10.0.0.11', port: 3306, role: 'primary' },
    { host: '10.0.0.12', port: 3306, role: 'replica', source: '10.0.0.11:3306' },
    { host: '10.0.0.13', port: 3306, role: 'replica', source: '10.0.0.11:3306' },
  ],
};

export const galeraTopology: Topology = {
  type: 'galera',
  nodes: [
    { host: 'db1', port: 3306, role: 'member', state: 'Synced' },
    { host: 'db2', port: 3306, role: 'member', state: 'Synced' },
    { host: 'db3', port: 3306, role: 'member', state: 'Joining' },
  ],
};

export const postgresTopology: Topology = {
  type: 'postgres-streaming',
  nodes: [
    { host: 'pg1', port: 5432, role: 'primary' },
    { host: 'pg2', port: 5432, role: 'replica', state: 'streaming' },
  ],
};
