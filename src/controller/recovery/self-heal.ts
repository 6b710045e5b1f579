// Self-healing as the recovery service runs it, per snapshot of every cluster: crashed servers started again
// (restart-loop.ts), Galera's writer kept on a usable member and a fully crashed Galera cluster recovered
// (galera-watch.ts), a primary that restarted read-only made writable again (reopen.ts).
import type { ClusterSnapshot } from '../../core/monitor/observation.ts';
import type { ClusterSpec } from '../../core/spec.ts';
import type { ClusterRecoveryResult, Engine, HostAccess, RecoveryContext } from '../../engines/engine.ts';
import type { EventBus } from '../events.ts';
import type { Logger } from '../logger.ts';
import type { ProxyStates } from '../monitor/cluster-monitor.ts';
import type { Store } from '../store/store.ts';
import { GaleraWatch } from './galera-watch.ts';
import type { RecoveryAlarms } from './recovery-alarms.ts';
import type { RecoveryRepo } from './recovery-repo.ts';
import { Reopener } from './reopen.ts';
import { RestartLoop } from './restart-loop.ts';

export interface SelfHealDeps {
  readonly store: Store;
  readonly repo: RecoveryRepo;
  readonly events: EventBus;
  readonly alarms: RecoveryAlarms;
  readonly logger: Logger;
  readonly hosts: (spec: ClusterSpec) => HostAccess;
  readonly ctx: (spec: ClusterSpec, log?: (line: string) => void) => RecoveryContext;
  readonly enabled: (cluster: string) => boolean;
  readonly failoverRunning: (cluster: string) => boolean;
  readonly verbMs: number;
  readonly signal: AbortSignal;
  readonly now: () => number;
}

/** Bound on one server start (crash recovery and IST included). */
const START_MS = 60_000;
/** Bound on one full-cluster recovery. */
const CLUSTER_RECOVER_MS = 180_000;

export class SelfHeal {
  private readonly restarts: RestartLoop;
  private readonly galera: GaleraWatch;
  private readonly reopener: Reopener;
  private readonly d: SelfHealDeps;

  constructor(d: SelfHealDeps) {
    this.d = d;
    const jobRunning = (cluster: string): string | undefined =>
      d.store.jobs.byState('running').find((j) => j.cluster === cluster)?.type;
    this.galera = new GaleraWatch({
      events: d.events,
      alarms: d.alarms,
      logger: d.logger,
      hosts: d.hosts,
      ctx: d.ctx,
      enabled: d.enabled,
      jobRunning,
      recoverMs: CLUSTER_RECOVER_MS,
      signal: d.signal,
      now: d.now,
    });
    this.restarts = new RestartLoop({
      repo: d.repo,
      inventory: d.store.inventory,
      events: d.events,
      alarms: d.alarms,
      logger: d.logger,
      ctx: (spec) => d.ctx(spec),
      enabled: d.enabled,
      failoverRunning: d.failoverRunning,
      busyWith: (c) => jobRunning(c) ?? (this.galera.recovering(c) ? 'cluster recovery' : undefined),
      startMs: START_MS,
      signal: d.signal,
      now: d.now,
    });
    this.reopener = new Reopener({
      events: d.events,
      logger: d.logger,
      ctx: (spec) => d.ctx(spec),
      timeoutMs: d.verbMs,
    });
  }

  /** Every snapshot; `primary` is the inventory's (unfenced) primary of a single-primary cluster. */
  pass(
    spec: ClusterSpec,
    engine: Engine,
    snapshot: ClusterSnapshot,
    proxies: readonly ProxyStates[],
    primary: string | undefined,
  ): void {
    this.restarts.pass(spec, engine, snapshot);
    this.galera.pass(spec, engine, snapshot, proxies);
    if (engine.recovery && primary !== undefined) {
      this.reopener.pass(spec, engine.recovery, snapshot, primary, {
        enabled: this.d.enabled(spec.name),
        failoverRunning: this.d.failoverRunning(spec.name),
        locked: () => this.d.repo.locks(spec.name).some((l) => l.node === primary),
      });
    }
  }

  /** `nines cluster recover NAME [--force]`. */
  recoverCluster(spec: ClusterSpec, engine: Engine, force: boolean): Promise<ClusterRecoveryResult> {
    return this.galera.recover(spec, engine, force);
  }

  forget(cluster: string): void {
    this.galera.forget(cluster);
  }

  async drain(): Promise<void> {
    await Promise.allSettled([this.restarts.drain(), this.galera.drain()]);
  }
}
