// A primary that restarted before any failover (a MariaDB primary comes back read_only=ON by its config) is made
// writable again when decideReopen (core/recovery/restart.ts) allows it: still the inventory's primary, no other
// writable node, a majority answering, no failover running, seen so twice. The engine's promote verb does it
// (idempotent on a primary: semi-sync master side on, read_only=OFF, verified). Holds are announced once.
import { toNinesError } from '../../core/errors.ts';
import { inMaintenance, nodeKey, type ClusterSnapshot } from '../../core/monitor/observation.ts';
import { decideReopen } from '../../core/recovery/restart.ts';
import type { ClusterSpec } from '../../core/spec.ts';
import type { RecoveryContext, ReplicationRecovery } from '../../engines/engine.ts';
import type { EventBus } from '../events.ts';
import type { Logger } from '../logger.ts';

export interface ReopenDeps {
  readonly events: EventBus;
  readonly logger: Logger;
  ctx(spec: ClusterSpec): RecoveryContext;
  readonly timeoutMs: number;
}

export class Reopener {
  private readonly d: ReopenDeps;
  private readonly seen = new Map<string, number>();
  private readonly said = new Map<string, string>();
  private readonly busy = new Set<string>();

  constructor(deps: ReopenDeps) {
    this.d = deps;
  }

  pass(
    spec: ClusterSpec,
    recovery: ReplicationRecovery,
    snapshot: ClusterSnapshot,
    primary: string,
    o: { readonly enabled: boolean; readonly failoverRunning: boolean; locked(): boolean },
  ): void {
    const p = snapshot.nodes.find((n) => nodeKey(n) === primary)?.observation;
    if (p?.reachable !== true || this.busy.has(spec.name)) return;
    const others = snapshot.nodes.filter((n) => nodeKey(n) !== primary);
    if (p.readOnly !== true) {
      // Writable (the usual case, every snapshot): nothing to decide, nothing to read from the store.
      this.seen.set(spec.name, 0);
      this.said.delete(spec.name);
      return;
    }
    const times = (this.seen.get(spec.name) ?? 0) + 1;
    this.seen.set(spec.name, times);
    const decision = decideReopen({
      primaryReadOnly: true,
      primaryReplicates: p.replication !== undefined,
      othersWritable: others
        .filter((n) => n.observation?.reachable === true && n.observation.readOnly === false)
        .map(nodeKey),
      othersUnreachable: others.filter((n) => n.observation?.reachable !== true).map(nodeKey),
      totalNodes: snapshot.nodes.length,
      enabled: o.enabled,
      maintenance: inMaintenance(snapshot.maintenance, snapshot.time),
      failoverRunning: o.failoverRunning,
      locked: o.locked(),
      seenTimes: times,
    });
    if (decision.action === 'none') {
      this.said.delete(spec.name);
      return;
    }
    if (decision.action === 'hold') {
      if (this.said.get(spec.name) === decision.reason) return;
      this.said.set(spec.name, decision.reason);
      this.d.events.emit({
        cluster: spec.name,
        type: 'node.reopen-held',
        severity: 'warning',
        message: `the primary ${primary} is read-only and has no writer taking its place; not making it writable: ${decision.reason}`,
        data: { node: primary, reason: decision.reason },
      });
      return;
    }
    const node = spec.nodes.find((n) => nodeKey(n) === primary);
    if (!node) return;
    this.busy.add(spec.name);
    const followers = spec.nodes.filter((n) => nodeKey(n) !== primary);
    void recovery
      .promote(this.d.ctx(spec), node, followers, this.d.timeoutMs)
      .then((pos) => {
        this.said.delete(spec.name);
        this.d.events.emit({
          cluster: spec.name,
          type: 'node.reopened',
          severity: 'warning',
          message: `the primary ${primary} is writable again (${pos.label}): ${decision.reason}`,
          data: { node: primary, position: pos.appliedText ?? pos.receivedText },
        });
      })
      .catch((err: unknown) => {
        const e = toNinesError(err);
        this.d.events.emit({
          cluster: spec.name,
          type: 'node.reopen-failed',
          severity: 'critical',
          message: `could not make the primary ${primary} writable again: ${e.message}`,
          data: { node: primary, code: e.code },
        });
      })
      .finally(() => {
        this.busy.delete(spec.name);
        this.seen.set(spec.name, 0);
      });
  }
}
