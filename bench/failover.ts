// Failover drill distribution: RTO, acknowledged writes lost and writable nodes at once, per cluster type and
// fault, from the drill.failover job (what `nines drill failover CLUSTER --fault F --repeat N` runs) of an
// in-process controller, on a fresh lab per (type, fault): 3 database nodes + 2 proxies with a virtual IP,
// mariadb-replication with semi-sync, postgres-streaming with synchronous replication; the failover cooldown is 0
// so the repeats fail over back to back.
//   npm run bench -- failover [--repeat 10] [--faults crash,poweroff,freeze] [--types mariadb-replication,postgres-streaming] [--rate 20] [--timeout 120] [--timeline]
// --timeline prints each run's cluster events (ms after the fault): where the seconds of a failover go.
// Needs root (lab hosts). Goals: crash p50 <= 3 s and max <= 6 s; poweroff p50 <= 5 s; freeze: a new primary
// within 8 s and the frozen node never writable after it thaws; acknowledged writes lost 0; writable nodes at
// once <= 1. Every failed run is printed with its stage and why. Ctrl-C cancels the drill (the fault is
// reverted) and cleans up.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/controller/config.ts';
import { Controller } from '../src/controller/controller.ts';
import { DRILL_FAULTS, type DrillFault, type DrillReport } from '../src/controller/drill/index.ts';
import type { ClusterType } from '../src/core/spec.ts';
import { createTestLab, type LabInventory } from '../src/lab/index.ts';

const { values } = parseArgs({
  options: {
    repeat: { type: 'string', default: '10' },
    faults: { type: 'string', default: 'crash,poweroff,freeze' },
    types: { type: 'string', default: 'mariadb-replication,postgres-streaming' },
    rate: { type: 'string', default: '20' },
    timeout: { type: 'string', default: '120' },
    timeline: { type: 'boolean', default: false },
  },
});
const repeat = Number(values.repeat);
const rate = Number(values.rate);
const timeoutMs = Number(values.timeout) * 1000;
const faults = values.faults.split(',') as DrillFault[];
const types = values.types.split(',') as ClusterType[];
for (const f of faults)
  if (!DRILL_FAULTS.includes(f)) throw new Error(`unknown fault ${f} (${DRILL_FAULTS.join(', ')})`);

const OPTIONS: Partial<Record<ClusterType, Record<string, unknown>>> = {
  'mariadb-replication': { semiSync: true },
  'postgres-streaming': { synchronous: true },
};
for (const t of types)
  if (!OPTIONS[t]) throw new Error(`unsupported type ${t} (${Object.keys(OPTIONS).join(', ')})`);

const sec = (ms: number | null | undefined): string => (ms == null ? '-' : `${(ms / 1000).toFixed(2)} s`);

let stopping: (() => void) | undefined;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    console.log(`\n${signal}: cancelling the drill (its fault is reverted) and cleaning up`);
    stopping?.();
  });
}

function clusterSpec(type: ClusterType, inv: LabInventory): Record<string, unknown> {
  const a = (i: number): string => inv.hosts[i]?.address ?? '';
  return {
    name: 'bench',
    type,
    nodes: [0, 1, 2].map((i) => ({ host: a(i), ...(i === 0 ? { role: 'primary' } : {}) })),
    ssh: { key: 'lab' },
    options: OPTIONS[type],
    endpoint: { proxies: [a(3), a(4)], virtualIp: inv.controllerAddress.replace(/\.\d+$/, '.100') },
  };
}

async function waitJob(controller: Controller, id: number): Promise<string> {
  for (;;) {
    const j = controller.store.jobs.mustGet(id);
    if (['succeeded', 'failed', 'cancelled'].includes(j.state)) {
      return j.state === 'succeeded'
        ? j.state
        : `${j.state}: ${j.error?.code ?? ''} ${j.error?.message ?? ''}`;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

interface Outcome {
  readonly type: ClusterType;
  readonly fault: DrillFault;
  readonly report: DrillReport | null;
  readonly error?: string;
}

/** One (type, fault): a fresh lab and controller, the cluster deployed, the drill run, everything removed. */
async function once(type: ClusterType, fault: DrillFault): Promise<Outcome> {
  const lab = await createTestLab(5);
  const dir = mkdtempSync(join(tmpdir(), 'nines-bench-failover-'));
  // Cooldown 0: the repeats fail over back to back (the default 5 min would refuse the second one).
  const config = loadConfig({
    env: { NINES_LOG_LEVEL: 'warn', NINES_RECOVERY_COOLDOWN_MS: '0' },
    overrides: { dataDir: dir },
  });
  const controller = Controller.open({ config });
  controller.keys.add('lab', readFileSync(lab.inventory.privateKeyPath, 'utf8'));
  controller.start();
  let job: number | undefined;
  stopping = () => {
    if (job !== undefined) controller.jobs.cancel(job);
  };
  try {
    const started = Date.now();
    const create = await controller.createCluster(clusterSpec(type, lab.inventory));
    const deployed = await waitJob(controller, create.job.id);
    if (deployed !== 'succeeded') return { type, fault, report: null, error: `deploy ${deployed}` };
    console.log(`  ${type} deployed on lab ${lab.inventory.name} in ${sec(Date.now() - started)}`);
    const drill = controller.drill('bench', { fault, repeat, rate, timeoutMs });
    job = drill.id;
    // The stage lines as they happen; each run's outcome is printed with the report.
    const unwatch = controller.jobs.watch(drill.id, (u) => {
      if (
        u.kind === 'log' &&
        /^run \d+: (baseline|fault|failover|writes|revert|rejoin|verify)\b/.test(u.line.line)
      )
        console.log(`    ${u.line.line}`);
    });
    const state = await waitJob(controller, drill.id);
    unwatch();
    const { report } = controller.drillReport('bench', drill.id);
    return { type, fault, report, ...(state === 'succeeded' ? {} : { error: `drill job ${state}` }) };
  } finally {
    stopping = undefined;
    await controller.close(5000);
    rmSync(dir, { recursive: true, force: true });
    await lab.dispose();
  }
}

/** The goals of the issue for one (type, fault), each as [what, met]. */
function goals(o: Outcome): Array<[string, boolean]> {
  const r = o.report;
  if (!r) return [['the drill ran', false]];
  const s = r.summary;
  const out: Array<[string, boolean]> = [
    [
      `every run recovered (${s.failures.length} failed, ${r.skipped} skipped)`,
      s.failures.length === 0 && r.skipped === 0,
    ],
    [
      `acknowledged writes lost 0 (${s.lostAcknowledged}, ${s.lossUnmeasured} unmeasured)`,
      s.lostAcknowledged === 0 && s.lossUnmeasured === 0,
    ],
    [`writable nodes at once <= 1 (${s.maxWritable})`, s.maxWritable <= 1],
  ];
  const d = s.rtoMs;
  if (o.fault === 'crash') {
    out.push([`RTO p50 <= 3 s (${sec(d.p50)})`, d.p50 !== null && d.p50 <= 3000]);
    out.push([`RTO max <= 6 s (${sec(d.max)})`, d.max !== null && d.max <= 6000]);
  }
  if (o.fault === 'poweroff') out.push([`RTO p50 <= 5 s (${sec(d.p50)})`, d.p50 !== null && d.p50 <= 5000]);
  if (o.fault === 'freeze') {
    const after = r.runs.map((x) => x.newPrimaryAfterMs);
    const worst = after.some((x) => x === null) ? null : Math.max(...(after as number[]));
    out.push([`a new primary within 8 s (slowest ${sec(worst)})`, worst !== null && worst <= 8000]);
    // Only measured where another node became primary (without one, the thawed node is rightly the primary).
    const measured = r.runs.filter((x) => x.newPrimary !== null && x.revertedAfterMs !== null);
    const thawed = measured.reduce((n, x) => n + x.writable.oldPrimaryAfterRevert, 0);
    out.push([
      `the frozen node never writable after it thaws (${thawed} writable answers in ${measured.length} of ${r.runs.length} run(s) measured)`,
      thawed === 0 && measured.length > 0 && measured.length === r.runs.length,
    ]);
  }
  return out;
}

function print(o: Outcome): void {
  const r = o.report;
  console.log(`\n${o.type} / ${o.fault}${o.error ? `: ${o.error}` : ''}`);
  if (!r) return;
  for (const run of r.runs) {
    console.log(
      `  run ${String(run.run).padStart(2)}  ${run.recovered ? 'recovered' : `FAILED at ${run.failedStage ?? '?'}`}  RTO ${sec(run.rtoMs).padStart(7)}  new primary after ${sec(run.newPrimaryAfterMs).padStart(7)}  rejoined after ${sec(run.rejoinedAfterMs).padStart(7)}  lost ${run.writes.lostAcknowledged?.length ?? '-'}  unacked present ${run.writes.unacknowledgedPresent ?? '-'}  max writable ${run.writable.maxWritable}`,
    );
    if (!run.recovered) console.log(`          why: ${run.reason}`);
    if (values.timeline)
      for (const e of run.timeline)
        console.log(`          ${String(e.atMs).padStart(7)} ms  ${e.type}: ${e.message.slice(0, 160)}`);
  }
  const d = r.summary.rtoMs;
  console.log(
    `  RTO over ${d.count} run(s): p50 ${sec(d.p50)}, p90 ${sec(d.p90)}, min ${sec(d.min)}, max ${sec(d.max)}`,
  );
  for (const [what, met] of goals(o)) console.log(`  goal ${met ? 'met   ' : 'MISSED'}  ${what}`);
}

console.log(
  `command: npm run bench -- failover --repeat ${repeat} --faults ${faults.join(',')} --types ${types.join(',')} --rate ${rate} --timeout ${timeoutMs / 1000}`,
);
console.log(`machine: ${process.platform}, ${cpus().length} cores, node ${process.version}`);
const outcomes: Outcome[] = [];
for (const type of types) {
  for (const fault of faults) {
    console.log(`\n${type} / ${fault}: ${repeat} run(s) ...`);
    const o = await once(type, fault).catch((err: unknown): Outcome => ({
      type,
      fault,
      report: null,
      error: String(err),
    }));
    outcomes.push(o);
    print(o);
  }
}
console.log('\nsummary (RTO = last acknowledged write before the fault -> first after it):');
for (const o of outcomes) {
  const d = o.report?.summary.rtoMs;
  const missed = goals(o).filter(([, met]) => !met).length;
  console.log(
    `  ${`${o.type} / ${o.fault}`.padEnd(32)} RTO p50 ${sec(d?.p50).padStart(7)} p90 ${sec(d?.p90).padStart(7)} max ${sec(d?.max).padStart(7)} (${d?.count ?? 0} runs, ${o.report?.summary.failures.length ?? '-'} failed); ${missed === 0 ? 'goals met' : `${missed} goal(s) MISSED`}`,
  );
}
process.exitCode = outcomes.every((o) => goals(o).every(([, met]) => met)) ? 0 : 1;
