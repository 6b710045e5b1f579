// Recovery routes: the live failover plan and recovery state, automatic recovery on/off, manual failover and
// switchover, the failover history, node rebuild, node locks (self-healing leaves a locked node alone) and the
// full-cluster recovery of Galera.
import { z } from 'zod';
import type { TokenRecord } from '../controller/store/token-repo.ts';
import type { FailoverRecord } from '../controller/recovery/recovery-repo.ts';
import type { RecoveryStatus } from '../controller/recovery/recovery-service.ts';
import { specNode } from '../controller/recovery/requests.ts';
import { API_PREFIX, defineRoute, type AnyRoute } from './route-table.ts';
import * as S from './schemas.ts';

const p = (path: string): string => `${API_PREFIX}${path}`;
const who = (t: TokenRecord | undefined): string | undefined => (t ? `${t.name} (token ${t.id})` : undefined);
const obj = z.record(z.string(), z.unknown());

/** A node as the CLI names it: HOST or HOST:PORT (bounded; checked against the spec by the service). */
const nodeName = z
  .string('expected HOST or HOST:PORT')
  .min(1, 'expected HOST or HOST:PORT')
  .max(260, 'expected HOST or HOST:PORT')
  .regex(/^[A-Za-z0-9.:_-]+$/, 'expected HOST or HOST:PORT');

const FailoverBody = z
  .strictObject({
    to: nodeName.optional().describe('The replica to promote (default: the best candidate)'),
    force: z
      .boolean('expected true or false')
      .optional()
      .describe('Promote although the loss bound cannot be proven (the loss bound is reported)'),
  })
  .meta({ id: 'FailoverRequest' });

const SwitchoverBody = z
  .strictObject({ to: nodeName.optional().describe('The replica to promote (default: the best candidate)') })
  .meta({ id: 'SwitchoverRequest' });

const RecoveryToggle = z
  .strictObject({ enabled: z.boolean('expected true or false') })
  .meta({ id: 'RecoveryToggle' });

const FailoverParams = z.strictObject({
  name: z.string(),
  id: z.coerce.number('expected a failover id').int().min(1).max(Number.MAX_SAFE_INTEGER),
});

const RebuildBody = z
  .strictObject({
    host: nodeName.describe('The node to rebuild'),
    port: z.number().int().min(1).max(65535).optional(),
  })
  .meta({ id: 'NodeRebuild' });

const LockBody = z
  .strictObject({
    host: nodeName.describe('The node to lock or unlock (HOST or HOST:PORT)'),
    port: z.number().int().min(1).max(65535).optional(),
    reason: z
      .string('expected a sentence')
      .max(300, 'at most 300 characters')
      .regex(/^[^\p{Cc}\p{Cf}]*$/u, 'no control or format characters')
      .optional()
      .describe('Why (shown in events and the recovery state)'),
  })
  .meta({ id: 'NodeLock' });

const RecoverBody = z
  .strictObject({
    force: z
      .boolean('expected true or false')
      .optional()
      .describe(
        'Recover although only a minority of the nodes can be examined, or next to live non-Primary nodes (pc.bootstrap)',
      ),
  })
  .meta({ id: 'ClusterRecover' });

/** JSON of values that may hold bigints (positions). */
function plain<T>(value: T): unknown {
  return JSON.parse(JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)));
}

function failoverJson(f: FailoverRecord): Record<string, unknown> {
  return plain({
    ...f,
    startedAt: new Date(f.startedAt).toISOString(),
    updatedAt: new Date(f.updatedAt).toISOString(),
    finishedAt: f.finishedAt === null ? null : new Date(f.finishedAt).toISOString(),
    log: f.log.map((l) => ({ time: new Date(l.time).toISOString(), line: l.line })),
  }) as Record<string, unknown>;
}

function statusJson(s: RecoveryStatus): Record<string, unknown> {
  return plain({
    ...s,
    cooldownUntil: s.cooldownUntil === null ? null : new Date(s.cooldownUntil).toISOString(),
    running: s.running ? failoverJson(s.running) : null,
    last: s.last ? failoverJson(s.last) : null,
    nodes: s.nodes.map((n) => ({ ...n, since: new Date(n.since).toISOString() })),
    locks: s.locks.map((l) => ({ ...l, at: new Date(l.at).toISOString() })),
  }) as Record<string, unknown>;
}

export const RECOVERY_ROUTES: readonly AnyRoute[] = [
  defineRoute({
    method: 'GET',
    path: p('/clusters/:name/recovery'),
    summary:
      'Recovery state: automatic recovery on/off, the live failover plan (what nines would do if the primary failed now, or why nothing), the current detection, cooldown, fenced/diverged nodes, the last failover',
    tag: 'recovery',
    role: 'viewer',
    params: S.NameParams,
    response: obj,
    handler: ({ controller, params }) => statusJson(controller.recovery.status(params.name)),
  }),
  defineRoute({
    method: 'POST',
    path: p('/clusters/:name/recovery'),
    summary: 'Turn automatic recovery (failover, rejoin) of the cluster on or off: {enabled}',
    tag: 'recovery',
    role: 'operator',
    params: S.NameParams,
    body: RecoveryToggle,
    response: obj,
    handler: ({ controller, params, body, principal }) =>
      statusJson(controller.recovery.setEnabled(params.name, body.enabled, who(principal) ?? null)),
  }),
  defineRoute({
    method: 'POST',
    path: p('/clusters/:name/failover'),
    summary:
      'Fail over now: fence the primary, promote the best (or the given) replica, repoint the others, switch the endpoint. Refused when the loss bound cannot be proven, unless force',
    tag: 'recovery',
    role: 'operator',
    params: S.NameParams,
    body: FailoverBody,
    status: 202,
    response: z.object({ failover: obj }),
    handler: async ({ controller, params, body, principal }) => ({
      failover: failoverJson(
        await controller.recovery.request(params.name, 'failover', {
          ...(body.to !== undefined ? { to: body.to } : {}),
          ...(body.force !== undefined ? { force: body.force } : {}),
          by: who(principal) ?? null,
        }),
      ),
    }),
  }),
  defineRoute({
    method: 'POST',
    path: p('/clusters/:name/switchover'),
    summary:
      'Planned switchover: the primary stops taking writes, the target receives everything, is promoted, the endpoint moves and the old primary follows it. Zero loss',
    tag: 'recovery',
    role: 'operator',
    params: S.NameParams,
    body: SwitchoverBody,
    status: 202,
    response: z.object({ failover: obj }),
    handler: async ({ controller, params, body, principal }) => ({
      failover: failoverJson(
        await controller.recovery.request(params.name, 'switchover', {
          ...(body.to !== undefined ? { to: body.to } : {}),
          by: who(principal) ?? null,
        }),
      ),
    }),
  }),
  defineRoute({
    method: 'GET',
    path: p('/clusters/:name/failovers'),
    summary: 'Failovers and switchovers of the cluster, newest first (phase, candidate, reasons, log)',
    tag: 'recovery',
    role: 'viewer',
    params: S.NameParams,
    response: z.object({ failovers: z.array(obj) }),
    handler: ({ controller, params }) => {
      controller.monitor.fullSpec(params.name); // 404 for an unknown cluster
      return { failovers: controller.recovery.listFailovers(params.name).map(failoverJson) };
    },
  }),
  defineRoute({
    method: 'GET',
    path: p('/clusters/:name/failovers/:id'),
    summary: 'One failover or switchover',
    tag: 'recovery',
    role: 'viewer',
    params: FailoverParams,
    response: z.object({ failover: obj }),
    handler: ({ controller, params }) => ({
      failover: failoverJson(controller.recovery.getFailover(params.name, params.id)),
    }),
  }),
  defineRoute({
    method: 'POST',
    path: p('/clusters/:name/nodes/rebuild'),
    summary:
      "Rebuild a node (queues node.rebuild): its data is discarded, copied from the primary, and it replicates again (a diverged former primary's way back)",
    tag: 'nodes',
    role: 'operator',
    params: S.NameParams,
    body: RebuildBody,
    status: 202,
    response: z.object({ job: S.JobBody }),
    handler: ({ controller, params, body, principal }) => {
      controller.monitor.fullSpec(params.name);
      const [host, port] = body.host.includes(':') ? body.host.split(':') : [body.host, undefined];
      return {
        job: controller.jobs.submit({
          type: 'node.rebuild',
          cluster: params.name,
          params: {
            host,
            ...(body.port !== undefined
              ? { port: body.port }
              : port !== undefined
                ? { port: Number(port) }
                : {}),
          },
          requestedBy: who(principal) ?? null,
        }),
      };
    },
  }),
  ...(['lock', 'unlock'] as const).map((action) =>
    defineRoute({
      method: 'POST',
      path: p(`/clusters/:name/nodes/${action}`),
      summary:
        action === 'lock'
          ? 'Lock a node: self-healing never starts, repairs or reopens it until it is unlocked (an operator works on it)'
          : 'Unlock a node: self-healing looks after it again',
      tag: 'nodes',
      role: 'operator',
      params: S.NameParams,
      body: LockBody,
      response: z.object({ locks: z.array(obj) }),
      handler: ({ controller, params, body, principal }) => {
        const node = specNode(controller.monitor.fullSpec(params.name), body.host, body.port);
        const locks = controller.recovery.setLock(params.name, node, action === 'lock', {
          ...(body.reason !== undefined ? { reason: body.reason } : {}),
          by: who(principal) ?? null,
        });
        return { locks: locks.map((l) => ({ ...l, at: new Date(l.at).toISOString() })) };
      },
    }),
  ),
  defineRoute({
    method: 'POST',
    path: p('/clusters/:name/recover'),
    summary:
      'Full-cluster recovery (Galera) now: examine every node, bootstrap the most advanced with its position, rejoin the others. Refused when a majority cannot be examined or servers run without a Primary component, unless force',
    tag: 'recovery',
    role: 'operator',
    params: S.NameParams,
    body: RecoverBody,
    response: z.object({ recovery: obj }),
    handler: async ({ controller, params, body }) => ({
      recovery: plain(await controller.recovery.recoverCluster(params.name, body.force === true)) as Record<
        string,
        unknown
      >,
    }),
  }),
];
