// The armed fences the controller holds (engines with armFence, see ArmedFence in src/engines/engine.ts): one
// authenticated session per cluster to its healthy primary, opened in the background from the recovery
// evaluations, replaced when the primary changes, and fired only by a failover's fence step for that primary.
// A fired fence that runs later (a frozen primary at its thaw) says so in a node.fenced event.
import { nodeKey } from '../../core/monitor/observation.ts';
import type { ClusterSpec, NodeSpec } from '../../core/spec.ts';
import type { ArmedFence, RecoveryContext, ReplicationRecovery } from '../../engines/engine.ts';
import type { EventBus } from '../events.ts';
import type { Logger } from '../logger.ts';

export interface ArmedFenceDeps {
  readonly events: EventBus;
  readonly logger: Logger;
  ctx(spec: ClusterSpec): RecoveryContext;
  /** Bound on opening one armed session. */
  readonly armMs: number;
  /** After a failed attempt, the next waits this long. */
  readonly retryMs: number;
  now(): number;
}

interface Entry {
  readonly node: string;
  fence: ArmedFence | undefined;
  arming: boolean;
  retryAt: number;
}

export class ArmedFences {
  private readonly d: ArmedFenceDeps;
  private readonly armed = new Map<string, Entry>();
  private readonly fired = new Map<Promise<void>, ArmedFence>();
  private stopped = false;

  constructor(deps: ArmedFenceDeps) {
    this.d = deps;
  }

  /** `primary` answered healthy: holds an armed fence on it (opening one in the background if needed). */
  keep(spec: ClusterSpec, recovery: ReplicationRecovery, primary: NodeSpec): void {
    if (this.stopped || !recovery.armFence) return;
    const key = nodeKey(primary);
    let e = this.armed.get(spec.name);
    if (e && e.node !== key) {
      e.fence?.close();
      e = undefined;
    }
    if (!e) {
      e = { node: key, fence: undefined, arming: false, retryAt: 0 };
      this.armed.set(spec.name, e);
    }
    if (e.arming || e.fence?.usable === true || this.d.now() < e.retryAt) return;
    e.fence?.close();
    e.fence = undefined;
    e.arming = true;
    const entry = e;
    recovery
      .armFence(this.d.ctx(spec), primary, this.d.armMs)
      .then((f) => {
        if (this.stopped || this.armed.get(spec.name) !== entry) f.close();
        else entry.fence = f;
      })
      .catch((err: unknown) => {
        entry.retryAt = this.d.now() + this.d.retryMs;
        this.d.logger.debug({ err, cluster: spec.name, node: key }, 'cannot arm the fence');
      })
      .finally(() => {
        entry.arming = false;
      });
  }

  /** True when an armed fence for `node` was fired (its outcome comes as an event or a log line). */
  fire(spec: ClusterSpec, node: NodeSpec): boolean {
    const key = nodeKey(node);
    const e = this.armed.get(spec.name);
    if (!e || e.node !== key || e.fence?.usable !== true) return false;
    this.armed.delete(spec.name);
    const fence = e.fence;
    const fired = fence.fire().then((f) => {
      if (!f.fenced) {
        this.d.logger.info({ cluster: spec.name, node: key }, `armed fence: ${f.how}`);
        return;
      }
      this.d.events.emit({
        cluster: spec.name,
        type: 'node.fenced',
        severity: 'warning',
        message: `${key} (former primary) fenced through its armed session: ${f.how}`,
        data: { node: key, fenced: true, how: f.how, armed: true },
      });
    });
    const tracked = fired.finally(() => this.fired.delete(tracked));
    this.fired.set(tracked, fence);
    return true;
  }

  /** The cluster is gone, or has no primary to arm any more. */
  drop(cluster: string): void {
    this.armed.get(cluster)?.fence?.close();
    this.armed.delete(cluster);
  }

  /**
   * Closes every armed session. A fired one is closed too: its statement is in the server's socket already and
   * still runs first at a thaw.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const e of this.armed.values()) e.fence?.close();
    this.armed.clear();
    for (const f of this.fired.values()) f.close();
    await Promise.allSettled([...this.fired.keys()]);
  }
}
