// Monitoring routes: live status, time series, Prometheus, alarms, thresholds, maintenance, query insight and
// notification channels (see docs/monitoring.md and docs/api.md).
import { timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { NinesError } from '../core/errors.ts';
import type { Controller } from '../controller/controller.ts';
import { runningQueries, topStatements } from '../controller/monitor/query-insight.ts';
import type { TokenRecord } from '../controller/store/token-repo.ts';
import { API_PREFIX, defineRoute, type AnyRoute } from './route-table.ts';
import * as S from './schemas.ts';

const p = (path: string): string => `${API_PREFIX}${path}`;
const who = (t: TokenRecord | undefined): string | null => (t ? `${t.name} (token ${t.id})` : null);
const obj = z.record(z.string(), z.unknown());

function requireCluster(controller: Controller, name: string): void {
  if (!controller.store.inventory.hasCluster(name)) {
    throw new NinesError('NINES_E_CLUSTER_NOT_FOUND', name, { context: { cluster: name } });
  }
}

const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
/** The longest duration (and the furthest time from now) any monitoring input accepts: 1 year. */
export const MAX_SPAN_MS = 365 * UNIT_MS.d;
/** The largest time a Date can represent (ms). */
const MAX_TIME = 8.64e15;

const badTime = (value: string): NinesError =>
  new NinesError(
    'NINES_E_INVALID_ARGUMENT',
    `expected a time (epoch ms, ISO date or -15m/-2h/-1d, within 1 year), got '${value.slice(0, 64)}'`,
  );

/** A time as epoch ms, an ISO date, or relative to now: -15m, -2h, -1d (at most 1 year back), now. */
export function parseTime(value: string | undefined, fallback: number, now: number): number {
  if (value === undefined || value === '') return fallback;
  if (value === 'now') return now;
  const rel = /^-(\d{1,12})(s|m|h|d)$/.exec(value);
  if (rel) {
    const ms = Number(rel[1]) * UNIT_MS[rel[2] as keyof typeof UNIT_MS];
    if (ms > MAX_SPAN_MS) throw badTime(value);
    return now - ms;
  }
  const t = /^\d{1,16}$/.test(value) ? Number(value) : value.length <= 64 ? Date.parse(value) : NaN;
  if (!Number.isSafeInteger(t) || t > MAX_TIME) throw badTime(value);
  return t;
}

/** Milliseconds of a duration such as 90s, 30m, 2h, 1d (or plain seconds); undefined when not one or over 1 year. */
export function durationMs(value: string): number | undefined {
  const m = /^(\d{1,12})(s|m|h|d)?$/.exec(value.trim());
  if (!m) return undefined;
  const ms = Number(m[1]) * UNIT_MS[(m[2] ?? 's') as keyof typeof UNIT_MS];
  return ms > 0 && ms <= MAX_SPAN_MS ? ms : undefined;
}

/** A duration such as 90s, 30m, 2h, 1d (or plain seconds), more than 0 and at most 1 year (365d). */
export function parseDuration(value: string): number {
  const ms = durationMs(value);
  if (ms === undefined) {
    throw new NinesError(
      'NINES_E_INVALID_ARGUMENT',
      `expected a duration like 30m, 2h or 7d (more than 0, at most 365d), got '${value.slice(0, 64)}'`,
    );
  }
  return ms;
}

const DURATION_MESSAGE = 'expected a duration like 30m, 2h or 7d (more than 0, at most 365d)';
const UNTIL_MESSAGE = 'expected an ISO time (or epoch ms) in the future, at most 1 year from now';

/** An end time given as `until`: in the future, at most 1 year ahead. */
function untilMs(value: string, now: number): number | undefined {
  try {
    const t = parseTime(value, now, now);
    return t > now && t <= now + MAX_SPAN_MS ? t : undefined;
  } catch {
    return undefined;
  }
}

/** The body of POST /clusters/:name/maintenance: every field bounded, the end checked before anything is written. */
export const MaintenanceBody = z
  .strictObject({
    node: z.string('expected a host or host:port').min(1).max(300).optional(),
    until: z
      .string('expected an ISO time')
      .max(64, UNTIL_MESSAGE)
      .refine((v) => untilMs(v, Date.now()) !== undefined, UNTIL_MESSAGE)
      .optional(),
    duration: z
      .string('expected a duration like 2h')
      .max(32, DURATION_MESSAGE)
      .refine((v) => durationMs(v) !== undefined, DURATION_MESSAGE)
      .optional()
      .describe('e.g. 30m, 2h, 1d (default 1h, at most 365d)'),
    reason: z.string('expected text').max(500, 'expected at most 500 characters').optional(),
  })
  .refine((b) => b.until === undefined || b.duration === undefined, {
    message: 'give until or duration, not both',
    path: ['duration'],
  });

const SettingsBody = z.strictObject({
  thresholds: obj.optional(),
  disabledRules: z
    .array(z.string('expected a rule name').max(64, 'expected a rule name'), 'expected a list of rule names')
    .max(50, 'expected at most 50 rules')
    .optional(),
});

const ClusterNodeQuery = z.strictObject({ node: z.string().optional() });
const limit = z.coerce.number('expected a number').int('expected an integer').min(1).max(1000);

const statusRoutes: AnyRoute[] = [
  defineRoute({
    method: 'GET',
    path: p('/status'),
    summary: 'Live state of every cluster: state with its reason, node counts, active alarms',
    tag: 'monitoring',
    role: 'viewer',
    response: z.object({ clusters: z.array(obj) }),
    handler: ({ controller }) => ({
      clusters: controller.store.inventory.listClusters().map((c) => {
        const s = controller.monitor.status(c.name);
        return {
          cluster: c.name,
          type: c.type,
          lifecycle: c.state,
          monitored: s.monitored,
          state: s.state,
          reason: s.reason,
          time: s.time,
          nodes: s.nodes.length,
          nodesUp: s.nodes.filter((n) => n.state === 'up').length,
          alarms: s.alarms.length,
        };
      }),
    }),
  }),
  defineRoute({
    method: 'GET',
    path: p('/clusters/:name/status'),
    summary:
      'Live topology and health of a cluster: state and reason, each node (state, role, lag, connections, qps, galera, host), alarms, maintenance, HAProxy backends',
    tag: 'monitoring',
    role: 'viewer',
    params: S.NameParams,
    response: obj,
    handler: ({ controller, params }) => {
      const status = controller.monitor.status(params.name);
      const r = controller.recovery.status(params.name);
      return {
        ...status,
        recovery: r.supported
          ? {
              enabled: r.enabled,
              primary: r.primary,
              plan: r.plan?.reason ?? null,
              detection: r.detection ? { action: r.detection.action, reason: r.detection.reason } : null,
              running: r.running ? { id: r.running.id, kind: r.running.kind, phase: r.running.phase } : null,
              nodes: r.nodes.map((n) => ({ node: n.node, state: n.state, reason: n.reason })),
            }
          : null,
      };
    },
  }),
  defineRoute({
    method: 'GET',
    path: p('/clusters/:name/metrics'),
    summary:
      'Time series of a cluster (?series=qps,lag_seconds&node=&from=-15m&to=now&step=10s); the tier (raw 1 s, 1 min, 1 h) follows the range and step',
    tag: 'monitoring',
    role: 'viewer',
    params: S.NameParams,
    query: z.strictObject({
      series: z.string().optional().describe('Comma-separated metric names (all when absent)'),
      node: z.string().optional(),
      from: z.string().optional().describe('Epoch ms, ISO date or relative (-15m); default -15m'),
      to: z.string().optional().describe('Epoch ms, ISO date, relative or now (default)'),
      step: z.string().optional().describe('Point spacing: 1s, 10s, 5m, 1h (default: the tier resolution)'),
    }),
    response: obj,
    handler: ({ controller, params, query }) => {
      requireCluster(controller, params.name);
      const now = Date.now();
      const to = parseTime(query.to, now, now);
      const from = parseTime(query.from, to - 15 * 60_000, now);
      const node = query.node ? controller.monitor.nodeName(params.name, query.node) : undefined;
      return controller.monitor.metrics.query(
        {
          cluster: params.name,
          metrics: (query.series ?? '').split(',').filter(Boolean),
          ...(node ? { node } : {}),
          from,
          to,
          ...(query.step ? { stepMs: parseDuration(query.step) } : {}),
        },
        now,
      );
    },
  }),
];

function metricsAllowed(controller: Controller, header: string | undefined): boolean {
  const cfg = controller.config.monitor;
  if (cfg.metricsPublic) return true;
  const token = header ? /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1] : undefined;
  if (!token) return false;
  if (cfg.metricsToken) {
    const a = Buffer.from(token);
    const b = Buffer.from(cfg.metricsToken);
    if (a.length === b.length && timingSafeEqual(a, b)) return true;
  }
  return controller.store.tokens.verify(token) !== undefined;
}

const prometheusRoute = defineRoute({
  method: 'GET',
  path: '/metrics',
  summary:
    'Prometheus text exposition (per node and cluster: up, state, role, lag, connections, qps, galera, alarms). Auth: the scrape token (monitor.metricsToken) or any API token; none with monitor.metricsPublic',
  tag: 'monitoring',
  role: 'public',
  handler: async ({ controller, req, reply }) => {
    if (!metricsAllowed(controller, req.headers.authorization)) throw new NinesError('NINES_E_METRICS_AUTH');
    const text = await controller.monitor.renderPrometheus();
    reply.header('content-type', controller.monitor.prometheus.contentType);
    return text;
  },
});

const alarmRoutes: AnyRoute[] = [
  defineRoute({
    method: 'GET',
    path: p('/alarms'),
    summary: 'Active alarms, newest first (?all=1: history too; ?cluster=)',
    tag: 'alarms',
    role: 'viewer',
    query: z.strictObject({
      cluster: z.string().optional(),
      all: z.enum(['0', '1', 'true', 'false']).optional(),
      limit: limit.optional(),
    }),
    response: z.object({ alarms: z.array(obj) }),
    handler: ({ controller, query }) => ({
      alarms: controller.monitor.alarms.list({
        ...(query.cluster ? { cluster: query.cluster } : {}),
        all: query.all === '1' || query.all === 'true',
        ...(query.limit ? { limit: query.limit } : {}),
      }),
    }),
  }),
  defineRoute({
    method: 'POST',
    path: p('/alarms/:id/ack'),
    summary: 'Acknowledge an active alarm (it stays active until its condition clears)',
    tag: 'alarms',
    role: 'operator',
    params: S.IdParams,
    body: z.strictObject({ comment: z.string().max(1000).optional() }),
    response: z.object({ alarm: obj }),
    handler: ({ controller, params, body, principal }) => {
      const by = who(principal) ?? 'unknown';
      const alarm = controller.monitor.alarms.acknowledge(params.id, by, Date.now(), body.comment);
      controller.events.emit({
        cluster: alarm.cluster,
        type: 'alarm.acknowledged',
        message: `alarm ${alarm.rule}${alarm.node ? ` on ${alarm.node}` : ''} acknowledged by ${by}${body.comment ? `: ${body.comment}` : ''}`,
        data: { alarmId: alarm.id, key: alarm.key, by, comment: body.comment ?? null },
      });
      return { alarm };
    },
  }),
  defineRoute({
    method: 'GET',
    path: p('/clusters/:name/monitor-settings'),
    summary: 'Alarm thresholds (overrides and the resolved values) and disabled rules of a cluster',
    tag: 'alarms',
    role: 'viewer',
    params: S.NameParams,
    response: obj,
    handler: ({ controller, params }) => {
      requireCluster(controller, params.name);
      const spec = controller.store.inventory.getCluster(params.name)?.spec;
      return {
        ...controller.monitor.settings.settings(params.name),
        resolved: controller.monitor.settings.thresholds(params.name, spec?.options?.maxLagSeconds),
      };
    },
  }),
  defineRoute({
    method: 'POST',
    path: p('/clusters/:name/monitor-settings'),
    summary: 'Set alarm thresholds (e.g. {"thresholds":{"lagSeconds":{"warning":10}}}) and disabled rules',
    tag: 'alarms',
    role: 'operator',
    params: S.NameParams,
    body: SettingsBody,
    response: obj,
    handler: ({ controller, params, body, principal }) => {
      requireCluster(controller, params.name);
      const s = controller.monitor.settings.update(params.name, body, who(principal), Date.now());
      controller.events.emit({
        cluster: params.name,
        type: 'monitor.settings',
        message: `monitoring settings of ${params.name} changed by ${who(principal) ?? 'unknown'}`,
        data: { thresholds: s.thresholds, disabledRules: s.disabledRules },
      });
      return s;
    },
  }),
];

const maintenanceRoutes: AnyRoute[] = [
  defineRoute({
    method: 'GET',
    path: p('/clusters/:name/maintenance'),
    summary: 'Maintenance windows of a cluster and its nodes',
    tag: 'maintenance',
    role: 'viewer',
    params: S.NameParams,
    response: z.object({ maintenance: z.array(obj) }),
    handler: ({ controller, params }) => {
      requireCluster(controller, params.name);
      return { maintenance: controller.monitor.settings.maintenance(params.name) };
    },
  }),
  defineRoute({
    method: 'POST',
    path: p('/clusters/:name/maintenance'),
    summary:
      'Start maintenance of the cluster or of one node (alarms suppressed until the end): {node?, until? (ISO, within 1 year) | duration? (2h, at most 365d), reason? (at most 500 characters)}',
    tag: 'maintenance',
    role: 'operator',
    params: S.NameParams,
    body: MaintenanceBody,
    status: 201,
    response: z.object({ maintenance: obj }),
    handler: ({ controller, params, body, principal }) => {
      const now = Date.now();
      const until = body.until ? parseTime(body.until, now, now) : now + parseDuration(body.duration ?? '1h');
      return {
        maintenance: controller.monitor.startMaintenance(
          params.name,
          {
            ...(body.node ? { node: body.node } : {}),
            until,
            ...(body.reason ? { reason: body.reason } : {}),
          },
          who(principal),
        ),
      };
    },
  }),
  defineRoute({
    method: 'DELETE',
    path: p('/clusters/:name/maintenance'),
    summary: 'End maintenance of the cluster (or of ?node=) now',
    tag: 'maintenance',
    role: 'operator',
    params: S.NameParams,
    query: ClusterNodeQuery,
    response: z.object({ ended: z.boolean() }),
    handler: ({ controller, params, query, principal }) => {
      requireCluster(controller, params.name);
      return { ended: controller.monitor.endMaintenance(params.name, query.node, who(principal)) };
    },
  }),
];

const queryRoutes: AnyRoute[] = [
  defineRoute({
    method: 'GET',
    path: p('/clusters/:name/queries/top'),
    summary: 'Top statements per node (performance_schema / pg_stat_statements)',
    tag: 'queries',
    role: 'viewer',
    params: S.NameParams,
    query: z.strictObject({
      node: z.string().optional(),
      limit: limit.optional(),
      orderBy: z.enum(['totalTime', 'calls', 'rows']).optional(),
    }),
    response: z.object({ nodes: z.array(obj) }),
    handler: async ({ controller, params, query }) => ({
      nodes: await topStatements(
        (spec, node) => controller.monitor.openInsight(spec, node),
        controller.monitor.fullSpec(params.name),
        {
          ...(query.node ? { node: query.node } : {}),
          limit: query.limit ?? 10,
          orderBy: query.orderBy ?? 'totalTime',
        },
      ),
    }),
  }),
  defineRoute({
    method: 'GET',
    path: p('/clusters/:name/queries/running'),
    summary: 'Client statements running now, per node, oldest first',
    tag: 'queries',
    role: 'viewer',
    params: S.NameParams,
    query: ClusterNodeQuery,
    response: z.object({ nodes: z.array(obj) }),
    handler: async ({ controller, params, query }) => ({
      nodes: await runningQueries(
        (spec, node) => controller.monitor.openInsight(spec, node),
        controller.monitor.fullSpec(params.name),
        query.node,
      ),
    }),
  }),
  defineRoute({
    method: 'POST',
    path: p('/clusters/:name/queries/kill'),
    summary: 'Cancel a running statement (or terminate its session): queues the audited query.kill job',
    tag: 'queries',
    role: 'operator',
    params: S.NameParams,
    body: z.strictObject({
      node: z.string().min(1),
      id: z.number().int().min(0),
      terminate: z.boolean().optional(),
    }),
    status: 202,
    response: z.object({ job: S.JobBody }),
    handler: ({ controller, params, body, principal }) => {
      const node = controller.monitor.nodeName(params.name, body.node);
      return {
        job: controller.jobs.submit({
          type: 'query.kill',
          cluster: params.name,
          params: { node, id: body.id, ...(body.terminate ? { terminate: true } : {}) },
          requestedBy: who(principal),
        }),
      };
    },
  }),
];

const notifyRoutes: AnyRoute[] = [
  defineRoute({
    method: 'GET',
    path: p('/notify/channels'),
    summary:
      'Notification channels (targets without secrets: URL origin only, no header values or passwords)',
    tag: 'notify',
    role: 'viewer',
    response: z.object({ channels: z.array(obj) }),
    handler: ({ controller }) => ({ channels: controller.monitor.notify.describe() }),
  }),
  defineRoute({
    method: 'POST',
    path: p('/notify/channels'),
    summary: 'Create or replace a notification channel (webhook, slack, email); secrets are stored encrypted',
    tag: 'notify',
    role: 'admin',
    body: obj,
    status: 201,
    response: z.object({ channel: obj }),
    handler: async ({ controller, body, principal }) => {
      const channel = await controller.monitor.notify.put(body);
      controller.events.emit({
        type: 'notify.channel.saved',
        message: `notification channel ${String(channel.name)} (${String(channel.kind)}) saved by ${who(principal) ?? 'unknown'}`,
        data: { channel },
      });
      return { channel };
    },
  }),
  defineRoute({
    method: 'DELETE',
    path: p('/notify/channels/:name'),
    summary: 'Delete a notification channel',
    tag: 'notify',
    role: 'admin',
    params: S.NameParams,
    response: z.object({ deleted: z.string() }),
    handler: async ({ controller, params, principal }) => {
      await controller.monitor.notify.remove(params.name);
      controller.events.emit({
        type: 'notify.channel.deleted',
        message: `notification channel ${params.name} deleted by ${who(principal) ?? 'unknown'}`,
      });
      return { deleted: params.name };
    },
  }),
  defineRoute({
    method: 'GET',
    path: p('/notify/deliveries'),
    summary: 'Notification deliveries, newest first (state, attempts, last error; redacted)',
    tag: 'notify',
    role: 'viewer',
    query: z.strictObject({
      channel: z.string().optional(),
      state: z.enum(['pending', 'delivered', 'failed']).optional(),
      limit: limit.optional(),
    }),
    response: z.object({ deliveries: z.array(obj) }),
    handler: ({ controller, query }) => ({
      deliveries: controller.monitor.notify.deliveries({
        ...(query.channel ? { channel: query.channel } : {}),
        ...(query.state ? { state: query.state } : {}),
        ...(query.limit ? { limit: query.limit } : {}),
      }),
    }),
  }),
];

export const MONITOR_ROUTES: readonly AnyRoute[] = [
  ...statusRoutes,
  prometheusRoute,
  ...alarmRoutes,
  ...maintenanceRoutes,
  ...queryRoutes,
  ...notifyRoutes,
];
