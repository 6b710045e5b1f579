// The Engine interface: one implementation per folder (mariadb/, galera/, postgres/), the same files in each
// (config.ts: pure rendering; deploy.ts; discover.ts; nodes.ts: add/remove; sql.ts: the driver wrapper;
// index.ts: the Engine object). The controller talks to engines only through this interface: differences
// between engines are capability flags and methods, never `if (type === 'galera')` outside an engine.
import type { ClusterSpec, ClusterType, NodeSpec } from '../core/spec.ts';
import type { Executor } from '../hosts/executor.ts';
import type { Topology } from '../core/topology.ts';
import type { NodeObservation } from '../core/monitor/observation.ts';
import type { AckMode } from '../core/recovery/rpo.ts';

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

/**
 * What the recovery verbs get. Unlike EngineContext there are no job steps: a failover is checkpointed by the
 * controller's persisted state machine (src/controller/recovery/), one verb per phase, and every verb is
 * idempotent (a controller that died during a verb runs it again on restart).
 */
export interface RecoveryContext {
  readonly spec: ClusterSpec;
  readonly hosts: HostAccess;
  /** A line in the failover's log / event stream (never a secret). */
  log(line: string): void;
  readonly signal: AbortSignal;
}

/** What a vantage point says about a database port: it sent its protocol greeting, it did not, or no answer. */
export type PortVerdict = 'up' | 'down' | 'unknown';

/** A node's replication state and position, read fresh for a failover decision (never from a stale probe). */
export interface ReplicationPosition {
  /** host:port */
  readonly node: string;
  /** The controller reached the database within the bound. */
  readonly reachable: boolean;
  /** Why it could not be read (no secret). */
  readonly error?: string;
  readonly role: 'primary' | 'replica' | 'unknown';
  /** Refuses writes (read_only=ON / in recovery); null when unknown. */
  readonly readOnly: boolean | null;
  /**
   * Received from its source, comparable within the cluster (MariaDB: GTID progress of what the IO thread
   * received, or of gtid_binlog_pos on a primary; PostgreSQL: pg_last_wal_receive_lsn, or pg_current_wal_lsn on a
   * primary, as bytes). Null when unknown.
   */
  readonly received: bigint | null;
  /** Applied / replayed, comparable the same way. */
  readonly applied: bigint | null;
  /** The engine's own text of those positions ('0-1-5531', '0/3000148'). */
  readonly receivedText: string | null;
  readonly appliedText: string | null;
  /** For people: 'GTID 0-1-5531', 'LSN 0/3000148 (timeline 2)'. */
  readonly label: string;
  /** Seconds it needs to apply what it received: 0 when nothing is left; null when it cannot tell. */
  readonly applyBacklogSeconds: number | null;
  /** The applier's error (SQL thread / replay), null when none. */
  readonly applyError: string | null;
  /** host:port of the source it replicates from; null when none. */
  readonly source: string | null;
  /** Its link to the source is up (IO thread connected / WAL receiver streaming); null when not a replica. */
  readonly linkUp: boolean | null;
  /** PostgreSQL: the timeline the node is on. */
  readonly timeline?: number;
}

/** How commits were acknowledged when the primary was last seen (from the monitor's last observations). */
export interface AckState {
  readonly mode: AckMode;
  /** Nodes (host:port) whose acknowledgement counted: semi-sync replicas / synchronous (quorum) standbys. */
  readonly ackSet: ReadonlySet<string>;
  /** 'transactions' (GTID) or 'bytes' (WAL). */
  readonly unit: 'transactions' | 'bytes';
  /** 'semi-sync' or 'synchronous', for sentences. */
  readonly ackName: string;
  /** The primary's last observed write position (comparable like ReplicationPosition.received). */
  readonly primaryPosition: bigint | null;
  readonly primaryPositionText: string | null;
}

export interface FenceResult {
  /** Verified: the node refuses writes (or its server is stopped). */
  readonly fenced: boolean;
  /** What was done or why it could not be: 'read_only=ON, 3 client connections killed', 'unreachable: …'. */
  readonly how: string;
}

/**
 * A session to a healthy primary, opened and authenticated in advance, that fences it with one statement
 * (armFence). Fired while the primary is frozen, the statement waits in the socket and is the first thing the
 * server does at its thaw: before any new connection can even authenticate, so no client ever sees it writable.
 */
export interface ArmedFence {
  /** The session is open (not closed, not broken): fire would reach the server. */
  readonly usable: boolean;
  /**
   * Sends the fence statement now and settles when the server ran it (or the session broke). Resolves to the
   * outcome, never throws; at most once per armed fence.
   */
  fire(): Promise<FenceResult>;
  close(): void;
}

export interface RejoinResult {
  /** rejoined: replicates from the primary; diverged: it has writes the primary lacks (left fenced). */
  readonly action: 'rejoined' | 'diverged';
  readonly reason: string;
}

/**
 * The verbs of automatic failover and switchover, for engines with one primary and repointable replicas
 * (capabilities.singlePrimary). Each verb is bounded (timeoutMs or the context's signal), idempotent, and
 * verifies its effect before it resolves; failures throw a NinesError naming the node.
 */
export interface ReplicationRecovery {
  /**
   * Replicas can be pointed at the candidate before it is promoted (MariaDB: its binlog serves them, they get its
   * writes once it is writable), so the controller repoints them while it promotes.
   */
  readonly repointsBeforePromotion?: boolean;
  /** Pure: a node's position as the monitor last observed it (for the live failover plan). */
  observedPosition(node: string, observation: NodeObservation | undefined): ReplicationPosition;
  /** Pure: how commits were acknowledged, from the last observations (primary: by its key host:port). */
  ackState(
    spec: ClusterSpec,
    primary: string,
    observations: ReadonlyMap<string, NodeObservation | undefined>,
  ): AckState;
  /**
   * Pure: transactions `node` holds that `referenceText` (the old primary's last known position, engine text)
   * lacks — MariaDB's errant GTIDs; 0 when none or the engine cannot have any.
   */
  errantTransactions(node: ReplicationPosition, referenceText: string | null): number;
  /**
   * From `from`'s host, over SSH: does `target`'s database port send its protocol greeting within timeoutMs?
   * (A frozen server's kernel still accepts the TCP connection: only the greeting counts as up.) Never throws:
   * 'unknown' when `from`'s host cannot be asked in time.
   */
  portCheck(ctx: RecoveryContext, from: NodeSpec, target: NodeSpec, timeoutMs: number): Promise<PortVerdict>;
  /** Reads a node's position over SQL. Never throws: an unreachable node is `reachable: false`. */
  readPosition(ctx: RecoveryContext, node: NodeSpec, timeoutMs: number): Promise<ReplicationPosition>;
  /**
   * Makes the (old) primary refuse writes, verified: MariaDB read_only=ON and client connections killed (server
   * stopped when that cannot be verified but the host answers); PostgreSQL: server stopped, and configured so a
   * restart comes up as a standby, never a primary. Never throws on an unreachable node: `fenced: false`.
   */
  fence(ctx: RecoveryContext, node: NodeSpec, timeoutMs: number): Promise<FenceResult>;
  /**
   * Optional: a fenced node that does not answer is waited for (up to timeoutMs) and fenced at its first answer,
   * before it serves anything else (MariaDB: a frozen server's kernel accepts the connection; the greeting comes
   * at its thaw). The controller keeps one pending while a fenced node is silent. Never throws: `fenced: false`
   * when it did not answer in time. PostgreSQL has none: its server cannot be made read-only at runtime without a
   * setting that outlives the fence; its armed fence (armFence) covers the thaw instead.
   */
  fenceOnAnswer?(ctx: RecoveryContext, node: NodeSpec, timeoutMs: number): Promise<FenceResult>;
  /**
   * Optional: opens an ArmedFence on a healthy primary (the controller keeps one per primary and fires it when a
   * failover fences that node). PostgreSQL: a superuser session whose statement asks the postmaster for a fast
   * shutdown after writing standby.signal (COPY ... TO PROGRAM; the server's cwd is its data directory).
   */
  armFence?(ctx: RecoveryContext, node: NodeSpec, timeoutMs: number): Promise<ArmedFence>;
  /**
   * Optional, automatic failover only: a replica (the candidate first) stops receiving from the failed primary while
   * that one is being fenced (what it received is final: the primary is unreachable from it, proven by the
   * detection).
   * MariaDB: STOP SLAVE IO_THREAD, which waits ~2 s for an IO thread stuck on a link to a host that vanished
   * without a reset; done here it overlaps the fence instead of adding to the promotion. Idempotent.
   */
  stopReceiving?(ctx: RecoveryContext, node: NodeSpec, timeoutMs: number): Promise<void>;
  /** Waits until `node` applied everything it received (bounded); the fresh position. */
  waitApplied(ctx: RecoveryContext, node: NodeSpec, timeoutMs: number): Promise<ReplicationPosition>;
  /**
   * Makes `node` the primary: replication stopped and forgotten, writable, verified. PostgreSQL: pg_promote and
   * synchronous_standby_names over `followers` (protection back at once). Idempotent.
   */
  promote(
    ctx: RecoveryContext,
    node: NodeSpec,
    followers: readonly NodeSpec[],
    timeoutMs: number,
  ): Promise<ReplicationPosition>;
  /** Points replica `node` at `primary` (GTID / new timeline; PostgreSQL creates its slot there first). */
  repoint(ctx: RecoveryContext, node: NodeSpec, primary: NodeSpec, timeoutMs: number): Promise<void>;
  /** Switchover, first half: the current primary refuses new writes, open ones end; its final position. */
  demote(ctx: RecoveryContext, node: NodeSpec, timeoutMs: number): Promise<ReplicationPosition>;
  /** Waits until `node` received and applied `positionText` (an engine position text). */
  waitPosition(
    ctx: RecoveryContext,
    node: NodeSpec,
    positionText: string,
    timeoutMs: number,
  ): Promise<ReplicationPosition>;
  /**
   * A fenced former primary is back: made a replica of `primary` when its history is contained in the primary's
   * (PostgreSQL: pg_rewind, else a fresh base backup); `diverged` (left fenced) when it holds writes the primary
   * lacks and the engine cannot repair that without discarding them.
   */
  rejoin(ctx: RecoveryContext, node: NodeSpec, primary: NodeSpec, timeoutMs: number): Promise<RejoinResult>;
  /** Discards `node`'s data, copies `primary`'s and starts it as its replica (nines node rebuild). */
  rebuild(ctx: RecoveryContext, node: NodeSpec, primary: NodeSpec): Promise<void>;
}

/** A node's role as nines knows it, for a restart: a replica/standby, the primary, or a Galera member. */
export type ServerRole = 'primary' | 'replica' | 'member';

/**
 * Starting a database server that died on a host that is still up (or came back): what self-healing needs from
 * an engine. Each verb is bounded by timeoutMs (and the context's signal) and names the node in its errors.
 */
export interface NodeServer {
  /**
   * Galera: a member can only be started to join a Primary component that runs (never alone, which would be a
   * second cluster); the controller starts one only while another member is Synced in a Primary component.
   */
  readonly needsServingPeer: boolean;
  /**
   * Over SSH: does nines' server process run on the node's host? Throws NINES_E_HOST_UNREACHABLE (or another
   * SSH error) when the host does not answer: "not back yet", never "stopped".
   */
  running(ctx: RecoveryContext, node: NodeSpec, timeoutMs: number): Promise<boolean>;
  /**
   * Starts the stopped server as `role` and resolves, with a sentence for people, once it serves: a MariaDB
   * replica resumes replication (its config keeps read_only=ON); a Galera member joins with its recovered
   * position (IST when the donor's gcache has it); a PostgreSQL standby starts in recovery (standby.signal is
   * written first when missing: a standby never comes up as a primary). Throws NINES_E_SERVICE with the last
   * lines of the server's log when it does not start.
   */
  start(ctx: RecoveryContext, node: NodeSpec, role: ServerRole, timeoutMs: number): Promise<string>;
}

/** What a Galera full-crash recovery did (or why it did nothing). */
export interface ClusterRecoveryResult {
  /** recovered: bootstrapped and joined; serving: a Primary component runs (nothing to do); refused: see reason. */
  readonly action: 'recovered' | 'serving' | 'refused' | 'waiting';
  readonly reason: string;
  /** The node bootstrapped (host:port) and its start position uuid:seqno. */
  readonly bootstrapped?: string;
  readonly position?: string;
  /** Nodes started to rejoin it. */
  readonly joined?: readonly string[];
  /** Nodes that could not be examined (host down). */
  readonly unexamined?: readonly string[];
}

/**
 * Recovery of a cluster in which no node serves (Galera after a full crash or power loss): examine every
 * reachable node's position, bootstrap only the most advanced one with its start position (same cluster UUID),
 * start the others to rejoin by IST. Refuses when a majority of the nodes cannot be examined, or when servers run
 * without a Primary component, unless `force`.
 */
export interface ClusterRestart {
  recover(
    ctx: RecoveryContext,
    options: { readonly force: boolean },
    timeoutMs: number,
  ): Promise<ClusterRecoveryResult>;
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
  /** Failover and switchover verbs; absent when the engine has no single primary (Galera). */
  readonly recovery?: ReplicationRecovery;
  /** Restarting a crashed server (self-healing). */
  readonly server?: NodeServer;
  /** Recovery of a cluster in which no node serves (Galera full crash). */
  readonly clusterRestart?: ClusterRestart;
}

export function nodeAddress(node: { readonly host: string; readonly port: number }): string {
  return `${node.host}:${node.port}`;
}
