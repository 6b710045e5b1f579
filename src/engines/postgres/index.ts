// The postgres-streaming engine: a primary and physical streaming standbys (PostgreSQL 13-17 on Debian's
// postgresql-common layout), optional quorum synchronous replication. See docs/engines/postgres.md.
import type { ClusterSpec, NodeSpec } from '../../core/spec.ts';
import type { ConfigFile, Engine } from '../engine.ts';
import { renderNodeFiles } from './config.ts';
import { deploy } from './deploy.ts';
import { discover } from './discover.ts';
import { addNode, removeNode } from './nodes.ts';
import { openPostgresProbe } from './probe.ts';
import { openPostgresQueryInsight } from './queries.ts';
import { postgresRecovery } from './recovery.ts';
import { postgresServer } from './node-server.ts';

export const postgresEngine: Engine & {
  /** controllerAddress goes into pg_hba.conf (admin and monitor users); without it those lines are omitted. */
  renderNodeConfig(spec: ClusterSpec, node: NodeSpec, controllerAddress?: string): readonly ConfigFile[];
} = {
  type: 'postgres-streaming',
  capabilities: { multiWriter: false, synchronousReplication: true, singlePrimary: true },
  renderNodeConfig(spec: ClusterSpec, node: NodeSpec, controllerAddress?: string) {
    return renderNodeFiles(spec, node, controllerAddress);
  },
  deploy,
  discover,
  addNode,
  removeNode,
  openProbe: openPostgresProbe,
  openQueryInsight: openPostgresQueryInsight,
  recovery: postgresRecovery,
  server: postgresServer,
};

export { connectSql, withSql, sqlError } from './sql.ts';
export type { SqlClient, SqlOptions, SqlTarget } from './sql.ts';
