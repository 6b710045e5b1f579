// The topology of a cluster as observed (by an engine's deploy/discover/probe): who is primary, who replicates
// from whom. Shared by engines/ (which produce it) and proxies/ (which route by it); re-exported by engine.ts.
import type { ClusterType } from './spec.ts';

export type ObservedRole = 'primary' | 'replica' | 'member' | 'unknown';

export interface TopologyNode {
  readonly host: string;
  readonly port: number;
  readonly role: ObservedRole;
  /** host:port of the node this one replicates from (replicas/standbys). */
  readonly source?: string;
  readonly readOnly?: boolean;
  /** Engine-specific state in a few words: 'Synced', 'streaming', 'running', ... */
  readonly state?: string;
}

export interface Topology {
  readonly type: ClusterType;
  readonly nodes: readonly TopologyNode[];
}
