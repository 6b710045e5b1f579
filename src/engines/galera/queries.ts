// Query insight of a Galera node: the shared MariaDB implementation (mysql/queries.ts), reading with
// wsrep_dirty_reads so it answers on a non-Primary node too.
import type { ClusterSpec, NodeSpec } from '../../core/spec.ts';
import type { QueryInsight } from '../engine.ts';
import { openMariadbQueryInsight } from '../mysql/queries.ts';

export function openGaleraQueryInsight(spec: ClusterSpec, node: NodeSpec): QueryInsight {
  return openMariadbQueryInsight(node, spec.credentials.admin, { galera: true });
}
