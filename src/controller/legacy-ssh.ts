// Upgrade of clusters stored by earlier versions, whose spec named files on the controller (ssh.keyFile,
// ssh.knownHostsFile). Run once per cluster at controller start: the key file is read one last time and
// registered (reusing a registered key with the same fingerprint, else under "legacy-<cluster>"); the host keys
// pinned for the cluster (its knownHostsFile, else the old shared <data-dir>/known_hosts) are copied into the
// cluster's own known_hosts, only lines that parse as known_hosts entries; the stored spec then names the key.
// A key file that cannot be used leaves the spec naming "legacy-<cluster>" unregistered: jobs fail with
// NINES_E_SSH_KEY_UNKNOWN until "nines key add legacy-<cluster> --file PATH" registers it (said in an event).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { validateSpec } from '../core/spec.ts';
import { keyTypeOfBlob, parseKnownHostsLine } from '../hosts/known-hosts.ts';
import { inspectPrivateKey } from '../hosts/ssh-key.ts';
import { KNOWN_HOSTS_FILE, knownHostsPath } from './cluster-hosts.ts';
import type { EventBus } from './events.ts';
import type { Logger } from './logger.ts';
import type { Store } from './store/store.ts';

interface LegacySsh {
  user?: string;
  port?: number;
  keyFile?: string;
  knownHostsFile?: string;
}

function expand(path: string): string {
  return path === '~' || path.startsWith('~/') ? `${homedir()}${path.slice(1)}` : path;
}

/** Registers the old key file's key; returns the key name the spec will use and what happened. */
function adoptKey(store: Store, cluster: string, keyFile: string | undefined): { key: string; note: string } {
  const fallback = `legacy-${cluster}`;
  if (!keyFile) return { key: fallback, note: 'no ssh.keyFile was stored' };
  try {
    const text = readFileSync(expand(keyFile), 'utf8');
    const info = inspectPrivateKey(text);
    const same = store.keys.list().find((k) => k.fingerprint === info.fingerprint);
    if (same) return { key: same.name, note: `key ${same.name} (${info.fingerprint}) already registered` };
    store.keys.put({ name: fallback, ...info }, text);
    return { key: fallback, note: `registered as ${fallback} (${info.fingerprint})` };
  } catch {
    // One answer for every cause (missing, unreadable, not a key): events are visible to API viewers.
    return {
      key: fallback,
      note: `the key file could not be registered; register it: nines key add ${fallback} --file PATH`,
    };
  }
}

/** Copies the pinned host keys (valid known_hosts lines only) into the cluster's own file, if it has none yet. */
function adoptKnownHosts(dataDir: string, cluster: string, knownHostsFile: string | undefined): number {
  const target = knownHostsPath(dataDir, cluster);
  if (existsSync(target)) return 0;
  let text: string;
  try {
    text = readFileSync(knownHostsFile ? expand(knownHostsFile) : join(dataDir, KNOWN_HOSTS_FILE), 'utf8');
  } catch {
    return 0;
  }
  // A real entry: its key blob names the same key type as the line (random text does not).
  const lines = text.split('\n').filter((l) => {
    const parsed = parseKnownHostsLine(l);
    return parsed !== undefined && keyTypeOfBlob(parsed.key) === parsed.keyType;
  });
  if (lines.length === 0) return 0;
  mkdirSync(dirname(target), { recursive: true, mode: 0o700 });
  writeFileSync(target, `${lines.map((l) => l.trim()).join('\n')}\n`, { mode: 0o600 });
  return lines.length;
}

export function upgradeLegacySsh(store: Store, dataDir: string, events: EventBus, logger: Logger): void {
  const { inventory } = store;
  for (const summary of inventory.listClusters()) {
    const cluster = inventory.getCluster(summary.name);
    const ssh = (cluster?.spec as { ssh?: LegacySsh } | undefined)?.ssh;
    if (!cluster || !ssh || (ssh.keyFile === undefined && ssh.knownHostsFile === undefined)) continue;
    try {
      const { key, note } = adoptKey(store, cluster.name, ssh.keyFile);
      const pinned = adoptKnownHosts(dataDir, cluster.name, ssh.knownHostsFile);
      const { spec } = validateSpec({
        ...cluster.spec,
        ssh: { ...(ssh.user ? { user: ssh.user } : {}), ...(ssh.port ? { port: ssh.port } : {}), key },
        credentials: inventory.credentials(cluster.name),
      });
      inventory.replaceSpec(spec);
      const message = `cluster ${cluster.name}: ssh.keyFile replaced by ssh.key ${key}: ${note}; ${pinned} pinned host key(s) copied`;
      logger.warn({ cluster: cluster.name }, message);
      events.emit({ cluster: cluster.name, type: 'cluster.updated', severity: 'warning', message });
    } catch (err) {
      logger.error({ cluster: cluster.name, err }, `cluster ${cluster.name}: upgrade of ssh.keyFile failed`);
    }
  }
}
