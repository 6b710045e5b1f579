// How the controller reaches a cluster's hosts: SSH executors built from spec.ssh (user, key file, port,
// known_hosts file — default <data-dir>/known_hosts, trust on first use), shared through one pool; the SSH
// login probe used as the connectivity check; and the controller's address as the nodes see it.
import { join } from 'node:path';
import { NinesError, toNinesError } from '../../core/errors.ts';
import type { ClusterSpec } from '../../core/spec.ts';
import type { HostAccess } from '../../engines/engine.ts';
import type { Executor } from '../../hosts/executor.ts';
import type { HostLogger } from '../../hosts/logger.ts';
import { createSshExecutor } from '../../hosts/ssh-executor.ts';
import { SshPool } from '../../hosts/ssh-pool.ts';
import { resolveKeyFile, type ProbeHost, type ProbeTarget } from '../probe.ts';

export const KNOWN_HOSTS_FILE = 'known_hosts';

/** Bound on TCP connect + SSH handshake of the controller's connections. */
const CONNECT_TIMEOUT_MS = 10_000;

/** Parses `$SSH_CLIENT` ("client-ip client-port server-port") into the client's address. */
export function parseSshClient(value: string): string | undefined {
  const m = /^\s*([0-9A-Fa-f.:]+)\s+\d+\s+\d+\s*$/.exec(value);
  return m?.[1];
}

export class HostPool {
  private readonly dataDir: string;
  private readonly logger: HostLogger | undefined;
  private readonly executors = new Map<string, Executor>();
  private readonly addresses = new Map<string, string>();
  /** The controller's own connections: other users of the process-wide pool cannot close them under a job. */
  private readonly pool = new SshPool();

  constructor(dataDir: string, logger?: HostLogger) {
    this.dataDir = dataDir;
    this.logger = logger;
  }

  knownHostsPath(ssh: { readonly knownHostsFile?: string | undefined }): string {
    return ssh.knownHostsFile ? resolveKeyFile(ssh.knownHostsFile) : join(this.dataDir, KNOWN_HOSTS_FILE);
  }

  private executor(target: ProbeTarget): Executor {
    const knownHostsPath = this.knownHostsPath(target);
    const keyFile = resolveKeyFile(target.keyFile);
    const key = JSON.stringify([target.user, target.host, target.port, keyFile, knownHostsPath]);
    let ex = this.executors.get(key);
    if (!ex) {
      ex = createSshExecutor({
        host: target.host,
        port: target.port,
        user: target.user,
        privateKeyPath: keyFile,
        knownHostsPath,
        connectTimeoutMs: CONNECT_TIMEOUT_MS,
        pool: this.pool,
        ...(this.logger ? { logger: this.logger } : {}),
      });
      this.executors.set(key, ex);
    }
    return ex;
  }

  /** Executors for the hosts of a spec (nodes and proxies alike), reached with spec.ssh. */
  access(spec: ClusterSpec): HostAccess {
    const { user, port, keyFile, knownHostsFile } = spec.ssh;
    return {
      executor: (host) =>
        this.executor({ host, user, port, keyFile, ...(knownHostsFile ? { knownHostsFile } : {}) }),
    };
  }

  /** The connectivity check: an SSH login that runs `true`. */
  readonly probe: ProbeHost = async (target, signal) => {
    const started = Date.now();
    await this.executor(target).exec(['true'], { timeoutMs: CONNECT_TIMEOUT_MS + 5000, signal });
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

  close(): Promise<void> {
    this.executors.clear();
    return this.pool.closeAll();
  }
}
