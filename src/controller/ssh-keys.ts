// The SSH key registry as the API and CLI use it: add (validated, stored encrypted), list (never the private
// key), remove (refused while a cluster, or a deploy job not yet finished, names the key). A spec names a key
// with ssh.key; no API input names a file on the controller.
import { NinesError } from '../core/errors.ts';
import { SSH_KEY_NAME } from '../core/spec.ts';
import { inspectPrivateKey } from '../hosts/ssh-key.ts';
import type { EventBus } from './events.ts';
import type { SshKeyRecord } from './store/key-repo.ts';
import type { Store } from './store/store.ts';

export interface SshKeyView extends SshKeyRecord {
  /** Clusters (and pending deploys) whose spec names this key. */
  readonly usedBy: readonly string[];
}

export type AddKeyAction = 'added' | 'replaced' | 'unchanged';

const SPEC_JOBS = new Set(['cluster.create', 'cluster.import']);

function keyOfSpec(spec: unknown): string | undefined {
  const key = (spec as { ssh?: { key?: unknown } } | undefined)?.ssh?.key;
  return typeof key === 'string' ? key : undefined;
}

/** Cluster names whose stored spec, or whose queued/running create/import job, names each key. */
function usage(store: Store): Map<string, Set<string>> {
  const used = new Map<string, Set<string>>();
  const mark = (key: string | undefined, cluster: string): void => {
    if (key === undefined) return;
    const set = used.get(key) ?? new Set<string>();
    set.add(cluster);
    used.set(key, set);
  };
  for (const c of store.inventory.listClusters()) {
    mark(keyOfSpec(store.inventory.getCluster(c.name)?.spec), c.name);
  }
  for (const state of ['queued', 'running'] as const) {
    for (const job of store.jobs.byState(state)) {
      if (SPEC_JOBS.has(job.type) && job.cluster) mark(keyOfSpec(job.params.spec), job.cluster);
    }
  }
  return used;
}

export function checkKeyName(name: string): void {
  if (!SSH_KEY_NAME.test(name)) {
    throw new NinesError(
      'NINES_E_INVALID_ARGUMENT',
      `name: expected a key name of lowercase letters, digits, - _ . (1-63 characters), got ${JSON.stringify(name)}`,
      { hint: 'Name the key like "prod-deploy" or "lab.ed25519".' },
    );
  }
}

export class SshKeys {
  private readonly store: Store;
  private readonly events: EventBus;

  constructor(store: Store, events: EventBus) {
    this.store = store;
    this.events = events;
  }

  list(): SshKeyView[] {
    const used = usage(this.store);
    return this.store.keys.list().map((k) => ({ ...k, usedBy: [...(used.get(k.name) ?? [])].sort() }));
  }

  get(name: string): SshKeyView {
    const key = this.store.keys.get(name);
    if (!key) throw new NinesError('NINES_E_KEY_NOT_FOUND', name, { context: { key: name } });
    return { ...key, usedBy: [...(usage(this.store).get(name) ?? [])].sort() };
  }

  /**
   * Registers a private key (its text). The same key again under the same name is a no-op ("unchanged");
   * other content under a taken name needs `replace` (key rotation: the clusters using it log in with the new one).
   */
  add(
    name: string,
    privateKey: string,
    replace = false,
    by?: string,
  ): { key: SshKeyView; action: AddKeyAction } {
    checkKeyName(name);
    const info = inspectPrivateKey(privateKey);
    const existing = this.store.keys.get(name);
    if (existing && existing.fingerprint === info.fingerprint)
      return { key: this.get(name), action: 'unchanged' };
    if (existing && !replace) {
      throw new NinesError(
        'NINES_E_KEY_EXISTS',
        `${name} (registered: ${existing.fingerprint}, given: ${info.fingerprint})`,
        {
          context: { key: name },
        },
      );
    }
    this.store.keys.put({ name, ...info }, privateKey);
    const action: AddKeyAction = existing ? 'replaced' : 'added';
    this.events.emit({
      type: `key.${action}`,
      message: `SSH key ${name} (${info.type} ${info.fingerprint}) ${action}${by ? ` by ${by}` : ''}`,
      data: { key: name, fingerprint: info.fingerprint },
    });
    return { key: this.get(name), action };
  }

  /** Removes a key no cluster uses; refused naming the clusters otherwise. */
  remove(name: string, by?: string): SshKeyView {
    const key = this.get(name);
    if (key.usedBy.length > 0) {
      throw new NinesError('NINES_E_KEY_IN_USE', `${name} is used by ${key.usedBy.join(', ')}`, {
        context: { key: name, clusters: key.usedBy },
      });
    }
    this.store.keys.remove(name);
    this.events.emit({
      type: 'key.removed',
      message: `SSH key ${name} (${key.fingerprint}) removed${by ? ` by ${by}` : ''}`,
      data: { key: name, fingerprint: key.fingerprint },
    });
    return key;
  }
}
