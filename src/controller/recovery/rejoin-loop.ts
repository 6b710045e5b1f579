// Fenced former primaries, from every snapshot: one seen accepting writes again (a frozen primary that thawed, a
// crashed one restarted by hand) is fenced at once; a fenced one is rejoined as a replica of the primary when it
// answers again (its host back: the engine starts its server), retried every rejoinIntervalMs while its host does
// not answer and with backoff after real failures. One whose history the primary does not contain is diverged:
// kept fenced with a critical alarm until `nines node rebuild`.
import { NinesError, toNinesError } from '../../core/errors.ts';
import { nodeKey, type ClusterSnapshot } from '../../core/monitor/observation.ts';
import type { ClusterSpec, NodeSpec } from '../../core/spec.ts';
import type { HostAccess, RecoveryContext, ReplicationRecovery } from '../../engines/engine.ts';
import { updateEndpoint } from '../../proxies/endpoint.ts';
import type { EventBus } from '../events.ts';
import type { Logger } from '../logger.ts';
import type { InventoryRepo } from '../store/inventory-repo.ts';
import type { RecoveryAlarms } from './recovery-alarms.ts';
import type { NodeRecoveryRecord, RecoveryRepo } from './recovery-repo.ts';

export interface RejoinDeps {
  readonly repo: RecoveryRepo;
  readonly inventory: InventoryRepo;
  readonly events: EventBus;
  readonly alarms: RecoveryAlarms;
  readonly logger: Logger;
  hosts(spec: ClusterSpec): HostAccess;
  ctx(spec: ClusterSpec, log?: (line: string) => void): RecoveryContext;
  primaryOf(cluster: string): string | undefined;
  /** Automatic recovery is on for the cluster. */
  enabled(cluster: string): boolean;
  readonly fenceMs: number;
  readonly rejoinMs: number;
  readonly rejoinIntervalMs: number;
  readonly signal: AbortSignal;
  now(): number;
}

interface Attempt {
  busy: boolean;
  nextAt: number;
  failures: number;
}

const MAX_BACKOFF_MS = 60_000;
/** Bound of one pending fence of a silent fenced node (renewed while it stays silent). */
const STANDING_FENCE_MS = 5000;
/** Bound on the SSH login that tells whether a fenced node's host is back. */
const HOST_CHECK_MS = 3000;

/** Errors that say the node's host does not answer yet (not a failure of the rejoin itself). */
function notBackYet(code: string): boolean {
  return /HOST_UNREACHABLE|SSH_TIMEOUT|SSH_CONNECT|TIMEOUT|ECONNREFUSED/.test(code);
}

export class RejoinLoop {
  private readonly d: RejoinDeps;
  private readonly attempts = new Map<string, Attempt>();
  private readonly standing = new Map<string, Promise<void>>();
  /** Per cluster/node: the last snapshot did not reach it. */
  private readonly silent = new Map<string, boolean>();

  constructor(deps: RejoinDeps) {
    this.d = deps;
  }

  /** One pass over the cluster's fenced/diverged nodes. `failoverRunning`: no rejoin while one runs. */
  async pass(
    spec: ClusterSpec,
    recovery: ReplicationRecovery,
    snapshot: ClusterSnapshot,
    failoverRunning: boolean,
  ): Promise<void> {
    const states = this.d.repo.nodeStates(spec.name);
    for (const st of states) {
      const node = spec.nodes.find((n) => nodeKey(n) === st.node);
      if (!node) {
        this.d.repo.clearNodeState(spec.name, st.node);
        continue;
      }
      const obs = snapshot.nodes.find((n) => nodeKey(n) === st.node)?.observation;
      const id = `${spec.name}/${st.node}`;
      this.silent.set(id, obs?.reachable !== true);
      if (obs?.reachable === true && obs.readOnly === false) await this.refence(spec, recovery, st, node);
      else if (obs?.reachable !== true) this.standingFence(spec, recovery, st, node);
      if (st.state === 'fenced' && !failoverRunning) this.maybeRejoin(spec, recovery, st, node);
    }
  }

  private async refence(
    spec: ClusterSpec,
    recovery: ReplicationRecovery,
    st: NodeRecoveryRecord,
    node: NodeSpec,
  ): Promise<void> {
    const f = await recovery.fence(this.d.ctx(spec), node, this.d.fenceMs);
    this.d.events.emit({
      cluster: spec.name,
      type: 'node.fenced',
      severity: f.fenced ? 'warning' : 'critical',
      message: f.fenced
        ? `${st.node} (${st.state}) accepted writes again: fenced (${f.how})`
        : `${st.node} (${st.state}) accepts writes and could not be fenced: ${f.how}`,
      data: { node: st.node, fenced: f.fenced, how: f.how },
    });
  }

  /**
   * A silent fenced node has one fence pending (engines with fenceOnAnswer): it fires at the node's first answer
   * (a frozen primary's thaw), before a probe could see it writable. Renewed at once when one ends unanswered
   * after its full bound while the node stays silent and fenced; one refused fast (a host up without its server)
   * waits for the next pass.
   */
  private standingFence(
    spec: ClusterSpec,
    recovery: ReplicationRecovery,
    st: NodeRecoveryRecord,
    node: NodeSpec,
  ): void {
    const id = `${spec.name}/${st.node}`;
    if (!recovery.fenceOnAnswer || this.standing.has(id)) return;
    const stillSilent = (): boolean =>
      !this.d.signal.aborted &&
      this.silent.get(id) === true &&
      this.d.repo.nodeStates(spec.name).some((n) => n.node === st.node);
    const run = async (): Promise<void> => {
      while (stillSilent()) {
        const started = this.d.now();
        const f = await recovery.fenceOnAnswer?.(this.d.ctx(spec), node, STANDING_FENCE_MS);
        if (!f) return;
        if (f.fenced) {
          this.d.events.emit({
            cluster: spec.name,
            type: 'node.fenced',
            severity: 'warning',
            message: `${st.node} (${st.state}) answered again: fenced at once (${f.how})`,
            data: { node: st.node, fenced: true, how: f.how },
          });
          return;
        }
        if (this.d.now() - started < STANDING_FENCE_MS / 2) return;
      }
    };
    const pending = run()
      .catch((err: unknown) => this.d.logger.warn({ err, node: st.node }, 'standing fence failed'))
      .finally(() => this.standing.delete(id));
    this.standing.set(id, pending);
  }

  /** The failover could not fence `node` (silent): its standing fence starts now, not at the next pass. */
  fenceWhenAnswers(spec: ClusterSpec, recovery: ReplicationRecovery, node: NodeSpec): void {
    const st = this.d.repo.nodeStates(spec.name).find((n) => n.node === nodeKey(node));
    if (!st) return;
    this.silent.set(`${spec.name}/${st.node}`, true);
    this.standingFence(spec, recovery, st, node);
  }

  /** Settles when the pending fences did (each is bounded by STANDING_FENCE_MS). */
  async drain(): Promise<void> {
    await Promise.allSettled([...this.standing.values()]);
  }

  private maybeRejoin(
    spec: ClusterSpec,
    recovery: ReplicationRecovery,
    st: NodeRecoveryRecord,
    node: NodeSpec,
  ): void {
    const primaryKey = this.d.primaryOf(spec.name);
    const primary = spec.nodes.find((n) => nodeKey(n) === primaryKey);
    if (!primary || !this.d.enabled(spec.name)) return;
    const id = `${spec.name}/${st.node}`;
    const a = this.attempts.get(id) ?? { busy: false, nextAt: 0, failures: 0 };
    this.attempts.set(id, a);
    if (a.busy || this.d.now() < a.nextAt) return;
    a.busy = true;
    // Its host first (a bounded SSH login): a rejoin is tried only on a host that is back, so a host still down
    // is "not yet", never a failed rejoin (or a base backup attempt) counted against the node.
    void this.hostAnswers(spec, node)
      .then(() => recovery.rejoin(this.d.ctx(spec), node, primary, this.d.rejoinMs))
      .then((result) => {
        a.failures = 0;
        if (result.action === 'rejoined') {
          this.attempts.delete(id);
          this.rejoined(spec, st, node, primary, result.reason);
        } else this.diverged(spec, st, node, result.reason);
      })
      .catch((err: unknown) => this.failed(spec, st, a, err))
      .finally(() => {
        a.busy = false;
      });
  }

  private async hostAnswers(spec: ClusterSpec, node: NodeSpec): Promise<void> {
    try {
      await this.d
        .hosts(spec)
        .executor(node.host)
        .exec(['true'], { timeoutMs: HOST_CHECK_MS, signal: this.d.signal });
    } catch (err) {
      throw new NinesError('NINES_E_HOST_UNREACHABLE', `${node.host}: ${toNinesError(err).message}`);
    }
  }

  private rejoined(
    spec: ClusterSpec,
    st: NodeRecoveryRecord,
    node: NodeSpec,
    primary: NodeSpec,
    why: string,
  ): void {
    this.d.repo.clearNodeState(spec.name, st.node);
    this.d.inventory.updateNode(spec.name, node, { role: 'replica', state: 'ok' });
    this.d.alarms.clear(spec.name, 'node-fenced', st.node, `rejoined as a replica of ${nodeKey(primary)}`);
    this.d.events.emit({
      cluster: spec.name,
      type: 'node.rejoined',
      severity: 'info',
      message: `${st.node} rejoined ${spec.name} as a replica of ${nodeKey(primary)} (${Math.round((this.d.now() - st.since) / 1000)} s after it was fenced): ${why}`,
      data: { node: st.node, primary: nodeKey(primary), reason: why },
    });
    void this.refreshEndpoint(spec);
  }

  private diverged(spec: ClusterSpec, st: NodeRecoveryRecord, node: NodeSpec, why: string): void {
    this.d.repo.setNodeState({
      cluster: spec.name,
      node: st.node,
      state: 'diverged',
      reason: why,
      failoverId: st.failoverId,
      now: this.d.now(),
    });
    this.d.alarms.clear(spec.name, 'node-fenced', st.node, 'diverged');
    const fix = `nines node rebuild ${spec.name} --host ${node.host}`;
    this.d.alarms.raise(
      spec.name,
      'node-diverged',
      'critical',
      `${st.node} diverged: ${why}; rebuild it with ${fix}`,
      st.node,
    );
    this.d.events.emit({
      cluster: spec.name,
      type: 'node.diverged',
      severity: 'critical',
      message: `${st.node} cannot rejoin ${spec.name}: ${why}; it stays fenced (${fix})`,
      data: { node: st.node, reason: why },
    });
  }

  private failed(spec: ClusterSpec, st: NodeRecoveryRecord, a: Attempt, err: unknown): void {
    const e = toNinesError(err);
    if (notBackYet(e.code)) {
      a.nextAt = this.d.now() + this.d.rejoinIntervalMs;
      return;
    }
    a.failures += 1;
    this.d.repo.countAttempt(spec.name, st.node);
    a.nextAt = this.d.now() + Math.min(MAX_BACKOFF_MS, this.d.rejoinIntervalMs * 2 ** a.failures);
    this.d.events.emit({
      cluster: spec.name,
      type: 'node.rejoin-failed',
      severity: 'warning',
      message: `rejoin of ${st.node} failed (attempt ${a.failures}): ${e.message}; next attempt in ${Math.round((a.nextAt - this.d.now()) / 1000)} s`,
      data: { node: st.node, code: e.code, attempt: a.failures },
    });
  }

  /** `nines node rebuild` re-cloned `node` from `primary`: its recovery state and alarms go, the endpoint takes it. */
  async rebuilt(spec: ClusterSpec, node: NodeSpec, primary: NodeSpec): Promise<void> {
    const key = nodeKey(node);
    this.d.repo.clearNodeState(spec.name, key);
    this.d.inventory.updateNode(spec.name, node, { role: 'replica', state: 'ok' });
    this.d.alarms.clear(spec.name, 'node-diverged', key, 'rebuilt');
    this.d.alarms.clear(spec.name, 'node-fenced', key, 'rebuilt');
    this.d.events.emit({
      cluster: spec.name,
      type: 'node.rebuilt',
      severity: 'info',
      message: `${key} rebuilt from ${nodeKey(primary)} and replicating`,
      data: { node: key, primary: nodeKey(primary) },
    });
    await this.refreshEndpoint(spec);
  }

  /** The endpoint after a node came back (rejoined, rebuilt): its read backend takes it again. */
  async refreshEndpoint(spec: ClusterSpec): Promise<void> {
    if (!spec.endpoint) return;
    const fenced = new Set(this.d.repo.nodeStates(spec.name).map((n) => n.node));
    const role = (r: string | null, k: string): 'primary' | 'replica' | 'unknown' =>
      fenced.has(k) ? 'unknown' : r === 'primary' ? 'primary' : r === 'replica' ? 'replica' : 'unknown';
    try {
      await updateEndpoint(
        {
          spec,
          hosts: this.d.hosts(spec),
          signal: this.d.signal,
          log: () => undefined,
          step: (_n, fn) => fn(),
        },
        {
          type: spec.type,
          nodes: this.d.inventory
            .listNodes(spec.name)
            .map((n) => ({ host: n.host, port: n.port, role: role(n.role, nodeKey(n)) })),
        },
      );
    } catch (err) {
      this.d.logger.warn({ err, cluster: spec.name }, 'endpoint refresh after a rejoin failed');
    }
  }
}
