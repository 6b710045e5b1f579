// The Engine interface: one implementation per folder (mariadb/, galera/, postgres/), the same files in each
// (config.ts: pure rendering; deploy.ts; discover.ts; nodes.ts: add/remove; sql.ts: the driver wrapper;
// index.ts: the Engine object). The controller talks to engines only through this interface: differences
// between engines are capability flags and methods, never `if (type === 'galera')` outside an engine.
import type { ClusterSpec, ClusterType, NodeSpec } from '../core/spec.ts';
import type { Executor } from '../hosts/executor.ts';
import type { Topology } from '../core/topology.ts';

/** How an engine reaches the hosts of a cluster. The controller builds executors from spec.ssh. */
export interface HostAccess {
  executor(host: string): Executor;
}

export interface EngineContext {
  readonly spec: ClusterSpec;
  readonly hosts: HostAccess;
  /** A line in the job log (never a secret). */
  log(line: string): void;
  /**
   * Runs fn as a named step of the job: recorded with timestamps, visible in the job log, and skipped when a
   * resumed job already completed it. Steps must be idempotent: a retried job runs them again.
   */
  step<T>(name: string, fn: () => Promise<T>): Promise<T>;
  readonly signal: AbortSignal;
  /** The controller's address as the nodes see it (for pg_hba / grants of the monitor and admin users). */
  readonly controllerAddress: string;
}

// The observed topology types live in core/ so proxies/ (a sibling layer) can use them too.
export type { ObservedRole, Topology, TopologyNode } from '../core/topology.ts';

/** A file rendered from the spec for one node. Rendering is pure; writing is the deploy's job. */
export interface ConfigFile {
  readonly path: string;
  readonly content: string;
  readonly mode: number;
  /** "user:group" */
  readonly owner: string;
}

export interface EngineCapabilities {
  /** Every node accepts writes (Galera); the endpoint still sends writes to one node at a time. */
  readonly multiWriter: boolean;
  /** Commits can wait for a replica (semi-sync / synchronous_standby_names / Galera certification). */
  readonly synchronousReplication: boolean;
  /** Replicas have a single source and can be repointed (MariaDB replication, PostgreSQL). */
  readonly singlePrimary: boolean;
}

export interface RemoveNodeOptions {
  /** Allow removing the primary or breaking quorum. */
  readonly force: boolean;
}

export interface Engine {
  readonly type: ClusterType;
  readonly capabilities: EngineCapabilities;
  /** Pure: every file the node needs, rendered from the spec (idempotent: same spec -> same bytes). */
  renderNodeConfig(spec: ClusterSpec, node: NodeSpec): readonly ConfigFile[];
  /** From nothing (or a half-done earlier attempt) to a healthy cluster. Idempotent steps. */
  deploy(ctx: EngineContext): Promise<Topology>;
  /** Reads the topology of an existing cluster without changing anything (import). */
  discover(ctx: EngineContext): Promise<Topology>;
  /** Adds spec node `node` (already present in ctx.spec.nodes) to the running cluster. */
  addNode(ctx: EngineContext, node: NodeSpec): Promise<Topology>;
  /** Removes `node` (still present in ctx.spec.nodes) from the running cluster and stops it. */
  removeNode(ctx: EngineContext, node: NodeSpec, options: RemoveNodeOptions): Promise<Topology>;
}

export function nodeAddress(node: { readonly host: string; readonly port: number }): string {
  return `${node.host}:${node.port}`;
}
