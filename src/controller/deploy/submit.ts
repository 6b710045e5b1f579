// Submitting the deploy jobs: input checks that answer at once (spec valid, SSH key registered, name free or a
// failed deploy to retry, node present or not), then a queued job. Nothing is written to the store when a
// check fails.
import { NinesError } from '../../core/errors.ts';
import {
  CREDENTIAL_NAMES,
  parseSpecText,
  redactSpec,
  validateSpec,
  type ClusterSpec,
  type CredentialName,
} from '../../core/spec.ts';
import type { JobRunner } from '../jobs/runner.ts';
import { requireRegisteredKey } from '../cluster-hosts.ts';
import type { JobRecord } from '../store/job-repo.ts';
import type { ClusterRecord } from '../store/inventory-repo.ts';
import type { Store } from '../store/store.ts';
import { requireCluster, storedSpec } from './context.ts';
import {
  CHANGEABLE_STATES,
  NodeAddParams,
  NodeRemoveParams,
  RETRYABLE_STATES,
  specWithNode,
  specWithoutNode,
} from './jobs.ts';

/** What submitting needs from the controller. */
export interface DeployHost {
  readonly store: Store;
  readonly jobs: JobRunner;
  /** The monitor's latest view of a cluster (time null when it has not observed it). */
  readonly monitor?: {
    status(name: string): { readonly state: string; readonly reason: string; readonly time: string | null };
  };
}

export interface SubmitSpecResult {
  readonly job: JobRecord;
  readonly warnings: readonly string[];
  /** Credentials that were omitted and generated (a retry reuses the stored ones instead). */
  readonly generated: readonly CredentialName[];
  /** True when this re-runs the deploy of a cluster left failed (or interrupted) by an earlier attempt. */
  readonly retry?: boolean;
}

const SPEC_JOBS = ['cluster.create', 'cluster.import'];

/** JSON with sorted keys, so two specs compare equal whatever order their keys were written in. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)),
        )
      : v,
  );
}

function busy(host: DeployHost, name: string): boolean {
  return SPEC_JOBS.some((t) => host.store.jobs.hasActive(t, name));
}

function parseInput(input: unknown): unknown {
  return typeof input === 'string' ? parseSpecText(input, 'request body') : input;
}

/**
 * The spec of a retry: credentials the user omitted come from the store (so a retry never invents new
 * passwords next to the ones a half-done deploy already set); everything else must equal the stored spec.
 */
function retrySpec(host: DeployHost, raw: unknown, spec: ClusterSpec, generated: readonly CredentialName[]) {
  const cluster = requireCluster(host.store.inventory, spec.name);
  const stored = storedSpec(host.store.inventory, cluster);
  const credentials = Object.fromEntries(
    CREDENTIAL_NAMES.map((n) => [n, generated.includes(n) ? stored.credentials[n] : spec.credentials[n]]),
  );
  const merged = validateSpec({ ...(raw as object), credentials }).spec;
  if (canonical(redactSpec(merged)) !== canonical(redactSpec(stored))) {
    throw new NinesError('NINES_E_SPEC_MISMATCH', `cluster ${spec.name} (${cluster.state})`, {
      context: { cluster: spec.name },
    });
  }
  return merged;
}

/**
 * A stored healthy (or degraded) state is not a fact once the monitor has seen the cluster since: when its
 * latest observation, made after the deploy that stored it, says failed, the error to store (the cluster is then
 * deployed again).
 */
function observedFailure(host: DeployHost, cluster: ClusterRecord): NinesError | undefined {
  const view = host.monitor?.status(cluster.name);
  // The stored state dates from the last deploy (or from the import / creation of the record).
  const deployed = cluster.observed.deployedAt;
  const storedAt = Date.parse(typeof deployed === 'string' ? deployed : cluster.createdAt);
  if (!view?.time || !(Date.parse(view.time) > storedAt)) return undefined;
  if (view.state !== 'failed') return undefined;
  return new NinesError('NINES_E_CLUSTER_UNHEALTHY', `${cluster.name}: ${view.state} (${view.reason})`, {
    context: { cluster: cluster.name },
  });
}

/**
 * Queues cluster.create. A cluster in state failed (or deploying with no job working on it) is deployed again
 * when the spec is the same: engine steps are idempotent, so the new job finishes the half-done deploy. So is a
 * cluster stored healthy that the monitor has since seen failed (observedFailure).
 */
export function submitCreate(host: DeployHost, input: unknown, requestedBy?: string): SubmitSpecResult {
  const raw = parseInput(input);
  const { spec: given, warnings, generated } = validateSpec(raw);
  requireRegisteredKey(host.store.keys, given.ssh.key);
  // Checked in the same tick as submit: two requests for one name cannot both pass.
  const existing = host.store.inventory.getCluster(given.name);
  const unhealthy =
    existing && !RETRYABLE_STATES.has(existing.state) ? observedFailure(host, existing) : undefined;
  if (busy(host, given.name) || (existing && !RETRYABLE_STATES.has(existing.state) && !unhealthy)) {
    throw new NinesError(
      'NINES_E_CLUSTER_EXISTS',
      existing ? `${given.name} (${existing.state})` : given.name,
      {
        context: { cluster: given.name },
      },
    );
  }
  const spec = existing ? retrySpec(host, raw, given, generated) : given;
  if (unhealthy) {
    // Every check passed: record why the stored state no longer holds, so the job deploys it again.
    host.store.inventory.setClusterState(spec.name, 'failed', {
      error: { code: unhealthy.code, message: unhealthy.message, hint: unhealthy.hint },
    });
  }
  const job = host.jobs.submit({
    type: 'cluster.create',
    cluster: spec.name,
    params: { spec: redactSpec(spec), ...(existing ? { retry: true } : {}) },
    secrets: { ...spec.credentials },
    requestedBy: requestedBy ?? null,
  });
  return { job, warnings, generated: existing ? [] : generated, ...(existing ? { retry: true } : {}) };
}

/** Queues cluster.import: discovers an existing cluster's topology and stores it; changes nothing on the hosts. */
export function submitImport(host: DeployHost, input: unknown, requestedBy?: string): SubmitSpecResult {
  const { spec, warnings, generated } = validateSpec(parseInput(input));
  requireRegisteredKey(host.store.keys, spec.ssh.key);
  if (busy(host, spec.name) || host.store.inventory.hasCluster(spec.name)) {
    throw new NinesError('NINES_E_CLUSTER_EXISTS', spec.name, { context: { cluster: spec.name } });
  }
  const job = host.jobs.submit({
    type: 'cluster.import',
    cluster: spec.name,
    params: { spec: redactSpec(spec) },
    secrets: { ...spec.credentials },
    requestedBy: requestedBy ?? null,
  });
  return { job, warnings, generated };
}

function changeable(host: DeployHost, name: string): ClusterSpec {
  const cluster = requireCluster(host.store.inventory, name);
  if (!CHANGEABLE_STATES.has(cluster.state)) {
    throw new NinesError('NINES_E_CLUSTER_NOT_READY', `cluster ${name} is ${cluster.state}`, {
      context: { cluster: name },
    });
  }
  return storedSpec(host.store.inventory, cluster);
}

/** Queues node.add (checks at once that the cluster exists and the node is new). */
export function submitNodeAdd(
  host: DeployHost,
  cluster: string,
  params: unknown,
  requestedBy?: string,
): JobRecord {
  const parsed = NodeAddParams.safeParse(params);
  if (parsed.success) specWithNode(changeable(host, cluster), parsed.data);
  // Invalid params are reported by submit, naming the field as params.x.
  return host.jobs.submit({
    type: 'node.add',
    cluster,
    params: params as Record<string, unknown>,
    requestedBy: requestedBy ?? null,
  });
}

/** Queues node.remove (checks at once that the cluster has the node). */
export function submitNodeRemove(
  host: DeployHost,
  cluster: string,
  params: unknown,
  requestedBy?: string,
): JobRecord {
  const parsed = NodeRemoveParams.safeParse(params);
  if (parsed.success) specWithoutNode(changeable(host, cluster), parsed.data);
  return host.jobs.submit({
    type: 'node.remove',
    cluster,
    params: params as Record<string, unknown>,
    requestedBy: requestedBy ?? null,
  });
}
