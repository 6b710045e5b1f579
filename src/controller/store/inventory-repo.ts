// Inventory: clusters (the spec without secrets + observed state), their nodes and their application endpoint.
// Credentials from the spec are stored only in the secrets table, encrypted (scope "cluster:<name>").
import { CREDENTIAL_NAMES, redactSpec, type ClusterSpec } from '../../core/spec.ts';
import type { Db } from './db.ts';
import type { SecretRepo } from './secret-repo.ts';

/**
 * deploying: a cluster.create job works on it (or was interrupted: re-run create); healthy: deployed or imported
 * and verified; degraded: imported with nodes that did not answer; failed: the last deploy failed (re-run
 * create with the same spec to finish it); deleting: cluster.delete runs.
 */
export const CLUSTER_STATES = ['deploying', 'healthy', 'degraded', 'failed', 'deleting'] as const;
export type ClusterState = (typeof CLUSTER_STATES)[number];

export interface ClusterSummary {
  readonly name: string;
  readonly type: string;
  readonly version: string;
  readonly state: ClusterState;
  readonly nodes: number;
  readonly createdAt: string;
  readonly updatedAt: string;
}
export interface ClusterRecord extends ClusterSummary {
  /** The spec with every credential replaced by "***". */
  readonly spec: ClusterSpec;
  readonly observed: Readonly<Record<string, unknown>>;
}
export interface NodeRecord {
  readonly cluster: string;
  readonly host: string;
  readonly port: number;
  readonly role: string | null;
  readonly datacenter: string;
  readonly priority: number;
  readonly state: string;
  readonly observed: Readonly<Record<string, unknown>>;
}
export interface EndpointRecord {
  readonly cluster: string;
  readonly proxies: readonly string[];
  readonly writePort: number;
  readonly readPort: number;
  readonly virtualIp: string | null;
}

interface ClusterRow {
  name: string;
  type: string;
  version: string;
  state: ClusterState;
  nodes: number;
  created_at: string;
  updated_at: string;
  spec_json?: string;
  observed_json?: string;
}
interface NodeRow {
  cluster: string;
  host: string;
  port: number;
  role: string | null;
  datacenter: string;
  priority: number;
  state: string;
  observed_json: string;
}

const SUMMARY_SQL = `SELECT c.name, c.type, c.version, c.state, c.created_at, c.updated_at, c.spec_json, c.observed_json,
  (SELECT COUNT(*) FROM nodes n WHERE n.cluster = c.name) AS nodes FROM clusters c`;

export function credentialScope(cluster: string): string {
  return `cluster:${cluster}`;
}

function toSummary(r: ClusterRow): ClusterSummary {
  return {
    name: r.name,
    type: r.type,
    version: r.version,
    state: r.state,
    nodes: r.nodes,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

function toNode(r: NodeRow): NodeRecord {
  return {
    cluster: r.cluster,
    host: r.host,
    port: r.port,
    role: r.role,
    datacenter: r.datacenter,
    priority: r.priority,
    state: r.state,
    observed: JSON.parse(r.observed_json) as Record<string, unknown>,
  };
}

export class InventoryRepo {
  private readonly db: Db;
  private readonly secrets: SecretRepo;
  /**
   * The cluster list, cached: it is read on every dashboard refresh and changes rarely. Safe because this
   * process is the only writer of the database (the data directory is locked) and every write goes through
   * this class, which drops the cache.
   */
  private summaries: readonly ClusterSummary[] | undefined;

  constructor(db: Db, secrets: SecretRepo) {
    this.db = db;
    this.secrets = secrets;
  }

  /** Stores a new cluster with its nodes, endpoint and (encrypted) credentials, in one transaction. */
  createCluster(spec: ClusterSpec, state: ClusterState): void {
    const now = new Date().toISOString();
    this.summaries = undefined;
    this.db.tx(() => {
      this.db.run(
        'INSERT INTO clusters (name, type, version, state, spec_json, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
        spec.name,
        spec.type,
        spec.version,
        state,
        JSON.stringify(redactSpec(spec)),
        now,
        now,
      );
      for (const n of spec.nodes) {
        this.db.run(
          'INSERT INTO nodes (cluster, host, port, role, datacenter, priority) VALUES (?, ?, ?, ?, ?, ?)',
          spec.name,
          n.host,
          n.port,
          n.role ?? null,
          n.datacenter,
          n.priority,
        );
      }
      this.writeEndpointAndCredentials(spec);
    });
  }

  /**
   * Replaces the stored spec of an existing cluster (nodes added or removed, a retried deploy): the spec
   * column, the node rows (rows of nodes that stay keep their observed state), the endpoint and the
   * credentials, in one transaction.
   */
  replaceSpec(spec: ClusterSpec): void {
    this.summaries = undefined;
    this.db.tx(() => {
      this.db.run(
        'UPDATE clusters SET version = ?, spec_json = ?, updated_at = ? WHERE name = ?',
        spec.version,
        JSON.stringify(redactSpec(spec)),
        new Date().toISOString(),
        spec.name,
      );
      const keep = new Set(spec.nodes.map((n) => `${n.host}:${n.port}`));
      for (const row of this.listNodes(spec.name)) {
        if (!keep.has(`${row.host}:${row.port}`)) {
          this.db.run(
            'DELETE FROM nodes WHERE cluster = ? AND host = ? AND port = ?',
            spec.name,
            row.host,
            row.port,
          );
        }
      }
      for (const n of spec.nodes) {
        this.db.run(
          `INSERT INTO nodes (cluster, host, port, role, datacenter, priority) VALUES (?, ?, ?, ?, ?, ?)
           ON CONFLICT (cluster, host, port) DO UPDATE SET datacenter = excluded.datacenter, priority = excluded.priority`,
          spec.name,
          n.host,
          n.port,
          n.role ?? null,
          n.datacenter,
          n.priority,
        );
      }
      this.db.run('DELETE FROM endpoints WHERE cluster = ?', spec.name);
      this.writeEndpointAndCredentials(spec);
    });
  }

  /** The endpoint row and the encrypted credentials of a spec (inside the caller's transaction). */
  private writeEndpointAndCredentials(spec: ClusterSpec): void {
    const ep = spec.endpoint;
    if (ep) {
      this.db.run(
        'INSERT INTO endpoints (cluster, proxies_json, write_port, read_port, virtual_ip) VALUES (?, ?, ?, ?, ?)',
        spec.name,
        JSON.stringify(ep.proxies),
        ep.writePort,
        ep.readPort,
        ep.virtualIp ?? null,
      );
    }
    for (const name of CREDENTIAL_NAMES)
      this.secrets.set(credentialScope(spec.name), name, spec.credentials[name]);
  }

  hasCluster(name: string): boolean {
    return this.db.get('SELECT 1 AS x FROM clusters WHERE name = ?', name) !== undefined;
  }

  getCluster(name: string): ClusterRecord | undefined {
    const r = this.db.get<ClusterRow>(`${SUMMARY_SQL} WHERE c.name = ?`, name);
    if (!r) return undefined;
    return {
      ...toSummary(r),
      spec: JSON.parse(r.spec_json ?? '{}') as ClusterSpec,
      observed: JSON.parse(r.observed_json ?? '{}') as Record<string, unknown>,
    };
  }

  listClusters(): readonly ClusterSummary[] {
    this.summaries ??= Object.freeze(
      this.db
        .all<ClusterRow>(
          `SELECT c.name, c.type, c.version, c.state, c.created_at, c.updated_at, COUNT(n.host) AS nodes
           FROM clusters c LEFT JOIN nodes n ON n.cluster = c.name GROUP BY c.name ORDER BY c.name`,
        )
        .map((r) => Object.freeze(toSummary(r))),
    );
    return this.summaries;
  }

  countClusters(): number {
    return this.db.get<{ n: number }>('SELECT COUNT(*) AS n FROM clusters')?.n ?? 0;
  }

  /** Sets the state and merges `observed` into the observed-state JSON. */
  setClusterState(name: string, state: ClusterState, observed?: Readonly<Record<string, unknown>>): void {
    const current = this.getCluster(name);
    if (!current) return;
    this.summaries = undefined;
    this.db.run(
      'UPDATE clusters SET state = ?, observed_json = ?, updated_at = ? WHERE name = ?',
      state,
      JSON.stringify({ ...current.observed, ...observed }),
      new Date().toISOString(),
      name,
    );
  }

  /** Removes the cluster, its nodes, endpoint and credentials. */
  deleteCluster(name: string): boolean {
    this.summaries = undefined;
    return this.db.tx(() => {
      this.secrets.deleteScope(credentialScope(name));
      return this.db.run('DELETE FROM clusters WHERE name = ?', name).changes > 0;
    });
  }

  /** The cluster's credentials, decrypted (for engines; never log or return them). */
  credentials(name: string): Record<string, string> {
    return this.secrets.scope(credentialScope(name));
  }

  listNodes(cluster?: string): NodeRecord[] {
    const rows = cluster
      ? this.db.all<NodeRow>('SELECT * FROM nodes WHERE cluster = ? ORDER BY host, port', cluster)
      : this.db.all<NodeRow>('SELECT * FROM nodes ORDER BY cluster, host, port');
    return rows.map(toNode);
  }

  updateNode(
    cluster: string,
    address: { readonly host: string; readonly port: number },
    change: {
      readonly state?: string;
      readonly role?: string | null;
      readonly observed?: Record<string, unknown>;
    },
  ): void {
    const row = this.db.get<NodeRow>(
      'SELECT * FROM nodes WHERE cluster = ? AND host = ? AND port = ?',
      cluster,
      address.host,
      address.port,
    );
    if (!row) return;
    this.db.run(
      'UPDATE nodes SET state = ?, role = ?, observed_json = ? WHERE cluster = ? AND host = ? AND port = ?',
      change.state ?? row.state,
      change.role === undefined ? row.role : change.role,
      JSON.stringify({ ...(JSON.parse(row.observed_json) as object), ...change.observed }),
      cluster,
      address.host,
      address.port,
    );
  }

  getEndpoint(cluster: string): EndpointRecord | undefined {
    const r = this.db.get<{
      proxies_json: string;
      write_port: number;
      read_port: number;
      virtual_ip: string | null;
    }>('SELECT * FROM endpoints WHERE cluster = ?', cluster);
    return r
      ? {
          cluster,
          proxies: JSON.parse(r.proxies_json) as string[],
          writePort: r.write_port,
          readPort: r.read_port,
          virtualIp: r.virtual_ip,
        }
      : undefined;
  }
}
