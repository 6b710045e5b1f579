// The Engine interface: one implementation per folder (mariadb/, galera/, postgres/), the same files in each
// (config.ts: pure rendering; deploy.ts; discover.ts; nodes.ts: add/remove; sql.ts: the driver wrapper;
// index.ts: the Engine object). The controller talks to engines only through this interface: differences
// between engines are capability flags and methods, never `if (type === 'galera')` outside an engine.
import type { ClusterSpec, ClusterType, NodeSpec } from '../core/spec.ts';
import type { Executor } from '../hosts/executor.ts';
import type { Topology } from '../core/topology.ts';
import type { NodeObservation } from '../core/monitor/observation.ts';

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

/** Options of a node probe (the monitor opens one per node and keeps it for the life of the cluster). */
export interface ProbeOptions {
  /** Bound on one observe() call, connect included. Default 2 s. */
  readonly timeoutMs?: number;
  /** Credentials user: probes use the monitor user. */
  readonly credentials: ClusterSpec['credentials'];
}

/**
 * A persistent probe of one node: one SQL connection, opened lazily, reopened after a failure. observe() never
 * throws: an unreachable node gives `{reachable: false, error: {code, message}}`. Counters that need two
 * readings (queries/s) are computed from the previous observe() of the same probe.
 */
export interface NodeProbe {
  observe(signal?: AbortSignal): Promise<NodeObservation>;
  close(): Promise<void>;
}

/** A statement digest (performance_schema / pg_stat_statements), totals since the server's counters reset. */
export interface StatementStat {
  readonly digest: string;
  readonly text: string;
  readonly schema: string | null;
  readonly calls: number;
  readonly totalTimeMs: number;
  readonly meanTimeMs: number;
  readonly rows: number;
}

/** A statement running now (processlist / pg_stat_activity), client sessions only. */
export interface RunningQuery {
  /** Id to kill it with (connection id / backend pid). */
  readonly id: number;
  readonly user: string;
  readonly client: string | null;
  readonly database: string | null;
  readonly state: string | null;
  readonly seconds: number;
  readonly text: string;
}

/** Query insight of one node, over the admin credentials. */
export interface QueryInsight {
  topStatements(options: {
    limit: number;
    orderBy: 'totalTime' | 'calls' | 'rows';
  }): Promise<StatementStat[]>;
  runningQueries(): Promise<RunningQuery[]>;
  /** Cancels the statement `id` runs (the session stays) — or terminates the session with `terminate`. */
  killQuery(id: number, options?: { terminate?: boolean }): Promise<void>;
  close(): Promise<void>;
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
  /** A persistent probe of one node (monitoring, issue 5). */
  openProbe(spec: ClusterSpec, node: NodeSpec, options: ProbeOptions): NodeProbe;
  /** Query insight of one node. */
  openQueryInsight(spec: ClusterSpec, node: NodeSpec): QueryInsight;
}

export function nodeAddress(node: { readonly host: string; readonly port: number }): string {
  return `${node.host}:${node.port}`;
}
