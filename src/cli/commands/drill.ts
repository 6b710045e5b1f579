// nines drill failover CLUSTER --fault F — the failover drill through the controller API: submits drill.failover,
// follows it, prints its report (a table per run, the distribution over runs, the decision timeline).
import type { DrillReport, DrillRunReport } from '../../controller/drill/index.ts';
import { DRILL_FAULTS } from '../../controller/drill/params.ts';
import type { ApiClient } from '../client.ts';
import { CONNECTION_HELP, apiGroup } from '../client.ts';
import { exitCodeFor, followJob, type JobView } from '../job-progress.ts';
import type { CommandGroup } from '../main.ts';
import { EXIT, UsageError, printJson, printTable } from '../output.ts';

const help = `Usage: nines drill failover CLUSTER --fault FAULT [--repeat N] [--rate W] [--timeout S] [--json]

Breaks the primary's host on purpose and measures what clients see. Lab clusters only: every node and proxy
host of the cluster must be a host of a lab on the controller's machine (refused otherwise).

Each run: writes the next id every 1/W s through the endpoint (virtual IP, else the first proxy) as the drill
user, logging each write's acknowledgement; polls every node directly about every 100 ms for whether it
accepts writes; injects FAULT on the primary's host; waits for a new primary and for writes to be acknowledged
again; reverts the fault (crash, poweroff: restart; partition: heal; freeze: thaw); waits for the old primary
to be a replica again; reads the ids back on the new primary. A run that does not recover ends the drill.

  --fault FAULT   ${DRILL_FAULTS.join(', ')}
  --repeat N      runs (default 1, at most 100)
  --rate W        writes per second (default 20, at most 200)
  --timeout S     bound on each run in seconds (default 120)
  --json          the raw report

Reported per run: RTO (last acknowledged write before the fault -> first after it), acknowledged writes lost,
unacknowledged writes that exist anyway, the most nodes writable at once, which node was promoted, the stages
and the timeline of events from the fault on. Exit codes: 0 every run recovered, 1 a run did not (or an
error), 2 usage, 3 the drill job failed, 4 cancelled, 5 token refused.

${CONNECTION_HELP}`;

function intOption(name: string, value: string | undefined, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max)
    throw new UsageError(`--${name}: expected ${min}-${max}, got '${value}'`);
  return Number(value);
}

const sec = (ms: number | null | undefined): string =>
  ms === null || ms === undefined ? '-' : `${(ms / 1000).toFixed(2)} s`;

function runRow(r: DrillRunReport): Record<string, unknown> {
  return {
    run: r.run,
    result: r.recovered ? 'recovered' : `failed (${r.failedStage ?? '?'})`,
    'old primary': r.oldPrimary ? `${r.oldPrimary} (${r.faultHost ?? '?'})` : '-',
    'new primary': r.newPrimary ?? '-',
    rto: sec(r.rtoMs),
    acked: `${r.writes.acknowledged}/${r.writes.sent}`,
    lost: r.writes.lostAcknowledged === null ? '-' : r.writes.lostAcknowledged.length,
    'unacked present': r.writes.unacknowledgedPresent ?? '-',
    'max writable': r.writable.maxWritable,
  };
}

/** The decisions of a run: the failover's events, rejoin/divergence and the drill's own marks. */
const DECISIONS = /^(failover\.|node\.rejoined|node\.diverged|drill\.)/;

function printRun(r: DrillRunReport): void {
  console.log(`\nrun ${r.run}: ${r.reason}`);
  for (const s of r.stages)
    console.log(`  ${s.ok ? 'ok  ' : 'FAIL'} ${s.stage.padEnd(8)} ${sec(s.ms).padStart(8)}  ${s.detail}`);
  if (r.writes.lostAcknowledged && r.writes.lostAcknowledged.length > 0) {
    console.log(`  LOST acknowledged ids: ${r.writes.lostAcknowledged.slice(0, 50).join(', ')}`);
  }
  for (const o of r.writable.proven)
    console.log(
      `  TWO WRITABLE: ${o.nodes.join(' + ')} from ${sec(o.fromMs)} to ${sec(o.toMs)} after the fault`,
    );
  if (r.writable.oldPrimaryAfterRevert > 0)
    console.log(
      `  the old primary answered writable ${r.writable.oldPrimaryAfterRevert} time(s) after the revert`,
    );
  const decisions = r.timeline.filter((e) => DECISIONS.test(e.type));
  const others = r.timeline.length - decisions.length;
  if (decisions.length > 0 || others > 0) {
    console.log(`  timeline (after the fault; ${others} other event(s) in --json):`);
    for (const e of decisions) console.log(`    ${sec(e.atMs).padStart(9)}  ${e.type}: ${e.message}`);
  }
}

function printReport(report: DrillReport): void {
  console.log(
    `drill of cluster ${report.cluster} (${report.type}) on lab ${report.lab}: ${report.runs.length} x ${report.fault} of the primary's host, ${report.rate} writes/s`,
  );
  printTable(report.runs.map(runRow));
  for (const r of report.runs) printRun(r);
  const s = report.summary;
  const d = s.rtoMs;
  console.log('');
  console.log(
    d.count === 0
      ? 'RTO: not measured in any run'
      : `RTO over ${d.count} run(s): p50 ${sec(d.p50)}, p90 ${sec(d.p90)}, min ${sec(d.min)}, max ${sec(d.max)}`,
  );
  console.log(
    `acknowledged writes lost: ${s.lostAcknowledged}${s.lossUnmeasured > 0 ? ` (${s.lossUnmeasured} run(s) not measured)` : ''}; most writable nodes at once: ${s.maxWritable}`,
  );
  for (const f of s.failures) console.log(`run ${f.run} did not recover (${f.stage}): ${f.reason}`);
  if (report.skipped > 0) console.log(`${report.skipped} repeat(s) skipped after a run that did not recover`);
}

async function failover(
  client: ApiClient,
  cluster: string,
  body: Record<string, unknown>,
  json: boolean,
): Promise<number> {
  const path = `/clusters/${encodeURIComponent(cluster)}/drill`;
  const { job } = await client.request<{ job: JobView }>('POST', path, body);
  if (!json) console.log(`job ${job.id} ${job.type} queued on cluster ${cluster}`);
  const final = await followJob(client, job.id, { quiet: json, logs: !json });
  const { report } = await client.get<{ report: DrillReport | null }>(`${path}/${job.id}`);
  if (json) printJson({ job: final, report });
  else {
    if (report) printReport(report);
    console.log(`\njob ${final.id} ${final.type} ${final.state}`);
    if (final.error)
      console.log(`error ${final.error.code}: ${final.error.message}\nhint: ${final.error.hint}`);
  }
  if (final.state !== 'succeeded') return exitCodeFor(final);
  return report && report.summary.failures.length === 0 && report.skipped === 0 ? EXIT.OK : EXIT.FAILURE;
}

export const group: CommandGroup = apiGroup({
  summary: 'failover drill on a lab cluster: RTO, lost writes, writable nodes',
  help,
  options: {
    fault: { type: 'string' },
    repeat: { type: 'string' },
    rate: { type: 'string' },
    timeout: { type: 'string' },
  },
  run: async ({ values, positionals, client, json }) => {
    const [sub, cluster, extra] = positionals;
    if (sub !== 'failover') throw new UsageError(`unknown subcommand 'drill ${sub ?? ''}' (failover)`);
    if (!cluster || extra !== undefined)
      throw new UsageError('usage: nines drill failover CLUSTER --fault FAULT');
    const fault = values.fault;
    if (fault === undefined || !(DRILL_FAULTS as readonly string[]).includes(fault))
      throw new UsageError(`--fault: expected one of ${DRILL_FAULTS.join(', ')}, got '${fault ?? ''}'`);
    const repeat = intOption('repeat', values.repeat, 1, 100);
    const rate = intOption('rate', values.rate, 1, 200);
    const timeout = intOption('timeout', values.timeout, 1, 1800);
    return failover(
      client,
      cluster,
      {
        fault,
        ...(repeat !== undefined ? { repeat } : {}),
        ...(rate !== undefined ? { rate } : {}),
        ...(timeout !== undefined ? { timeoutMs: timeout * 1000 } : {}),
      },
      json,
    );
  },
});
