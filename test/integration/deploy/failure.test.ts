// A deploy that loses a host mid-way fails with a clear error and leaves the cluster `failed`; after the host
// restarts, running `nines cluster create` again with the same spec finishes it. Then the endpoint's virtual IP:
// two proxies with Keepalived, the VIP holder crashes, the VIP answers from the other proxy within seconds.
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createTestLab, labFault, tcpProbe, type TestLab } from '../../../src/lab/index.ts';
import type { ClusterSpec } from '../../../src/core/spec.ts';
import {
  LOGS,
  address,
  appQuery,
  createAppUser,
  fullSpec,
  labSpec,
  registerLabKey,
  ms,
  poll,
  startTestController,
  storedTopology,
  writeSpecFile,
  type TestController,
} from './helpers.ts';

const NAME = 'dep-fail';
const CONTROL_STEPS = new Set(['validate', 'store in the inventory', 'connectivity', 'controller address']);

describe('failed deploy, retry, and the virtual IP', { timeout: ms(600_000) }, () => {
  let lab: TestLab;
  let t: TestController;
  let raw: Record<string, unknown>;
  let spec: ClusterSpec;
  let specFile: string;
  let vip: string;
  let failed = false;

  before(async () => {
    lab = await createTestLab(5);
    t = await startTestController();
    await registerLabKey(t, lab.inventory);
    vip = lab.inventory.controllerAddress.replace(/\.\d+$/, '.100');
    raw = labSpec(lab.inventory, {
      name: NAME,
      type: 'mariadb-replication',
      nodes: ['h1', 'h2', 'h3'],
      proxies: ['h4', 'h5'],
      virtualIp: vip,
    });
    spec = fullSpec(raw);
    specFile = writeSpecFile(t, raw);
  });
  afterEach((ctx) => {
    if ((ctx as unknown as { passed?: boolean }).passed === false) failed = true;
  });
  after(async () => {
    await t?.close();
    await lab?.dispose(failed ? { keepLogsIn: LOGS } : {});
  });

  test('a host crashing during the deploy fails the job clearly; re-running create finishes it', async () => {
    const h2 = address(lab.inventory, 'h2');
    const { job } = await t.api<{ job: { id: number } }>('POST', '/clusters', raw);
    await poll('an engine step', 60_000, () => {
      const j = t.controller.store.jobs.mustGet(job.id);
      if (j.state !== 'running' && j.state !== 'queued')
        throw new Error(`job ended ${j.state} before the crash`);
      return Promise.resolve(j.currentStep && !CONTROL_STEPS.has(j.currentStep) ? j.currentStep : undefined);
    });
    await labFault(lab.inventory.name, 'h2', 'crash');
    const done = await t.waitJob(job.id);
    assert.equal(done.state, 'failed', t.jobLog(job.id));
    assert.ok(done.error, 'the job carries its error');
    assert.match(done.error.code, /^NINES_E_/);
    assert.ok(done.error.message.includes(h2), `the error names the lost host: ${done.error.message}`);
    assert.ok(done.error.hint.length > 10);
    const cluster = t.controller.store.inventory.getCluster(NAME);
    assert.equal(cluster?.state, 'failed');
    assert.equal((cluster.observed.error as { code?: string } | undefined)?.code, done.error.code);
    const list = await t.cli(['cluster', 'list']);
    assert.match(list.stdout, new RegExp(`${NAME}\\s+mariadb-replication\\s+\\S+\\s+failed`));
    const show = await t.cli(['cluster', 'show', NAME]);
    assert.match(show.stdout, /last deploy failed: NINES_E_/);

    await labFault(lab.inventory.name, 'h2', 'restart');
    const retry = await t.cli(['cluster', 'create', '-f', specFile, '--wait']);
    assert.equal(retry.code, 0, `${retry.stdout}\n${retry.stderr}`);
    assert.match(retry.stderr, /deploying it again/);
    assert.equal(t.controller.store.inventory.getCluster(NAME)?.state, 'healthy');
    const again = await t.cli(['cluster', 'create', '-f', specFile]);
    assert.equal(again.code, 1, 'a healthy cluster is not deployed over');
    assert.match(again.stderr, /NINES_E_CLUSTER_EXISTS/);
  });

  test('the VIP answers from the other proxy within seconds after its holder crashes', async () => {
    const ep = spec.endpoint;
    assert.ok(ep);
    await createAppUser(lab.inventory, spec, storedTopology(t, spec));
    const rows = await appQuery(spec.type, vip, ep.writePort, 'SELECT 1 AS ok');
    assert.equal(Number(rows[0]?.ok), 1);
    const holder = (
      t.controller.store.inventory.getCluster(NAME)?.observed.endpoint as { vipHolder?: string }
    )?.vipHolder;
    const holderName = lab.inventory.hosts.find((h) => h.address === holder)?.name;
    assert.ok(holderName, `the VIP holder is recorded (${String(holder)})`);
    const crashed = Date.now();
    await labFault(lab.inventory.name, holderName, 'crash');
    await poll('the VIP from the other proxy', 15_000, async () =>
      (await tcpProbe(vip, ep.writePort, 300)) === 'open' ? true : undefined,
    );
    const back = await poll('SQL through the VIP', 15_000, async () => {
      const r = await appQuery(spec.type, vip, ep.writePort, 'SELECT @@report_host AS who');
      return r[0]?.who as string | undefined;
    });
    const seconds = (Date.now() - crashed) / 1000;
    console.error(
      `# VIP answered SQL again ${seconds.toFixed(1)} s after ${holderName} crashed (writer ${back})`,
    );
    assert.ok(seconds < 10 * Number(process.env.NINES_TIMEOUT_SCALE ?? 1), `VIP back in ${seconds} s`);
    assert.equal(back, spec.nodes[0]?.host);
  });
});
