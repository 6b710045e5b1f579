// The bridge between a job and an engine: EngineContext.step becomes a checkpointed job step (visible in
// `nines job show`), EngineContext.log a job log line, and the job's signal the engine's signal.
import { NinesError, toNinesError } from '../../core/errors.ts';
import { credentialSecrets, redactError, redactText } from '../../core/redact.ts';
import { validateSpec, type ClusterSpec } from '../../core/spec.ts';
import type { EngineContext, Topology } from '../../engines/engine.ts';
import type { JobContext } from '../jobs/types.ts';
import type { ClusterRecord, InventoryRepo } from '../store/inventory-repo.ts';
import type { ProbeHost } from '../probe.ts';
import type { DeployDeps } from './deps.ts';

/** Progress while engine steps run: from `from` towards `to`, a little per step (engines do not report %). */
export interface ProgressRange {
  readonly from: number;
  readonly to: number;
}

export function engineContext(
  job: JobContext<unknown>,
  spec: ClusterSpec,
  deps: DeployDeps,
  controllerAddress: string,
  progress: ProgressRange = { from: 20, to: 90 },
): EngineContext {
  const used = new Map<string, number>();
  let done = 0;
  let last = progress.from;
  // Whatever an engine reports (a log line, an error a driver or client built from a failed statement) reaches
  // the job log, events and API responses: the cluster's credentials never do.
  const secrets = credentialSecrets(spec.credentials);
  const redacted = async <T>(fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      throw redactError(err, secrets);
    }
  };
  return {
    spec,
    hosts: deps.hosts(spec),
    controllerAddress,
    signal: job.signal,
    log: (line) => job.log(redactText(line, secrets)),
    step: async (name, fn) => {
      // Job step names are unique per job; an engine may legitimately run the same step twice.
      const n = (used.get(name) ?? 0) + 1;
      used.set(name, n);
      const result = await job.step(n === 1 ? name : `${name} (${n})`, () => redacted(fn));
      done += 1;
      const pct = progress.to - (progress.to - progress.from) * 0.85 ** done;
      // Progress only grows, even when a later context starts from a lower figure.
      if (pct > (job.job.progress ?? 0) && pct > last) job.progress(pct);
      last = Math.max(last, pct);
      return result;
    },
  };
}

/** The full spec of a stored cluster: the stored (redacted) spec + its decrypted credentials. */
export function storedSpec(inventory: InventoryRepo, cluster: ClusterRecord): ClusterSpec {
  return validateSpec({ ...cluster.spec, credentials: inventory.credentials(cluster.name) }).spec;
}

export function requireCluster(inventory: InventoryRepo, name: string): ClusterRecord {
  const cluster = inventory.getCluster(name);
  if (!cluster) throw new NinesError('NINES_E_CLUSTER_NOT_FOUND', name, { context: { cluster: name } });
  return cluster;
}

/** Every host of a spec (nodes, then proxies), each once. */
export function specHosts(spec: ClusterSpec, only?: readonly string[]): string[] {
  const all = [...new Set([...spec.nodes.map((n) => n.host), ...(spec.endpoint?.proxies ?? [])])];
  return only ? all.filter((h) => only.includes(h)) : all;
}

/** The connectivity check: an SSH login on every host; fails naming each host that did not answer. */
export async function probeHosts(
  job: JobContext<unknown>,
  spec: ClusterSpec,
  hosts: readonly string[],
  probeHost: ProbeHost,
): Promise<string[]> {
  const results = await Promise.allSettled(
    hosts.map((host) =>
      probeHost(
        { cluster: spec.name, host, port: spec.ssh.port, user: spec.ssh.user, key: spec.ssh.key },
        job.signal,
      ),
    ),
  );
  const failed: { host: string; error: NinesError }[] = [];
  results.forEach((r, i) => {
    const host = hosts[i] ?? '?';
    if (r.status === 'fulfilled') job.log(`${host}: reachable (${r.value.detail})`);
    else {
      const e = toNinesError(r.reason);
      job.log(`${host}: NOT reachable: ${e.code}: ${e.message}`);
      failed.push({ host, error: e });
    }
  });
  job.signal.throwIfAborted();
  const first = failed[0];
  if (!first) return [...hosts];
  // Keep the precise cause (auth, host key, timeout) when every failure has the same one.
  const code = failed.every((f) => f.error.code === first.error.code)
    ? first.error.code
    : 'NINES_E_HOST_UNREACHABLE';
  const detail = failed.map((f) => `${f.host} (${f.error.message})`).join('; ');
  throw new NinesError(code, `${failed.length} of ${hosts.length} hosts: ${detail}`, {
    context: { hosts: failed.map((f) => f.host) },
    ...(code === first.error.code ? { hint: first.error.hint } : {}),
  });
}

/** Records an observed topology on the stored nodes (role and state of each). */
export function recordTopology(inventory: InventoryRepo, cluster: string, topology: Topology): void {
  for (const n of topology.nodes) {
    inventory.updateNode(cluster, n, {
      role: n.role,
      state: n.state ?? (n.role === 'unknown' ? 'unreachable' : 'ok'),
      observed: {
        role: n.role,
        ...(n.source ? { source: n.source } : {}),
        ...(n.readOnly !== undefined ? { readOnly: n.readOnly } : {}),
        ...(n.state ? { state: n.state } : {}),
        at: new Date().toISOString(),
      },
    });
  }
}

/** The topology as JSON for the cluster's observed state. */
export function topologySummary(topology: Topology): Record<string, unknown> {
  return {
    type: topology.type,
    nodes: topology.nodes.map((n) => ({
      address: `${n.host}:${n.port}`,
      role: n.role,
      ...(n.source ? { source: n.source } : {}),
      ...(n.state ? { state: n.state } : {}),
    })),
  };
}
