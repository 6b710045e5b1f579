// The Galera node probe: the shared MariaDB probe (mysql/probe.ts) reading wsrep status; answers on a
// non-Primary node too (status reads only, with wsrep_dirty_reads on the probe's session).
import type { ClusterSpec, NodeSpec } from '../../core/spec.ts';
import type { NodeProbe, ProbeOptions } from '../engine.ts';
import { openMariadbProbe } from '../mysql/probe.ts';

export function openGaleraProbe(_spec: ClusterSpec, node: NodeSpec, options: ProbeOptions): NodeProbe {
  return openMariadbProbe(node, options, { galera: true });
}
