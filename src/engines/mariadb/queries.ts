// Query insight of a mariadb-replication node: the shared MariaDB implementation (mysql/queries.ts).
import type { ClusterSpec, NodeSpec } from '../../core/spec.ts';
import type { QueryInsight } from '../engine.ts';
import { openMariadbQueryInsight } from '../mysql/queries.ts';

export function openReplicationQueryInsight(spec: ClusterSpec, node: NodeSpec): QueryInsight {
  return openMariadbQueryInsight(node, spec.credentials.admin, { galera: false });
}
