// The galera engine: MariaDB Galera (wsrep) clusters, every node writable, certification-based replication.
import type { Engine } from '../engine.ts';
import { renderGaleraConfig } from './config.ts';
import { deployGalera } from './deploy.ts';
import { discoverGalera } from './discover.ts';
import { addGaleraNode, removeGaleraNode } from './nodes.ts';
import { openGaleraProbe } from './probe.ts';
import { openGaleraQueryInsight } from './queries.ts';
import { galeraServer } from './node-server.ts';
import { galeraClusterRestart } from './recover.ts';

export const galeraEngine: Engine = {
  type: 'galera',
  capabilities: { multiWriter: true, synchronousReplication: true, singlePrimary: false },
  renderNodeConfig: renderGaleraConfig,
  deploy: deployGalera,
  discover: (ctx) => discoverGalera(ctx),
  addNode: addGaleraNode,
  removeNode: removeGaleraNode,
  openProbe: openGaleraProbe,
  openQueryInsight: openGaleraQueryInsight,
  server: galeraServer,
  clusterRestart: galeraClusterRestart,
};

export { decideGaleraRecovery, decideGaleraStart } from './bootstrap.ts';
export type { GaleraNodeFacts, StartPlan } from './bootstrap.ts';
export { classifyGalera } from './discover.ts';
export type { GaleraObservation } from './discover.ts';
export { removalKeepsQuorum } from './nodes.ts';
export { parseGrastate, parseRecoveredPosition, recoverPosition, localGaleraState } from './status.ts';
