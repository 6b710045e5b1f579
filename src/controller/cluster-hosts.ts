// How the controller reaches a cluster's hosts, in one place for the deploy jobs and the monitor: SSH executors
// built from spec.ssh (user, port, and the name of a key registered with the controller, decrypted from the
// store), host keys pinned per cluster in <data-dir>/clusters/<cluster>/known_hosts (trust on first use; the
// path is derived from the validated cluster name only, never from user input), the SSH login probe used as
// the connectivity check, and the controller's address as the nodes see it.
// Connections are pooled per cluster and purpose: the monitor's pollers never close a connection under a job.
import { rmSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import { NinesError, toNinesError } from '../core/errors.ts';
import type { ClusterSpec } from '../core/spec.ts';
import type { HostAccess } from '../engines/engine.ts';
import type { Executor } from '../hosts/executor.ts';
import type { HostLogger } from '../hosts/logger.ts';
import { createSshExecutor } from '../hosts/ssh-executor.ts';
import { SshPool } from '../hosts/ssh-pool.ts';
import type { ProbeHost, ProbeTarget } from './probe.ts';
import type { KeyRepo } from './store/key-repo.ts';

export const CLUSTERS_DIR = 'clusters';
export const KNOWN_HOSTS_FILE = 'known_hosts';
/** Cluster names as the spec schema allows them (a DNS label): nothing else becomes a path component. */
const CLUSTER_NAME = /^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** Bound on TCP connect + SSH handshake of the deploy jobs' connections. */
const CONNECT_TIMEOUT_MS = 10_000;
/** The monitor's pollers give up sooner: the next poll comes soon. */
const MONITOR_CONNECT_TIMEOUT_MS = 5000;

type Purpose = 'jobs' | 'monitor' | 'recovery';

/** Parses `$SSH_CLIENT` ("client-ip client-port server-port") into the client's address. */
export function parseSshClient(value: string): string | undefined {
  const m = /^\s*([0-9A-Fa-f.:]+)\s+\d+\s+\d+\s*$/.exec(value);
  return m?.[1];
}

/** `<dataDir>/clusters/<cluster>`; refuses any name that is not a cluster name (so it cannot leave the dir). */
export function clusterDir(dataDir: string, cluster: string): string {
  const base = resolve(dataDir, CLUSTERS_DIR);
  const dir = resolve(base, cluster);
  const rel = relative(base, dir);
  if (!CLUSTER_NAME.test(cluster) || rel !== cluster || rel.includes(sep)) {
    throw new NinesError('NINES_E_INVALID_ARGUMENT', `not a cluster name: ${JSON.stringify(cluster)}`);
  }
  return dir;
}

/** The known_hosts file of a cluster, owned by the controller. */
export function knownHostsPath(dataDir: string, cluster: string): string {
  return join(clusterDir(dataDir, cluster), KNOWN_HOSTS_FILE);
}

/** The executors of one cluster's hosts for the monitor's pollers; close() ends their connections. */
export interface MonitorHostAccess {
  executor(host: string): Executor;
  close(): Promise<void>;
}

export interface ClusterHostsOptions {
  readonly dataDir: string;
  readonly keys: KeyRepo;
  readonly logger?: HostLogger;
}

function unknownKey(name: string): NinesError {
  return new NinesError('NINES_E_SSH_KEY_UNKNOWN', `ssh.key: no key named '${name}' is registered`, {
    context: { key: name },
  });
}

/** Throws NINES_E_SSH_KEY_UNKNOWN unless the key named by a spec (ssh.key) is registered. */
export function requireRegisteredKey(keys: Pick<KeyRepo, 'has'>, name: string): void {
  if (!keys.has(name)) throw unknownKey(name);
}

export class ClusterHosts {
  private readonly dataDir: string;
  private readonly keys: KeyRepo;
  private readonly logger: HostLogger | undefined;
  private readonly executors = new Map<string, Executor>();
  private readonly pools = new Map<string, SshPool>();
  private readonly addresses = new Map<string, string>();

  constructor(options: ClusterHostsOptions) {
    this.dataDir = options.dataDir;
    this.keys = options.keys;
    this.logger = options.logger;
  }

  knownHostsPath(cluster: string): string {
    return knownHostsPath(this.dataDir, cluster);
  }

  private pool(cluster: string, purpose: Purpose): SshPool {
    const id = `${purpose}/${cluster}`;
    let pool = this.pools.get(id);
    if (!pool) {
      pool = new SshPool();
      this.pools.set(id, pool);
    }
    return pool;
  }

  /**
   * An executor for a host that logs in with the registered key. The key is looked up at first use, so an
   * unknown key is a rejected command (NINES_E_SSH_KEY_UNKNOWN), not a throw where executors are handed out.
   */
  private executor(target: ProbeTarget, purpose: Purpose): Executor {
    let inner: Executor | undefined;
    const get = (): Promise<Executor> => {
      try {
        inner ??= this.sshExecutor(target, purpose);
        return Promise.resolve(inner);
      } catch (err) {
        return Promise.reject(toNinesError(err));
      }
    };
    return {
      host: target.host,
      exec: async (argv, options) => (await get()).exec(argv, options),
      putFile: async (path, content, options) => (await get()).putFile(path, content, options),
      getFile: async (path, options) => (await get()).getFile(path, options),
      close: async () => {
        await inner?.close();
      },
    };
  }

  /** A new SSH executor (monitor) or the cached one (jobs). */
  private sshExecutor(target: ProbeTarget, purpose: Purpose): Executor {
    const record = this.keys.get(target.key);
    const privateKey = record ? this.keys.privateKey(target.key) : undefined;
    if (!record || privateKey === undefined) throw unknownKey(target.key);
    const path = this.knownHostsPath(target.cluster);
    // The fingerprint is part of the cache key: a replaced key gets new executors.
    const id = JSON.stringify([
      purpose,
      target.cluster,
      target.user,
      target.host,
      target.port,
      record.fingerprint,
    ]);
    const cached = purpose !== 'monitor';
    let ex = cached ? this.executors.get(id) : undefined;
    if (!ex) {
      ex = createSshExecutor({
        host: target.host,
        port: target.port,
        user: target.user,
        privateKey,
        knownHostsPath: path,
        connectTimeoutMs: purpose === 'jobs' ? CONNECT_TIMEOUT_MS : MONITOR_CONNECT_TIMEOUT_MS,
        pool: this.pool(target.cluster, purpose),
        ...(this.logger ? { logger: this.logger } : {}),
      });
      if (cached) this.executors.set(id, ex);
    }
    return ex;
  }

  private target(spec: ClusterSpec, host: string): ProbeTarget {
    return { cluster: spec.name, host, user: spec.ssh.user, port: spec.ssh.port, key: spec.ssh.key };
  }

  /** Executors for the hosts of a spec (nodes and proxies alike), reached with spec.ssh (deploy jobs). */
  access(spec: ClusterSpec): HostAccess {
    return { executor: (host) => this.executor(this.target(spec, host), 'jobs') };
  }

  /**
   * Recovery's executors (failover, rejoin): cached and kept open like the jobs' (a failover cannot wait for SSH
   * handshakes) but on their own connections, with the monitor's shorter connect timeout, so a long deploy step
   * never holds the channel a failover needs.
   */
  recoveryAccess(spec: ClusterSpec): HostAccess {
    return { executor: (host) => this.executor(this.target(spec, host), 'recovery') };
  }

  /** The monitor's own executors for a cluster (separate connections, closed when monitoring stops). */
  monitorAccess(spec: ClusterSpec): MonitorHostAccess {
    const cache = new Map<string, Executor>();
    return {
      executor: (host) => {
        let ex = cache.get(host);
        if (!ex) {
          ex = this.executor(this.target(spec, host), 'monitor');
          cache.set(host, ex);
        }
        return ex;
      },
      close: async () => {
        await Promise.allSettled([...cache.values()].map((e) => e.close()));
        cache.clear();
      },
    };
  }

  /** The connectivity check: an SSH login that runs `true`. */
  readonly probe: ProbeHost = async (target, signal) => {
    const started = Date.now();
    await this.executor(target, 'jobs').exec(['true'], { timeoutMs: CONNECT_TIMEOUT_MS + 5000, signal });
    return { detail: `ssh ${target.user}@${target.host}:${target.port} ok (${Date.now() - started} ms)` };
  };

  /**
   * The controller's address as the nodes see it: `$SSH_CLIENT` of a login on the first node that answers.
   * Cached per cluster (the route from the controller to a cluster does not change while it runs).
   */
  async controllerAddress(spec: ClusterSpec, signal: AbortSignal): Promise<string> {
    const cached = this.addresses.get(spec.name);
    if (cached) return cached;
    const access = this.access(spec);
    const hosts = [...new Set([...spec.nodes.map((n) => n.host), ...(spec.endpoint?.proxies ?? [])])];
    const problems: string[] = [];
    for (const host of hosts) {
      try {
        const r = await access
          .executor(host)
          .exec(['sh', '-c', 'echo "$SSH_CLIENT"'], { timeoutMs: CONNECT_TIMEOUT_MS + 5000, signal });
        const address = parseSshClient(r.stdout);
        if (address) {
          this.addresses.set(spec.name, address);
          return address;
        }
        problems.push(`${host}: SSH_CLIENT is '${r.stdout.trim()}'`);
      } catch (err) {
        signal.throwIfAborted();
        const e = toNinesError(err);
        problems.push(`${host}: ${e.code}: ${e.message}`);
      }
    }
    throw new NinesError(
      'NINES_E_HOST_UNREACHABLE',
      `cannot learn the controller's address from any host of ${spec.name}: ${problems.join('; ')}`,
      { context: { cluster: spec.name } },
    );
  }

  /** Forgets the cached address of a cluster (deleted or imported again). */
  forget(cluster: string): void {
    this.addresses.delete(cluster);
  }

  /**
   * A cluster left the controller: its connections close and its pinned host keys are removed (a cluster
   * created again under that name, e.g. on rebuilt hosts, starts with trust on first use).
   */
  removeCluster(cluster: string): void {
    this.forget(cluster);
    for (const purpose of ['jobs', 'monitor', 'recovery'] as const) {
      // Not awaited (called from an event listener): the pool ends its connections on its own.
      void this.pools
        .get(`${purpose}/${cluster}`)
        ?.closeAll()
        .catch(() => undefined);
      this.pools.delete(`${purpose}/${cluster}`);
    }
    for (const id of [...this.executors.keys()]) {
      if ((JSON.parse(id) as unknown[])[1] === cluster) this.executors.delete(id);
    }
    rmSync(clusterDir(this.dataDir, cluster), { recursive: true, force: true });
  }

  /** Ends every connection (controller shutdown). */
  async close(): Promise<void> {
    this.executors.clear();
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.map((pool) => pool.closeAll()));
  }
}
