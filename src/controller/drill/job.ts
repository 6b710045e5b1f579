// The drill.failover job: a reading job (writes: false), so it runs while the failover job acts on the cluster.
// It checks the cluster may be drilled (lab hosts only), creates the drill user and table, runs the repeats
// (run.ts) and stores the report as the result of its last step, `report`.
import { randomBytes } from 'node:crypto';
import { NinesError } from '../../core/errors.ts';
import { summarizeDrill } from '../../core/recovery/drill.ts';
import { credentialSecrets, redactError } from '../../core/redact.ts';
import type { ClusterSpec, ClusterType } from '../../core/spec.ts';
import type { Topology } from '../../core/topology.ts';
import type { HostAccess } from '../../engines/engine.ts';
import type { AppUser } from '../../engines/registry.ts';
import { requireCluster, storedSpec } from '../deploy/context.ts';
import type { JobContext, JobType } from '../jobs/types.ts';
import type { InventoryRepo } from '../store/inventory-repo.ts';
import {
  currentPrimary,
  DrillParams,
  matchLab,
  writeEndpoint,
  type LabMatch,
  type LabView,
} from './params.ts';
import type { DrillReport, DrillRunReport } from './report.ts';
import {
  DEFAULT_TIMING,
  DrillRun,
  type DrillTiming,
  type FailoverReadiness,
  type FaultFn,
  type RunEnv,
} from './run.ts';
import type { DrillSql } from './sql.ts';

export const DRILL_JOB = 'drill.failover';
/** The drill's own user and database (created on the primary, reused by later drills). */
export const DRILL_USER = 'nines_drill';

/** What the drill needs from the outside world (tests give doubles). */
export interface DrillDeps {
  /** SSH to the cluster's hosts (the drill user is created through them). */
  hosts(spec: ClusterSpec): HostAccess;
  /** The labs on this machine. */
  labs(): readonly LabView[];
  readonly fault: FaultFn;
  sql(type: ClusterType): DrillSql;
  /** The engine has one primary and repointable replicas (the drill measures its failover). */
  singlePrimary(type: ClusterType): boolean;
  ensureAppUser(hosts: HostAccess, spec: ClusterSpec, topology: Topology, app: AppUser): Promise<void>;
  /**
   * Whether the controller would fail the cluster over right now (its live failover plan, cooldown, a running
   * failover); undefined when automatic failover is off or unsupported for it (the drill then measures that no
   * failover happens). A run waits for it in its baseline: a fault injected while the plan says "no" measures
   * the refusal, not a failover.
   */
  failoverReadiness?(cluster: string): FailoverReadiness | undefined;
  readonly timing?: Partial<DrillTiming>;
}

export interface DrillTarget {
  readonly spec: ClusterSpec;
  readonly lab: LabMatch;
  readonly primary: string;
  readonly target: { readonly host: string; readonly port: number };
}

/** Every check before a drill: the cluster exists, has one primary and an endpoint, and lives on one lab. */
export function drillTarget(inventory: InventoryRepo, deps: DrillDeps, name: string): DrillTarget {
  const spec = storedSpec(inventory, requireCluster(inventory, name));
  if (!deps.singlePrimary(spec.type)) {
    throw new NinesError(
      'NINES_E_DRILL_UNSUPPORTED',
      `cluster ${name} is ${spec.type}: it has no single primary to fail over`,
      {
        context: { cluster: name, type: spec.type },
      },
    );
  }
  const target = writeEndpoint(spec);
  const lab = matchLab(spec, deps.labs());
  const primary = currentPrimary(name, inventory.listNodes(name));
  return { spec, lab, primary, target };
}

function topologyOf(inventory: InventoryRepo, spec: ClusterSpec): Topology {
  return {
    type: spec.type,
    nodes: inventory.listNodes(spec.name).map((n) => ({
      host: n.host,
      port: n.port,
      role: (n.role ?? 'unknown') as Topology['nodes'][number]['role'],
    })),
  };
}

async function prepare(
  ctx: JobContext<DrillParams>,
  deps: DrillDeps,
  t: DrillTarget,
  app: AppUser,
  timing: DrillTiming,
): Promise<void> {
  const { inventory } = ctx.services.store;
  const secrets = [app.password, ...credentialSecrets(t.spec.credentials)];
  try {
    await deps.ensureAppUser(deps.hosts(t.spec), t.spec, topologyOf(inventory, t.spec), app);
    // Through the endpoint, as the workload will write: proves the path before any fault.
    await deps.sql(t.spec.type).createTable(t.target, app, Math.max(5000, timing.writeTimeoutMs));
  } catch (err) {
    throw redactError(err, secrets);
  }
  ctx.log(
    `drill user ${app.user} and table ${app.database}.writes ready through ${t.target.host}:${t.target.port}`,
  );
}

function finalReport(
  ctx: JobContext<DrillParams>,
  t: DrillTarget,
  runs: readonly DrillRunReport[],
  startedAt: string,
): DrillReport {
  const p = ctx.params;
  return {
    cluster: t.spec.name,
    type: t.spec.type,
    fault: p.fault,
    repeat: p.repeat,
    rate: p.rate,
    timeoutMs: p.timeoutMs,
    lab: t.lab.lab,
    startedAt,
    finishedAt: new Date().toISOString(),
    runs,
    skipped: p.repeat - runs.length,
    summary: summarizeDrill(
      runs.map((r) => ({
        run: r.run,
        rtoMs: r.rtoMs,
        failedStage: r.failedStage,
        reason: r.reason,
        lostAcknowledged: r.writes.lostAcknowledged === null ? null : r.writes.lostAcknowledged.length,
        maxWritable: r.writable.maxWritable,
      })),
    ),
  };
}

export function drillJobType(deps: DrillDeps): JobType<DrillParams> {
  return {
    type: DRILL_JOB,
    writes: false,
    submittable: false,
    params: DrillParams,
    async run(ctx) {
      const name = ctx.job.cluster ?? '';
      const { store, events } = ctx.services;
      const timing = { ...DEFAULT_TIMING, ...deps.timing };
      const startedAt = new Date().toISOString();
      // The step's result is stored: the lab, primary and endpoint only, never the spec and its credentials.
      const checked = await ctx.step('preflight', () => {
        const found = drillTarget(store.inventory, deps, name);
        ctx.log(
          `cluster ${name} (${found.spec.type}) on lab ${found.lab.lab}; primary ${found.primary}; writes through ${found.target.host}:${found.target.port} at ${ctx.params.rate}/s`,
        );
        return { lab: found.lab, primary: found.primary, target: found.target };
      });
      const target: DrillTarget = {
        ...checked,
        spec: storedSpec(store.inventory, requireCluster(store.inventory, name)),
      };
      const app: AppUser = {
        user: DRILL_USER,
        database: DRILL_USER,
        password: randomBytes(18).toString('base64url'),
      };
      await ctx.step('prepare', () => prepare(ctx, deps, target, app, timing));
      ctx.progress(5);
      events.emit({
        cluster: name,
        type: 'drill.started',
        severity: 'warning',
        message: `drill: ${ctx.params.repeat} x ${ctx.params.fault} of the primary's host (job ${ctx.job.id})`,
        data: { jobId: ctx.job.id, fault: ctx.params.fault, repeat: ctx.params.repeat },
      });
      const runs: DrillRunReport[] = [];
      let firstId = 1;
      for (let run = 1; run <= ctx.params.repeat; run++) {
        const env: RunEnv = {
          cluster: name,
          spec: target.spec,
          params: ctx.params,
          lab: target.lab,
          app,
          target: target.target,
          sql: deps.sql(target.spec.type),
          fault: deps.fault,
          store,
          events,
          jobId: ctx.job.id,
          signal: ctx.signal,
          timing,
          ...(deps.failoverReadiness ? { readiness: (c: string) => deps.failoverReadiness?.(c) } : {}),
          log: (line) => ctx.log(line),
        };
        const report = await ctx.step(`run ${run}`, () => new DrillRun(env, run, firstId).execute());
        runs.push(report);
        firstId = report.writes.lastId + 1;
        ctx.log(`run ${run}: ${report.reason}`);
        events.emit({
          cluster: name,
          type: 'drill.run',
          severity: report.recovered ? 'info' : 'warning',
          message: `drill run ${run}: ${report.reason}`,
          data: { jobId: ctx.job.id, run, rtoMs: report.rtoMs, failedStage: report.failedStage },
        });
        ctx.progress(5 + (90 * run) / ctx.params.repeat);
        if (!report.recovered && run < ctx.params.repeat) {
          // The cluster is not known to be back (one writable primary, replicas attached): drilling it again
          // would measure the previous failure, not a new one.
          ctx.log(
            `run ${run} did not recover: the remaining ${ctx.params.repeat - run} repeat(s) are skipped`,
          );
          break;
        }
      }
      const report = await ctx.step('report', () => finalReport(ctx, target, runs, startedAt));
      const s = report.summary;
      events.emit({
        cluster: name,
        type: 'drill.finished',
        severity: s.failures.length > 0 ? 'warning' : 'info',
        message: `drill finished: ${report.runs.length} run(s), ${s.failures.length} failed, RTO p50 ${s.rtoMs.p50 ?? '-'} ms, max ${s.rtoMs.max ?? '-'} ms, ${s.lostAcknowledged} acknowledged write(s) lost`,
        data: { jobId: ctx.job.id, summary: s },
      });
    },
  };
}
