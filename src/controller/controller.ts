// The controller: store + events + job runner, wired once. This is the object later features plug into:
//   controller.jobs.registerJobType({...})        new job types (deploy, failover, backup ...)
//   controller.store.inventory / .secrets          read and write inventory, credentials
//   controller.events.emit({...}) / .subscribe()   operator events (stored + live)
import { closeSync, openSync, readFileSync, rmSync, writeFileSync, writeSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { NinesError } from '../core/errors.ts';
import { ClusterHosts } from './cluster-hosts.ts';
import type { ControllerConfig } from './config.ts';
import { EventBus } from './events.ts';
import {
  deployJobTypes,
  realDeployDeps,
  submitCreate,
  submitImport,
  submitNodeAdd,
  submitNodeRemove,
  type DeployDeps,
  type SubmitSpecResult,
} from './deploy/index.ts';
import {
  DRILL_JOB,
  drillJobType,
  realDrillDeps,
  submitDrill,
  type DrillDeps,
  type DrillReport,
} from './drill/index.ts';
import { clusterDeleteJob } from './jobs/cluster-jobs.ts';
import { JobRunner } from './jobs/runner.ts';
import type { JobType } from './jobs/types.ts';
import { createLogger, type Logger } from './logger.ts';
import { engineDrivers } from './monitor/drivers.ts';
import { MonitorService, type MonitorDrivers } from './monitor/monitor-service.ts';
import { RecoveryService } from './recovery/recovery-service.ts';
import { nodeRebuildJob } from './recovery/rebuild-job.ts';
import type { ProbeHost } from './probe.ts';
import type { JobRecord } from './store/job-repo.ts';
import { openStore, type Store } from './store/store.ts';
import { SshKeys } from './ssh-keys.ts';
import { upgradeLegacySsh } from './legacy-ssh.ts';

import { ADMIN_TOKEN_FILE, PID_FILE } from './paths.ts';

export { ADMIN_TOKEN_FILE, PID_FILE };

export interface ControllerOptions {
  readonly config: ControllerConfig;
  readonly logger?: Logger;
  /** Connectivity check of the deploy jobs (default: an SSH login on each host). */
  readonly probeHost?: ProbeHost;
  /** Replaces the deploy jobs' engines, hosts and endpoint (tests); default: the real ones over SSH. */
  readonly deploy?: DeployDeps;
  /** Extra job types to register at start (they may also be registered later with jobs.registerJobType). */
  readonly jobTypes?: readonly JobType<never>[];
  /** Replaces the monitor's engines/hosts access (tests); default: engine probes and SSH. */
  readonly monitorDrivers?: MonitorDrivers;
  /** Replaces the failover drill's labs, faults and SQL (tests); default: the labs of this machine. */
  readonly drill?: DrillDeps;
}

export type CreateClusterResult = SubmitSpecResult;

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** One controller per data directory: a pid file, taken over when its process is gone (after a crash). */
function acquireLock(dataDir: string): string {
  const file = join(dataDir, PID_FILE);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx', 0o600);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return file;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number(readFileSync(file, 'utf8').trim());
      if (pid > 0 && isAlive(pid)) {
        throw new NinesError('NINES_E_CONTROLLER_RUNNING', `pid ${pid} holds ${file}`, {
          context: { pid, file },
        });
      }
      rmSync(file, { force: true });
    }
  }
  throw new NinesError('NINES_E_CONTROLLER_RUNNING', `cannot take ${file}`);
}

export class Controller {
  readonly config: ControllerConfig;
  readonly logger: Logger;
  readonly store: Store;
  readonly events: EventBus;
  readonly jobs: JobRunner;
  /** Monitoring: loops per cluster, alarms, metrics, notifications (controller/monitor). */
  readonly monitor: MonitorService;
  /** Failover, switchover, rejoin (controller/recovery). */
  readonly recovery: RecoveryService;
  readonly startedAt = Date.now();
  private readonly lockFile: string;
  private readonly deployDeps: DeployDeps;
  private readonly drillDeps: DrillDeps;
  private closed = false;
  /**
   * How the controller reaches cluster hosts (deploy jobs and monitor alike): registered keys, per-cluster
   * known_hosts, SSH connections owned here so close() ends them (nothing keeps the process alive).
   */
  readonly hosts: ClusterHosts;
  /** SSH keys registered with the controller (specs name them with ssh.key). */
  readonly keys: SshKeys;

  private constructor(options: ControllerOptions, store: Store, lockFile: string) {
    this.config = options.config;
    this.logger = options.logger ?? createLogger(options.config.logLevel);
    this.store = store;
    this.lockFile = lockFile;
    this.events = new EventBus(store.events, this.logger);
    this.jobs = new JobRunner({
      store,
      events: this.events,
      logger: this.logger,
      maxConcurrent: options.config.jobs.maxConcurrent,
    });
    this.hosts = new ClusterHosts({ dataDir: options.config.dataDir, keys: store.keys, logger: this.logger });
    this.keys = new SshKeys(store, this.events);
    upgradeLegacySsh(store, options.config.dataDir, this.events, this.logger);
    // A deleted cluster's connections close and its pinned host keys go with it.
    this.events.subscribe((e) => {
      if (e.type !== 'cluster.deleted' || !e.cluster) return;
      try {
        this.hosts.removeCluster(e.cluster);
      } catch (err) {
        this.logger.error(
          { err, cluster: e.cluster },
          `cannot remove the known_hosts of cluster ${e.cluster}`,
        );
      }
    });
    this.deployDeps = options.deploy ?? realDeployDeps(this.hosts, options.probeHost);
    for (const t of deployJobTypes(this.deployDeps)) this.jobs.registerJobType(t);
    this.failInterruptedDeploys();
    this.jobs.registerJobType(clusterDeleteJob);
    this.drillDeps = options.drill ?? realDrillDeps(this.hosts, () => this.recovery);
    this.jobs.registerJobType(drillJobType(this.drillDeps));
    for (const t of options.jobTypes ?? []) this.jobs.registerJobType(t);
    this.monitor = new MonitorService({
      store,
      events: this.events,
      jobs: this.jobs,
      logger: this.logger,
      config: options.config.monitor,
      drivers: options.monitorDrivers ?? engineDrivers,
      hosts: this.hosts,
    });
    const rc = options.config.recovery;
    const deployDeps = this.deployDeps;
    this.recovery = new RecoveryService({
      store,
      events: this.events,
      jobs: this.jobs,
      logger: this.logger,
      alarms: this.monitor.alarms,
      notify: this.monitor.notify,
      config: {
        enabled: rc.enabled,
        cooldownMs: rc.cooldownMs,
        portCheckMs: rc.portCheckMs,
        rejoinIntervalMs: rc.rejoinIntervalMs,
        timeouts: {
          positionMs: rc.positionMs,
          fenceMs: rc.fenceMs,
          catchUpMs: rc.catchUpMs,
          verbMs: rc.verbMs,
        },
      },
      engineFor: (type) => deployDeps.engineFor(type),
      // Injected deploy drivers (tests) bring their own hosts; the real ones get recovery's own connections.
      hosts: options.deploy ? (spec) => deployDeps.hosts(spec) : (spec) => this.hosts.recoveryAccess(spec),
      fullSpec: (name) => this.monitor.fullSpec(name),
    });
    this.monitor.setRecovery(this.recovery);
    this.jobs.registerJobType(nodeRebuildJob(this.recovery));
  }

  /** Opens the data directory (lock, key, database, migrations) and makes sure an admin token exists. */
  static open(options: ControllerOptions): Controller {
    const store = openStore(options.config.dataDir);
    let lock: string;
    try {
      lock = acquireLock(options.config.dataDir);
    } catch (err) {
      store.close();
      throw err;
    }
    const controller = new Controller(options, store, lock);
    controller.ensureAdminToken();
    return controller;
  }

  get adminTokenFile(): string {
    return join(this.config.dataDir, ADMIN_TOKEN_FILE);
  }

  /** Recovers interrupted jobs and starts the job queue. */
  start(): void {
    this.jobs.start();
    this.recovery.start();
    if (this.config.monitor.enabled) this.monitor.start();
  }

  private ensureAdminToken(): void {
    if (this.store.tokens.countActive('admin') > 0) return;
    const { token } = this.store.tokens.create('admin', 'admin');
    writeFileSync(this.adminTokenFile, `${token}\n`, { mode: 0o600 });
    chmodSync(this.adminTokenFile, 0o600);
    this.logger.info(
      { file: this.adminTokenFile },
      `first start: admin API token written to ${this.adminTokenFile}`,
    );
  }

  /**
   * Validates a spec (object, or YAML/JSON text), checks that its SSH key is registered and queues cluster.create (or, for a
   * cluster left failed by an earlier attempt and the same spec, runs the deploy again). Nothing is written to
   * the store unless the spec is valid and the name free.
   */
  createCluster(input: unknown, requestedBy?: string): Promise<CreateClusterResult> {
    return Promise.resolve().then(() => submitCreate(this, input, requestedBy));
  }

  /** Queues cluster.import: reads the topology of a running cluster and stores it. */
  importCluster(input: unknown, requestedBy?: string): Promise<CreateClusterResult> {
    return Promise.resolve().then(() => submitImport(this, input, requestedBy));
  }

  /** Queues node.add `{host, port?, datacenter?, priority?}`. */
  addNode(cluster: string, params: unknown, requestedBy?: string): JobRecord {
    return submitNodeAdd(this, cluster, params, requestedBy);
  }

  /** Queues node.remove `{host, port?, force?}`. */
  removeNode(cluster: string, params: unknown, requestedBy?: string): JobRecord {
    return submitNodeRemove(this, cluster, params, requestedBy);
  }

  /** Queues drill.failover `{fault, repeat?, rate?, timeoutMs?}` (lab clusters only, one drill at a time). */
  drill(cluster: string, params: unknown, requestedBy?: string): JobRecord {
    return submitDrill(this, this.drillDeps, cluster, params, requestedBy);
  }

  /** A drill job of `cluster` and its report (null until the job has finished its last step). */
  drillReport(cluster: string, id: number): { job: JobRecord; report: DrillReport | null } {
    const job = this.store.jobs.get(id);
    if (!job || job.type !== DRILL_JOB || job.cluster !== cluster) {
      throw new NinesError('NINES_E_JOB_NOT_FOUND', `drill job ${id} of cluster ${cluster}`, {
        context: { id, cluster },
      });
    }
    const done = this.store.jobs.completedStep(id, 'report');
    return { job, report: (done?.result as DrillReport | undefined) ?? null };
  }

  /** A deploy cut short by a crash of the controller (job interrupted) leaves the cluster failed, not deploying. */
  private failInterruptedDeploys(): void {
    for (const c of this.store.inventory.listClusters()) {
      if (c.state !== 'deploying') continue;
      // A queued create will run; a running one was cut by the stop and is failed by recover() (not resumable).
      const queued = this.store.jobs.byState('queued');
      if (queued.some((j) => j.cluster === c.name && j.type === 'cluster.create')) continue;
      this.store.inventory.setClusterState(c.name, 'failed', {
        error: { code: 'NINES_E_JOB_INTERRUPTED', message: 'the controller stopped during the deploy' },
      });
    }
  }

  /** Queues cluster.delete; `confirm` must repeat the cluster name. */
  deleteCluster(name: string, confirm: string | undefined, requestedBy?: string): JobRecord {
    if (!this.store.inventory.hasCluster(name)) {
      throw new NinesError('NINES_E_CLUSTER_NOT_FOUND', name, { context: { cluster: name } });
    }
    if (confirm !== name) {
      throw new NinesError('NINES_E_CONFIRMATION_REQUIRED', `deleting cluster ${name}`, {
        context: { cluster: name },
      });
    }
    return this.jobs.submit({ type: 'cluster.delete', cluster: name, requestedBy: requestedBy ?? null });
  }

  /**
   * Graceful stop: the monitor stops, jobs reach a checkpoint or are recorded as interrupted, then the SSH
   * connections, the database and the lock are released. Every part is closed even when an earlier one fails
   * (each failure is logged); the lock file is removed last, always, so a new controller can start.
   */
  async close(graceMs = this.config.jobs.shutdownGraceMs): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const steps: [string, () => unknown][] = [
      ['monitor', () => this.monitor.stop()],
      ['recovery', () => this.recovery.stop()],
      ['jobs', () => this.jobs.stop(graceMs)],
      ['deploy hosts', () => this.deployDeps.close()],
      ['ssh connections', () => this.hosts.close()],
      ['store', () => this.store.close()],
    ];
    try {
      for (const [what, step] of steps) {
        try {
          await step();
        } catch (err) {
          this.logger.error({ err, part: what }, `closing the controller: ${what} failed; closing the rest`);
        }
      }
    } finally {
      rmSync(this.lockFile, { force: true });
    }
  }
}
