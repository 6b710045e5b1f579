// The mariadb-replication engine: one primary, GTID replicas (optionally semi-synchronous).
import type { Engine } from '../engine.ts';
import { renderReplicationConfig } from './config.ts';
import { deployReplication } from './deploy.ts';
import { discoverReplication } from './discover.ts';
import { addReplicationNode, removeReplicationNode } from './nodes.ts';
import { openReplicationProbe } from './probe.ts';
import { openReplicationQueryInsight } from './queries.ts';
import { mariadbRecovery } from './recovery.ts';
import { mariadbServer } from './node-server.ts';

export const mariadbReplicationEngine: Engine = {
  type: 'mariadb-replication',
  capabilities: { multiWriter: false, synchronousReplication: true, singlePrimary: true },
  renderNodeConfig: renderReplicationConfig,
  deploy: deployReplication,
  discover: (ctx) => discoverReplication(ctx),
  addNode: addReplicationNode,
  removeNode: removeReplicationNode,
  openProbe: openReplicationProbe,
  openQueryInsight: openReplicationQueryInsight,
  recovery: mariadbRecovery,
  server: mariadbServer,
};

export { mariadbRecovery } from './recovery.ts';

export { classifyReplication, observeReplication, primaryOf } from './discover.ts';
export type { NodeObservation } from './discover.ts';
export { initialPrimary } from './deploy.ts';
export {
  changeMasterScript,
  replicateFrom,
  replicaStatus,
  setReadOnly,
  stopReplication,
  waitReplicaRunning,
} from './replication.ts';
