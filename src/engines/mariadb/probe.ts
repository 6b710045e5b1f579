// The mariadb-replication node probe: the shared MariaDB probe (mysql/probe.ts) reading replication status.
import type { ClusterSpec, NodeSpec } from '../../core/spec.ts';
import type { NodeProbe, ProbeOptions } from '../engine.ts';
import { openMariadbProbe } from '../mysql/probe.ts';

export function openReplicationProbe(_spec: ClusterSpec, node: NodeSpec, options: ProbeOptions): NodeProbe {
  return openMariadbProbe(node, options, { galera: false });
}
