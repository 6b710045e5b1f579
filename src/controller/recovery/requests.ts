// The checks of a failover or switchover an operator asks for (API, CLI): which primary it starts from, which
// node --to names. Each throws the error the operator sees, with what to do.
import { NinesError } from '../../core/errors.ts';
import { nodeKey, type ClusterSnapshot } from '../../core/monitor/observation.ts';
import type { ClusterSpec, NodeSpec } from '../../core/spec.ts';
import type { FailoverKind } from './recovery-repo.ts';

export interface RequestState {
  readonly spec: ClusterSpec;
  readonly kind: FailoverKind;
  /** The engine has the failover verbs. */
  readonly supported: boolean;
  /** The id of the failover running on the cluster ('starting' while one starts); undefined when none. */
  readonly running: string | undefined;
  /** The one primary the inventory knows (not fenced); undefined when none or several. */
  readonly primary: string | undefined;
  readonly snapshot: ClusterSnapshot | undefined;
}

/** The primary a requested failover/switchover starts from; throws why it cannot start now. */
export function requestablePrimary(r: RequestState): string {
  const cluster = r.spec.name;
  if (!r.supported) {
    throw new NinesError('NINES_E_FAILOVER_UNSUPPORTED', r.spec.type, { context: { cluster } });
  }
  if (r.running !== undefined) {
    throw new NinesError('NINES_E_FAILOVER_RUNNING', r.running, { context: { cluster } });
  }
  if (r.primary === undefined) {
    throw new NinesError('NINES_E_NO_PRIMARY', `cluster ${cluster}`, { context: { cluster } });
  }
  const snap = r.snapshot?.nodes.find((n) => nodeKey(n) === r.primary);
  if (r.kind === 'switchover' && snap && snap.consecutiveFailures > 0) {
    throw new NinesError(
      'NINES_E_SWITCHOVER_UNSAFE',
      `the primary ${r.primary} does not answer the monitor`,
      {
        context: { cluster },
      },
    );
  }
  return r.primary;
}

/** The node --to names (HOST or HOST:PORT), which must be a node of the spec other than the primary. */
export function resolveTarget(spec: ClusterSpec, to: string, primary: string): string {
  const n = spec.nodes.find((x) => x.host === to || nodeKey(x) === to);
  if (!n) {
    throw new NinesError('NINES_E_NODE_NOT_FOUND', `${to} in cluster ${spec.name}`, {
      context: { cluster: spec.name, node: to },
    });
  }
  const k = nodeKey(n);
  if (k === primary)
    throw new NinesError('NINES_E_INVALID_ARGUMENT', `${k} is already the primary of ${spec.name}`);
  return k;
}

/** The spec node HOST or HOST:PORT names (with `port` when given apart); NINES_E_NODE_NOT_FOUND otherwise. */
export function specNode(spec: ClusterSpec, host: string, port?: number): NodeSpec {
  const n = spec.nodes.find(
    (x) => (x.host === host && (port === undefined || x.port === port)) || nodeKey(x) === host,
  );
  if (!n) {
    throw new NinesError(
      'NINES_E_NODE_NOT_FOUND',
      `${host}${port ? `:${port}` : ''} in cluster ${spec.name}`,
      {
        context: { cluster: spec.name, node: host },
      },
    );
  }
  return n;
}
