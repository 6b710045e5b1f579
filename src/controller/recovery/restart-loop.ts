// Self-healing of crashed servers, from every snapshot of every cluster: a node whose probe fails is asked over
// SSH whether its server runs; one that does not is started again by its engine (NodeServer.start) in the role
// the inventory gives it — unless decideRestart (core/recovery/restart.ts) says not now: a lock, maintenance,
// recovery off, a failover or a job running, no serving member to join (Galera). Failed starts back off (1, 2,
// 4 s) and after MAX_START_FAILURES raise a critical alarm with the server's log line; the node seen answering
// again clears it. Every start, failure and hold is an event.
import { toNinesError } from '../../core/errors.ts';
import { inMaintenance, nodeKey, type ClusterSnapshot } from '../../core/monitor/observation.ts';
import { MAX_START_FAILURES, decideRestart, restartDelayMs } from '../../core/recovery/restart.ts';
import type { ClusterSpec, NodeSpec } from '../../core/spec.ts';
import type { Engine, NodeServer, RecoveryContext, ServerRole } from '../../engines/engine.ts';
import type { EventBus } from '../events.ts';
import type { Logger } from '../logger.ts';
import type { InventoryRepo } from '../store/inventory-repo.ts';
import type { RecoveryAlarms } from './recovery-alarms.ts';
import type { RecoveryRepo } from './recovery-repo.ts';

export interface RestartDeps {
  readonly repo: RecoveryRepo;
  readonly inventory: InventoryRepo;
  readonly events: EventBus;
  readonly alarms: RecoveryAlarms;
  readonly logger: Logger;
  ctx(spec: ClusterSpec): RecoveryContext;
  enabled(cluster: string): boolean;
  /** A failover/switchover of the cluster runs or starts. */
  failoverRunning(cluster: string): boolean;
  /** The type of a job of the cluster running now, or a cluster-wide recovery (Galera) in progress. */
  busyWith(cluster: string): string | undefined;
  /** Bound on one server start (crash recovery, IST included). */
  readonly startMs: number;
  readonly signal: AbortSignal;
  now(): number;
}

interface Attempt {
  busy: boolean;
  nextAt: number;
  failures: number;
  downSince: number;
  hostSilentSaid: boolean;
}

/** Bound on asking a host whether the server runs (an SSH round trip on a kept connection, or a login). */
const RUNNING_CHECK_MS = 2500;
/** Pause before asking again a host that did not answer, or about a server that runs but does not answer. */
const RECHECK_MS = 1000;

export class RestartLoop {
  private readonly d: RestartDeps;
  private readonly attempts = new Map<string, Attempt>();
  /** Per cluster/node: the reason last announced for not starting it. */
  private readonly held = new Map<string, string>();
  private readonly running = new Set<Promise<void>>();
  /** Per cluster/node: a node-start-failed alarm was raised (cleared when the node answers again). */
  private readonly alarmed = new Set<string>();

  constructor(deps: RestartDeps) {
    this.d = deps;
  }

  pass(spec: ClusterSpec, engine: Engine, snapshot: ClusterSnapshot): void {
    const server = engine.server;
    if (!server) return;
    const answers = (node: NodeSpec): boolean =>
      snapshot.nodes.find((n) => nodeKey(n) === nodeKey(node))?.observation?.reachable === true;
    // The common case, every node answering: forget what was pending, without reading the store.
    if (spec.nodes.every(answers)) {
      for (const node of spec.nodes) this.back(spec, nodeKey(node), `${spec.name}/${nodeKey(node)}`);
      return;
    }
    const fenced = new Set(this.d.repo.nodeStates(spec.name).map((n) => n.node));
    const locked = new Set(this.d.repo.locks(spec.name).map((l) => l.node));
    const roles = new Map(this.d.inventory.listNodes(spec.name).map((n) => [nodeKey(n), n.role]));
    // A member to join: Synced in a Primary component that no longer counts every node (its members evicted the
    // dead one: a new incarnation joining before that waits for the old one's inactive timeout).
    const servingMembers = snapshot.nodes.filter(
      (n) =>
        n.observation?.reachable === true &&
        n.observation.galera?.clusterStatus === 'Primary' &&
        n.observation.galera.localState === 'Synced' &&
        n.observation.galera.clusterSize < snapshot.expectedNodes,
    );
    for (const node of spec.nodes) {
      const key = nodeKey(node);
      const id = `${spec.name}/${key}`;
      const snap = snapshot.nodes.find((n) => nodeKey(n) === key);
      const reachable = snap?.observation?.reachable === true;
      if (reachable) {
        this.back(spec, key, id);
        continue;
      }
      if (!snap?.observation) continue; // never probed yet
      const decision = decideRestart({
        role: roles.get(key) ?? null,
        reachable,
        singlePrimary: engine.capabilities.singlePrimary,
        fenced: fenced.has(key),
        locked: locked.has(key),
        maintenance:
          inMaintenance(snapshot.maintenance, snapshot.time) ||
          inMaintenance(snap.maintenance, snapshot.time),
        enabled: this.d.enabled(spec.name),
        failoverRunning: this.d.failoverRunning(spec.name),
        jobRunning: this.d.busyWith(spec.name),
        needsServingPeer: server.needsServingPeer,
        servingPeer: servingMembers.some((n) => nodeKey(n) !== key),
      });
      if (decision.action === 'none') {
        this.held.delete(id);
        continue;
      }
      if (decision.action === 'hold') {
        this.hold(spec, key, id, decision.reason);
        continue;
      }
      this.held.delete(id);
      const role: ServerRole = engine.capabilities.multiWriter ? 'member' : 'replica';
      this.maybeStart(spec, server, node, role, id);
    }
  }

  private hold(spec: ClusterSpec, key: string, id: string, reason: string): void {
    // Whoever holds it (an operator's lock, a job) takes over: the next start begins a fresh backoff.
    if (!this.attempts.get(id)?.busy) this.attempts.delete(id);
    if (this.held.get(id) === reason) return;
    this.held.set(id, reason);
    this.d.events.emit({
      cluster: spec.name,
      type: 'node.restart-held',
      severity: 'info',
      message: `${key} does not answer; not starting it now: ${reason}`,
      data: { node: key, reason },
    });
  }

  /** Settles when the starts in progress did (each is bounded by startMs). */
  async drain(): Promise<void> {
    await Promise.allSettled([...this.running]);
  }

  private back(spec: ClusterSpec, key: string, id: string): void {
    this.held.delete(id);
    const a = this.attempts.get(id);
    if (a?.busy) return;
    this.attempts.delete(id);
    if (this.alarmed.delete(id))
      this.d.alarms.clear(spec.name, 'node-start-failed', key, 'the node answers again');
  }

  private maybeStart(
    spec: ClusterSpec,
    server: NodeServer,
    node: NodeSpec,
    role: ServerRole,
    id: string,
  ): void {
    const now = this.d.now();
    let a = this.attempts.get(id);
    if (!a) {
      a = { busy: false, nextAt: 0, failures: 0, downSince: now, hostSilentSaid: false };
      this.attempts.set(id, a);
    }
    if (a.busy || now < a.nextAt) return;
    a.busy = true;
    const work = this.attempt(spec, server, node, role, a).finally(() => {
      a.busy = false;
      this.running.delete(work);
    });
    this.running.add(work);
  }

  private async attempt(
    spec: ClusterSpec,
    server: NodeServer,
    node: NodeSpec,
    role: ServerRole,
    a: Attempt,
  ): Promise<void> {
    const key = nodeKey(node);
    const ctx = this.d.ctx(spec);
    let runs: boolean;
    try {
      runs = await server.running(ctx, node, RUNNING_CHECK_MS);
    } catch (err) {
      a.nextAt = this.d.now() + RECHECK_MS;
      if (!a.hostSilentSaid) {
        a.hostSilentSaid = true;
        this.d.events.emit({
          cluster: spec.name,
          type: 'node.restart-held',
          severity: 'info',
          message: `${key} does not answer and neither does its host (${toNinesError(err).message}); its server is started when the host is back`,
          data: { node: key, reason: 'host does not answer' },
        });
      }
      return;
    }
    if (runs) {
      // Running but not answering the probe: starting up, hung or frozen — not a crash; the monitor's alarms
      // say what it is. Asked again later.
      a.nextAt = this.d.now() + RECHECK_MS;
      return;
    }
    if (this.d.signal.aborted) return;
    const began = this.d.now();
    this.d.events.emit({
      cluster: spec.name,
      type: 'node.restarting',
      severity: 'warning',
      message: `${key} (${role}): its server is not running on a live host; starting it${a.failures > 0 ? ` (attempt ${a.failures + 1})` : ''}`,
      data: { node: key, role, attempt: a.failures + 1 },
    });
    try {
      const how = await server.start(ctx, node, role, this.d.startMs);
      const downMs = this.d.now() - a.downSince;
      this.d.events.emit({
        cluster: spec.name,
        type: 'node.restarted',
        severity: 'info',
        message: `${key} restarted: ${how} (${(downMs / 1000).toFixed(1)} s after it was first seen down)`,
        data: { node: key, role, downMs, startMs: this.d.now() - began, how },
      });
      if (this.alarmed.delete(`${spec.name}/${key}`)) {
        this.d.alarms.clear(spec.name, 'node-start-failed', key, 'restarted');
      }
      a.failures = 0;
      a.nextAt = this.d.now() + RECHECK_MS;
    } catch (err) {
      const e = toNinesError(err);
      a.failures += 1;
      a.nextAt = this.d.now() + restartDelayMs(a.failures);
      const next = Math.round((a.nextAt - this.d.now()) / 1000);
      this.d.events.emit({
        cluster: spec.name,
        type: 'node.restart-failed',
        severity: 'warning',
        message: `start of ${key} failed (attempt ${a.failures}): ${e.message}; next attempt in ${next} s`,
        data: { node: key, code: e.code, attempt: a.failures },
      });
      if (a.failures === MAX_START_FAILURES) {
        this.alarmed.add(`${spec.name}/${key}`);
        this.d.alarms.raise(
          spec.name,
          'node-start-failed',
          'critical',
          `${key} does not start (${a.failures} attempts): ${e.message}; fix it and nines starts it within ${Math.round(restartDelayMs(a.failures) / 60_000)} min (or start it by hand)`,
          key,
        );
      }
    }
  }
}
