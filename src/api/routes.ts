// The route table of /api/v1 (see route-table.ts for how it is used).
import { z } from 'zod';
import { NinesError } from '../core/errors.ts';
import { parseSpecText, redactSpec, SpecInputSchema, validateSpec } from '../core/spec.ts';
import { eventMatches } from '../controller/store/event-repo.ts';
import { TERMINAL_STATES } from '../controller/store/job-repo.ts';
import type { TokenRecord } from '../controller/store/token-repo.ts';
import { DEPLOY_ROUTES } from './deploy-routes.ts';
import { DRILL_ROUTES } from './drill-routes.ts';
import { KEY_ROUTES } from './key-routes.ts';
import { MONITOR_ROUTES } from './monitor-routes.ts';
import { RECOVERY_ROUTES } from './recovery-routes.ts';
import { API_PREFIX, defineRoute, type AnyRoute } from './route-table.ts';
import * as S from './schemas.ts';
import { openSse, resumeId } from './sse.ts';

const VERSION = '0.1.0';
const p = (path: string): string => `${API_PREFIX}${path}`;
const who = (t: TokenRecord | undefined): string | undefined => (t ? `${t.name} (token ${t.id})` : undefined);

const specBody = z.union([SpecInputSchema, z.string().describe('The spec as YAML or JSON text')]);

const clusterRoutes: AnyRoute[] = [
  defineRoute({
    method: 'GET',
    path: p('/clusters'),
    summary: 'List clusters',
    tag: 'clusters',
    role: 'viewer',
    response: z.object({ clusters: z.array(S.ClusterSummary) }),
    handler: ({ controller }) => ({ clusters: controller.store.inventory.listClusters() }),
  }),
  defineRoute({
    method: 'POST',
    path: p('/clusters'),
    summary:
      'Create a cluster from a spec (JSON, or YAML with content-type application/yaml); returns the job',
    tag: 'clusters',
    role: 'operator',
    body: specBody,
    validateBody: false,
    status: 202,
    response: z.object({ job: S.JobBody, warnings: z.array(z.string()), generated: z.array(z.string()) }),
    handler: async ({ controller, body, principal }) => controller.createCluster(body, who(principal)),
  }),
  defineRoute({
    method: 'GET',
    path: p('/clusters/:name'),
    summary: 'Show a cluster: spec (credentials as "***"), observed state, nodes, endpoint',
    tag: 'clusters',
    role: 'viewer',
    params: S.NameParams,
    response: z.object({
      cluster: S.ClusterSummary.extend({
        spec: z.record(z.string(), z.unknown()),
        observed: z.record(z.string(), z.unknown()),
      }),
      nodes: z.array(S.NodeBody),
      endpoint: z.record(z.string(), z.unknown()).nullable(),
    }),
    handler: ({ controller, params }) => {
      const cluster = controller.store.inventory.getCluster(params.name);
      if (!cluster) throw new NinesError('NINES_E_CLUSTER_NOT_FOUND', params.name);
      return {
        cluster: { ...cluster, spec: redactSpec(cluster.spec) },
        nodes: controller.store.inventory.listNodes(params.name),
        endpoint: controller.store.inventory.getEndpoint(params.name) ?? null,
      };
    },
  }),
  defineRoute({
    method: 'DELETE',
    path: p('/clusters/:name'),
    summary: 'Delete a cluster from the controller (queues cluster.delete); needs ?confirm=NAME',
    tag: 'clusters',
    role: 'admin',
    params: S.NameParams,
    query: z.strictObject({ confirm: z.string().optional() }),
    status: 202,
    response: z.object({ job: S.JobBody }),
    handler: ({ controller, params, query, principal }) => ({
      job: controller.deleteCluster(params.name, query.confirm, who(principal)),
    }),
  }),
  defineRoute({
    method: 'GET',
    path: p('/clusters/:name/nodes'),
    summary: "List a cluster's nodes",
    tag: 'nodes',
    role: 'viewer',
    params: S.NameParams,
    response: z.object({ nodes: z.array(S.NodeBody) }),
    handler: ({ controller, params }) => {
      if (!controller.store.inventory.hasCluster(params.name)) {
        throw new NinesError('NINES_E_CLUSTER_NOT_FOUND', params.name);
      }
      return { nodes: controller.store.inventory.listNodes(params.name) };
    },
  }),
  defineRoute({
    method: 'GET',
    path: p('/nodes'),
    summary: 'List the nodes of every cluster (or of ?cluster=)',
    tag: 'nodes',
    role: 'viewer',
    query: z.strictObject({ cluster: z.string().optional() }),
    response: z.object({ nodes: z.array(S.NodeBody) }),
    handler: ({ controller, query }) => ({ nodes: controller.store.inventory.listNodes(query.cluster) }),
  }),
];

const jobRoutes: AnyRoute[] = [
  defineRoute({
    method: 'GET',
    path: p('/jobs'),
    summary: 'List jobs, newest first',
    tag: 'jobs',
    role: 'viewer',
    query: S.JobListQuery,
    response: z.object({ jobs: z.array(S.JobBody) }),
    handler: ({ controller, query }) => ({ jobs: controller.store.jobs.list(query) }),
  }),
  defineRoute({
    method: 'POST',
    path: p('/jobs'),
    summary: 'Submit a job of a directly submittable type',
    tag: 'jobs',
    role: 'operator',
    body: S.SubmitJobBody,
    status: 202,
    response: z.object({ job: S.JobBody }),
    handler: ({ controller, body, principal }) => {
      const type = controller.jobs.jobType(body.type);
      if (!type?.submittable)
        throw new NinesError('NINES_E_JOB_TYPE_UNKNOWN', `${body.type} (not submittable)`);
      return {
        job: controller.jobs.submit({
          type: body.type,
          cluster: body.cluster ?? null,
          params: body.params ?? {},
          requestedBy: who(principal) ?? null,
        }),
      };
    },
  }),
  defineRoute({
    method: 'GET',
    path: p('/jobs/:id'),
    summary: 'Show a job with its steps',
    tag: 'jobs',
    role: 'viewer',
    params: S.IdParams,
    response: z.object({ job: S.JobBody, steps: z.array(S.StepBody) }),
    handler: ({ controller, params }) => {
      const job = controller.store.jobs.get(params.id);
      if (!job) throw new NinesError('NINES_E_JOB_NOT_FOUND', `job ${params.id}`);
      return { job, steps: controller.store.jobs.steps(params.id) };
    },
  }),
  defineRoute({
    method: 'GET',
    path: p('/jobs/:id/logs'),
    summary: 'Log lines of a job; with ?follow=1 a Server-Sent Events stream (events log, job, end)',
    tag: 'jobs',
    role: 'viewer',
    params: S.IdParams,
    query: S.LogsQuery,
    sse: true,
    response: z.object({ job: S.JobBody, lines: z.array(S.LogLineBody) }),
    handler: ({ controller, params, query, req, reply }) => {
      const job = controller.store.jobs.get(params.id);
      if (!job) throw new NinesError('NINES_E_JOB_NOT_FOUND', `job ${params.id}`);
      const since = resumeId(req, query.since) ?? 0;
      if (query.follow !== '1' && query.follow !== 'true') {
        return { job, lines: controller.store.jobs.logs(params.id, since) };
      }
      const stream = openSse(req, reply, controller.config.api.sseHeartbeatMs);
      let last = since;
      const sendLine = (l: { seq: number; time: string; line: string }): void => {
        if (l.seq <= last) return;
        last = l.seq;
        stream.send(l, { id: l.seq, event: 'log' });
      };
      for (const line of controller.store.jobs.logs(params.id, since)) sendLine(line);
      stream.send(job, { event: 'job' });
      if (TERMINAL_STATES.has(job.state)) {
        stream.send(job, { event: 'end' });
        stream.close();
        return;
      }
      const unwatch = controller.jobs.watch(params.id, (u) => {
        if (u.kind === 'log') return sendLine(u.line);
        stream.send(u.job, { event: 'job' });
        if (TERMINAL_STATES.has(u.job.state)) {
          stream.send(u.job, { event: 'end' });
          stream.close();
        }
      });
      stream.onClose(unwatch);
      return;
    },
  }),
  defineRoute({
    method: 'POST',
    path: p('/jobs/:id/cancel'),
    summary: 'Cancel a job (queued: at once; running: at its next await)',
    tag: 'jobs',
    role: 'operator',
    params: S.IdParams,
    status: 202,
    response: z.object({ job: S.JobBody }),
    handler: ({ controller, params, principal }) => ({
      job: controller.jobs.cancel(params.id, who(principal)),
    }),
  }),
];

const eventRoutes: AnyRoute[] = [
  defineRoute({
    method: 'GET',
    path: p('/events'),
    summary: 'List events (oldest first after ?since=, or the newest ?limit= when since is absent)',
    tag: 'events',
    role: 'viewer',
    query: S.EventListQuery,
    response: z.object({ events: z.array(S.EventBody) }),
    handler: ({ controller, query }) => {
      if (query.since !== undefined) return { events: controller.events.list(query) };
      return { events: controller.events.list({ ...query, desc: true }).reverse() };
    },
  }),
  defineRoute({
    method: 'GET',
    path: p('/events/stream'),
    summary:
      'Live events as Server-Sent Events; resume with Last-Event-ID or ?since=ID (absent: new events only)',
    tag: 'events',
    role: 'viewer',
    query: S.EventListQuery.omit({ limit: true }),
    sse: true,
    response: S.EventBody,
    handler: ({ controller, query, req, reply }) => {
      const filter = { cluster: query.cluster, type: query.type };
      let last = resumeId(req, query.since) ?? controller.store.events.lastId();
      const stream = openSse(req, reply, controller.config.api.sseHeartbeatMs);
      // Backlog and subscription in one synchronous run: no event can slip between them.
      for (;;) {
        const batch = controller.events.list({ ...filter, since: last, limit: 1000 });
        for (const e of batch) stream.send(e, { id: e.id });
        last = batch.at(-1)?.id ?? last;
        if (batch.length < 1000 || stream.closed) break;
      }
      const unsubscribe = controller.events.subscribe((e) => {
        if (e.id <= last || !eventMatches(e, filter)) return;
        last = e.id;
        stream.send(e, { id: e.id });
      });
      stream.onClose(unsubscribe);
    },
  }),
];

const adminRoutes: AnyRoute[] = [
  defineRoute({
    method: 'GET',
    path: p('/tokens'),
    summary: 'List API tokens (never the tokens themselves)',
    tag: 'tokens',
    role: 'admin',
    response: z.object({ tokens: z.array(S.TokenBody) }),
    handler: ({ controller }) => ({ tokens: controller.store.tokens.list() }),
  }),
  defineRoute({
    method: 'POST',
    path: p('/tokens'),
    summary: 'Create an API token; the token is in this response only',
    tag: 'tokens',
    role: 'admin',
    body: S.CreateTokenBody,
    status: 201,
    response: S.TokenBody.extend({ token: z.string() }),
    handler: ({ controller, body }) => {
      const { token, record } = controller.store.tokens.create(body.name, body.role);
      controller.events.emit({
        type: 'token.created',
        message: `API token ${record.name} (${record.role}) created`,
      });
      return { ...record, token };
    },
  }),
  defineRoute({
    method: 'DELETE',
    path: p('/tokens/:id'),
    summary: 'Revoke an API token',
    tag: 'tokens',
    role: 'admin',
    params: S.IdParams,
    response: z.object({ token: S.TokenBody }),
    handler: ({ controller, params }) => {
      const tokens = controller.store.tokens;
      const record = tokens.get(params.id);
      if (!record || record.revokedAt) throw new NinesError('NINES_E_TOKEN_NOT_FOUND', `token ${params.id}`);
      if (record.role === 'admin' && tokens.countActive('admin') === 1) {
        throw new NinesError('NINES_E_INVALID_ARGUMENT', 'cannot revoke the last admin token', {
          hint: 'Create another admin token first.',
        });
      }
      tokens.revoke(params.id);
      controller.events.emit({ type: 'token.revoked', message: `API token ${record.name} revoked` });
      return { token: tokens.get(params.id) };
    },
  }),
];

const miscRoutes: AnyRoute[] = [
  defineRoute({
    method: 'GET',
    path: p('/health'),
    summary: 'Liveness (no token needed)',
    tag: 'system',
    role: 'public',
    response: z.object({ status: z.literal('ok'), version: z.string(), uptimeSeconds: z.number() }),
    handler: ({ controller }) => ({
      status: 'ok',
      version: VERSION,
      uptimeSeconds: Math.round((Date.now() - controller.startedAt) / 1000),
    }),
  }),
  defineRoute({
    method: 'POST',
    path: p('/spec/validate'),
    summary: 'Validate a cluster spec without changing anything',
    tag: 'spec',
    role: 'viewer',
    body: specBody,
    validateBody: false,
    response: S.SpecResponse,
    handler: ({ controller, body }) => {
      const { spec, warnings, generated } = validateSpec(
        typeof body === 'string' ? parseSpecText(body, 'request body') : body,
      );
      const key = controller.store.keys.has(spec.ssh.key)
        ? []
        : [
            `ssh.key: no key named '${spec.ssh.key}' is registered (nines key add ${spec.ssh.key} --file PATH)`,
          ];
      return { valid: true, spec: redactSpec(spec), warnings: [...warnings, ...key], generated };
    },
  }),
];

export const ROUTES: readonly AnyRoute[] = [
  ...miscRoutes,
  ...clusterRoutes,
  ...DEPLOY_ROUTES,
  ...DRILL_ROUTES,
  ...jobRoutes,
  ...eventRoutes,
  ...adminRoutes,
  ...KEY_ROUTES,
  ...MONITOR_ROUTES,
  ...RECOVERY_ROUTES,
];
export { VERSION };
