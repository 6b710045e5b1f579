// Galera's self-healing, from every snapshot of a multi-writer cluster:
//   - the writer: the members usable for writes (core/recovery/galera-writer.ts) go through the endpoint's one
//     writer rule (proxies/endpoint-view.ts, which keeps the current writer while it stays usable); when the
//     proxies use another writer, or their config still has a ready main server they would move back to, the
//     proxies are updated (runtime API, milliseconds; the config file too). Writes move once and stay.
//   - a full crash: when no member serves for two snapshots in a row, every node's host is asked (bounded) and,
//     once all answer (or a majority has answered for RECOVER_GRACE_MS), the engine's cluster recovery
//     bootstraps the most advanced node and rejoins the others (engines/galera/recover.ts); refusals raise a
//     critical alarm with the reason, `nines cluster recover --force` overrides them.
import { NinesError, toNinesError } from '../../core/errors.ts';
import { inMaintenance, nodeKey, type ClusterSnapshot } from '../../core/monitor/observation.ts';
import {
  galeraWriterTopology,
  memberUsable,
  noMemberServes,
  proxiesWriter,
  writerMoveNeeded,
} from '../../core/recovery/galera-writer.ts';
import type { ClusterSpec } from '../../core/spec.ts';
import type { ClusterRecoveryResult, Engine, HostAccess, RecoveryContext } from '../../engines/engine.ts';
import { updateEndpoint } from '../../proxies/endpoint.ts';
import { endpointView } from '../../proxies/endpoint-view.ts';
import type { EventBus } from '../events.ts';
import type { Logger } from '../logger.ts';
import type { ProxyStates } from '../monitor/cluster-monitor.ts';
import type { RecoveryAlarms } from './recovery-alarms.ts';

export interface GaleraWatchDeps {
  readonly events: EventBus;
  readonly alarms: RecoveryAlarms;
  readonly logger: Logger;
  hosts(spec: ClusterSpec): HostAccess;
  ctx(spec: ClusterSpec, log?: (line: string) => void): RecoveryContext;
  enabled(cluster: string): boolean;
  /** The type of a job of the cluster running now. */
  jobRunning(cluster: string): string | undefined;
  /** Bound on one full-cluster recovery (examine, bootstrap, rejoins). */
  readonly recoverMs: number;
  readonly signal: AbortSignal;
  now(): number;
}

interface WatchState {
  readonly desynced: Map<string, number>;
  moving: boolean;
  lastMoveAt: number;
  known: string | undefined;
  noServe: number;
  recovering: Promise<ClusterRecoveryResult> | undefined;
  nextRecoverAt: number;
  majoritySince: number | undefined;
  said: string | undefined;
}

/** Hosts that came back are given this long for the rest to come back before a majority is recovered alone. */
const RECOVER_GRACE_MS = 6000;
const HOST_CHECK_MS = 2000;

export class GaleraWatch {
  private readonly d: GaleraWatchDeps;
  private readonly states = new Map<string, WatchState>();

  constructor(deps: GaleraWatchDeps) {
    this.d = deps;
  }

  private state(cluster: string): WatchState {
    let s = this.states.get(cluster);
    if (!s) {
      s = {
        desynced: new Map(),
        moving: false,
        lastMoveAt: 0,
        known: undefined,
        noServe: 0,
        recovering: undefined,
        nextRecoverAt: 0,
        majoritySince: undefined,
        said: undefined,
      };
      this.states.set(cluster, s);
    }
    return s;
  }

  /** A cluster-wide recovery of the cluster runs (node restarts wait for it). */
  recovering(cluster: string): boolean {
    return this.states.get(cluster)?.recovering !== undefined;
  }

  forget(cluster: string): void {
    this.states.delete(cluster);
  }

  async drain(): Promise<void> {
    await Promise.allSettled([...this.states.values()].flatMap((s) => (s.recovering ? [s.recovering] : [])));
  }

  pass(spec: ClusterSpec, engine: Engine, snapshot: ClusterSnapshot, proxies: readonly ProxyStates[]): void {
    if (!engine.capabilities.multiWriter) return;
    const s = this.state(spec.name);
    for (const n of snapshot.nodes) {
      const k = nodeKey(n);
      const local = n.observation?.reachable === true ? (n.observation.galera?.localState ?? '') : '';
      s.desynced.set(k, /desynced|donor/i.test(local) ? (s.desynced.get(k) ?? 0) + 1 : 0);
    }
    const maintenance = inMaintenance(snapshot.maintenance, snapshot.time);
    const job = this.d.jobRunning(spec.name);
    const quiet = !maintenance && job === undefined && !s.recovering;
    if (spec.endpoint && quiet) this.writer(spec, snapshot, proxies, s);
    if (engine.clusterRestart) this.fullCrash(spec, engine, snapshot, s, { maintenance, job });
  }

  private fullCrash(
    spec: ClusterSpec,
    engine: Engine,
    snapshot: ClusterSnapshot,
    s: WatchState,
    now: { readonly maintenance: boolean; readonly job: string | undefined },
  ): void {
    if (!noMemberServes(snapshot)) {
      s.noServe = 0;
      s.majoritySince = undefined;
      if (s.said !== undefined) {
        s.said = undefined;
        this.d.alarms.clear(spec.name, 'galera-recovery-refused', undefined, 'a member serves again');
      }
      return;
    }
    s.noServe += 1;
    if (s.noServe < 2 || s.recovering || this.d.now() < s.nextRecoverAt) return;
    let hold: string | undefined;
    if (!this.d.enabled(spec.name)) hold = 'automatic recovery is off';
    else if (now.maintenance) hold = 'maintenance window';
    else if (now.job !== undefined) hold = `job ${now.job} runs on the cluster`;
    if (hold !== undefined) {
      this.say(spec, s, 'info', `no Galera member serves; not recovering the cluster now: ${hold}`);
      return;
    }
    const run = this.automatic(spec, engine, s);
    s.recovering = run;
    void run.finally(() => {
      s.recovering = undefined;
    });
  }

  // ---- the writer

  private writer(
    spec: ClusterSpec,
    snapshot: ClusterSnapshot,
    proxies: readonly ProxyStates[],
    s: WatchState,
  ): void {
    if (s.moving) return;
    const topology = galeraWriterTopology(snapshot, s.desynced);
    const fresh = proxies.find((p) => p.servers !== undefined && p.time > s.lastMoveAt)?.servers;
    const known = (fresh ? proxiesWriter(fresh) : undefined) ?? s.known;
    if (known === undefined && fresh === undefined) return;
    const view = endpointView(spec, topology, { currentWriter: known });
    if (!writerMoveNeeded(view.writer, known, fresh)) return;
    const from = snapshot.nodes.find((n) => nodeKey(n) === known);
    const why = from ? memberUsable(from, s.desynced.get(nodeKey(from)) ?? 0).why : 'no writer';
    s.moving = true;
    const began = this.d.now();
    const lines: string[] = [];
    void updateEndpoint(
      {
        spec,
        hosts: this.d.hosts(spec),
        signal: this.d.signal,
        log: (l) => lines.push(l),
        step: (_n, fn) => fn(),
      },
      topology,
    )
      .then((r) => {
        s.known = r.view.writer;
        if (r.view.writer === known) return;
        this.d.events.emit({
          cluster: spec.name,
          type: 'endpoint.writer-moved',
          severity: 'warning',
          message: `writes of ${spec.name} moved from ${known ?? 'none'} (${why}) to ${r.view.writer ?? 'none'} in ${this.d.now() - began} ms: ${r.view.reason}`,
          data: {
            from: known ?? null,
            to: r.view.writer ?? null,
            why,
            proxies: r.proxies.map((p) => p.action),
          },
        });
      })
      .catch((err: unknown) => {
        this.d.logger.warn({ err, cluster: spec.name, lines }, 'galera writer move failed');
      })
      .finally(() => {
        s.moving = false;
        s.lastMoveAt = this.d.now();
      });
  }

  // ---- full-cluster recovery

  private say(spec: ClusterSpec, s: WatchState, severity: 'info' | 'critical', message: string): void {
    if (s.said === message) return;
    s.said = message;
    this.d.events.emit({
      cluster: spec.name,
      type: severity === 'critical' ? 'cluster.recovery-refused' : 'cluster.recovery-held',
      severity,
      message,
    });
    if (severity === 'critical')
      this.d.alarms.raise(spec.name, 'galera-recovery-refused', 'critical', message);
  }

  private async answering(spec: ClusterSpec): Promise<number> {
    const hosts = this.d.hosts(spec);
    const ok = await Promise.all(
      spec.nodes.map((n) =>
        hosts
          .executor(n.host)
          .exec(['true'], { timeoutMs: HOST_CHECK_MS, signal: this.d.signal })
          .then(
            () => true,
            () => false,
          ),
      ),
    );
    return ok.filter(Boolean).length;
  }

  private async automatic(spec: ClusterSpec, engine: Engine, s: WatchState): Promise<ClusterRecoveryResult> {
    const total = spec.nodes.length;
    const up = await this.answering(spec);
    const now = this.d.now();
    const waiting = (reason: string): ClusterRecoveryResult => {
      s.nextRecoverAt = this.d.now() + 500;
      return { action: 'waiting', reason };
    };
    if (up === 0) {
      s.majoritySince = undefined;
      this.say(spec, s, 'info', `no Galera member serves and no node's host answers: waiting for the hosts`);
      return waiting('no host answers');
    }
    if (up < total) {
      s.majoritySince ??= now;
      if (now - s.majoritySince < RECOVER_GRACE_MS) return waiting(`${up} of ${total} hosts answer`);
    }
    try {
      const r = await this.recover(spec, engine, false);
      s.nextRecoverAt = this.d.now() + (r.action === 'recovered' ? 5000 : 3000);
      return r;
    } catch (err) {
      s.nextRecoverAt = this.d.now() + 5000;
      this.say(spec, s, 'critical', `recovery of ${spec.name} failed: ${toNinesError(err).message}`);
      return { action: 'refused', reason: toNinesError(err).message };
    }
  }

  /** One recovery (automatic, or `nines cluster recover`), with its events. */
  async recover(spec: ClusterSpec, engine: Engine, force: boolean): Promise<ClusterRecoveryResult> {
    if (!engine.clusterRestart) {
      throw new NinesError('NINES_E_INVALID_ARGUMENT', `${spec.type} clusters have no full-cluster recovery`);
    }
    const s = this.state(spec.name);
    const began = this.d.now();
    const log: string[] = [];
    const r = await engine.clusterRestart.recover(
      this.d.ctx(spec, (l) => log.push(l)),
      { force },
      this.d.recoverMs,
    );
    const detail = log.join('; ');
    if (r.action === 'recovered') {
      s.said = undefined;
      this.d.alarms.clear(spec.name, 'galera-recovery-refused', undefined, 'recovered');
      this.d.events.emit({
        cluster: spec.name,
        type: 'cluster.recovered',
        severity: 'warning',
        message: `${spec.name} recovered${force ? ' (forced)' : ''} in ${((this.d.now() - began) / 1000).toFixed(1)} s: ${r.bootstrapped ?? '?'} bootstrapped${r.position ? ` at ${r.position}` : ''}, ${r.joined?.length ?? 0} rejoined (${r.reason})`,
        data: { ...r, forced: force, ms: this.d.now() - began, log: detail },
      });
    } else if (r.action === 'refused') {
      this.say(spec, s, 'critical', `not recovering ${spec.name}: ${r.reason}`);
    }
    return r;
  }
}
