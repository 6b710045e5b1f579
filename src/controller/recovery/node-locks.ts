// `nines node lock NAME --host H`: self-healing never starts, repairs or reopens a locked node (an operator works
// on it by hand); `unlock` gives it back. Each change is an event naming who did it.
import { nodeKey } from '../../core/monitor/observation.ts';
import type { NodeSpec } from '../../core/spec.ts';
import type { EventBus } from '../events.ts';
import type { NodeLock, RecoveryRepo } from './recovery-repo.ts';

export function setNodeLock(
  d: { readonly repo: RecoveryRepo; readonly events: EventBus; readonly now: number },
  cluster: string,
  node: NodeSpec,
  locked: boolean,
  o: { readonly reason?: string; readonly by?: string | null },
): NodeLock[] {
  const key = nodeKey(node);
  const by = o.by ?? null;
  if (locked) d.repo.lock({ cluster, node: key, reason: o.reason ?? null, by, at: d.now });
  const changed = locked || d.repo.unlock(cluster, key);
  if (changed) {
    d.events.emit({
      cluster,
      type: locked ? 'node.locked' : 'node.unlocked',
      severity: 'info',
      message: locked
        ? `${key} locked${by ? ` by ${by}` : ''}${o.reason ? ` (${o.reason})` : ''}: nines does not start or repair it until it is unlocked`
        : `${key} unlocked${by ? ` by ${by}` : ''}: self-healing looks after it again`,
      data: { node: key, locked, by, reason: o.reason ?? null },
    });
  }
  return d.repo.locks(cluster);
}
