import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NinesError, isNinesError } from '../../../src/core/errors.ts';
import { openTemp, specFor, waitFor, waitForState } from './helpers.ts';

test('a second writing job on the same cluster waits (FIFO); other clusters and reads run concurrently', async () => {
  const t = openTemp();
  try {
    const jobs = t.controller.jobs;
    const a1 = jobs.submit({ type: 'test.sleep', cluster: 'a', params: { ms: 200 } });
    const a2 = jobs.submit({ type: 'test.sleep', cluster: 'a', params: { ms: 10 } });
    const a3 = jobs.submit({ type: 'test.sleep', cluster: 'a', params: { ms: 10 } });
    const b1 = jobs.submit({ type: 'test.sleep', cluster: 'b', params: { ms: 200 } });
    const r1 = jobs.submit({ type: 'test.read', cluster: 'a', params: { ms: 200 } });
    const r2 = jobs.submit({ type: 'test.read', cluster: 'a', params: { ms: 200 } });
    await waitForState(t.controller, a1.id, 'running');
    await waitForState(t.controller, b1.id, 'running');
    await waitForState(t.controller, r1.id, 'running');
    await waitForState(t.controller, r2.id, 'running');
    assert.equal(t.controller.store.jobs.get(a2.id)?.state, 'queued');
    assert.equal(t.controller.store.jobs.get(a3.id)?.state, 'queued');
    await waitForState(t.controller, a3.id, 'succeeded');
    const [j1, j2, j3] = [a1, a2, a3].map((j) => t.controller.store.jobs.mustGet(j.id));
    assert.ok(j1 && j2 && j3);
    assert.ok((j1.finishedAt ?? '') <= (j2.startedAt ?? ''), 'a2 started after a1 finished');
    assert.ok((j2.finishedAt ?? '') <= (j3.startedAt ?? ''), 'a3 started after a2 finished (FIFO)');
  } finally {
    await t.close();
  }
});

test('cancel: a queued job at once, a running job at its next await', async () => {
  const t = openTemp();
  try {
    const jobs = t.controller.jobs;
    const running = jobs.submit({ type: 'test.sleep', cluster: 'c', params: { ms: 10_000 } });
    const queued = jobs.submit({ type: 'test.sleep', cluster: 'c', params: { ms: 10 } });
    await waitForState(t.controller, running.id, 'running');
    assert.equal(jobs.cancel(queued.id).state, 'cancelled');
    const started = Date.now();
    jobs.cancel(running.id);
    const done = await waitForState(t.controller, running.id, 'cancelled');
    assert.ok(Date.now() - started < 1000, 'the sleeping step stopped at once');
    assert.equal(done.error?.code, 'NINES_E_JOB_CANCELLED');
    const steps = t.controller.store.jobs.steps(running.id);
    assert.equal(steps[0]?.state, 'cancelled');
    assert.throws(
      () => jobs.cancel(running.id),
      (e) => isNinesError(e, 'NINES_E_JOB_NOT_CANCELLABLE'),
    );
    assert.throws(
      () => jobs.cancel(9999),
      (e) => isNinesError(e, 'NINES_E_JOB_NOT_FOUND'),
    );
    const types = t.controller.store.events.list({ cluster: 'c', limit: 100 }).map((e) => e.type);
    assert.ok(types.includes('job.cancelled'));
  } finally {
    await t.close();
  }
});

test('a failing job records the error code, the failed step and a log line', async () => {
  const t = openTemp();
  try {
    const job = t.controller.jobs.submit({ type: 'test.sleep', params: { ms: 1, steps: 3, fail: 2 } });
    const done = await waitForState(t.controller, job.id, 'failed');
    assert.equal(done.error?.code, 'NINES_E_COMMAND_FAILED');
    assert.deepEqual(
      t.controller.store.jobs.steps(job.id).map((s) => [s.name, s.state]),
      [
        ['sleep-1', 'succeeded'],
        ['sleep-2', 'failed'],
      ],
    );
    const logs = t.controller.store.jobs.logs(job.id).map((l) => l.line);
    assert.ok(logs.at(-1)?.startsWith('failed: NINES_E_COMMAND_FAILED'));
  } finally {
    await t.close();
  }
});

test('params are validated at submission; unknown types are refused', () => {
  const t = openTemp({ start: false });
  try {
    assert.throws(
      () => t.controller.jobs.submit({ type: 'test.sleep', params: { ms: 'x' } }),
      (e: NinesError) =>
        e.code === 'NINES_E_INVALID_ARGUMENT' && e.message.includes("params.ms: expected a number, got 'x'"),
    );
    assert.throws(
      () => t.controller.jobs.submit({ type: 'nope' }),
      (e) => isNinesError(e, 'NINES_E_JOB_TYPE_UNKNOWN'),
    );
    assert.equal(t.controller.store.db.counts().jobs, 0);
  } finally {
    void t.close();
  }
});

test('graceful stop: a resumable job stops at a checkpoint and resumes after restart without re-running steps', async () => {
  const first = openTemp();
  const dir = first.dir;
  const job = first.controller.jobs.submit({
    type: 'test.sleep',
    cluster: 'x',
    params: { ms: 150, steps: 3 },
  });
  await waitFor('step 1 done', () => first.controller.store.jobs.completedStep(job.id, 'sleep-1'));
  await first.controller.close(5000);
  const second = openTemp({ dir });
  try {
    const paused = second.controller.store.jobs.mustGet(job.id);
    assert.ok(['queued', 'running'].includes(paused.state), `resumable job requeued, got ${paused.state}`);
    const done = await waitForState(second.controller, job.id, 'succeeded');
    assert.equal(done.attempts, 2);
    const steps = second.controller.store.jobs.steps(job.id).filter((s) => s.state === 'succeeded');
    assert.deepEqual(
      steps.map((s) => s.name),
      ['sleep-1', 'sleep-2', 'sleep-3'],
      'each step succeeded exactly once',
    );
  } finally {
    await second.close();
  }
});

test('cluster.create stores the cluster, probes every host and activates it', async () => {
  const probed: string[] = [];
  const t = openTemp({
    probeHost: (target) => {
      probed.push(`${target.host}:${target.port}`);
      return Promise.resolve({ detail: 'ok' });
    },
  });
  try {
    const spec = specFor('alpha', t.key, { endpoint: { proxies: ['10.0.0.50'] } });
    const { job, generated } = await t.controller.createCluster(spec);
    assert.deepEqual(generated, ['admin', 'replication', 'monitor']);
    await waitForState(t.controller, job.id, 'succeeded');
    assert.deepEqual(probed.sort(), ['10.0.0.50:22', '127.0.0.1:22']);
    const cluster = t.controller.store.inventory.getCluster('alpha');
    assert.equal(cluster?.state, 'healthy');
    assert.equal(cluster.spec.credentials.admin, '***');
    assert.equal(t.controller.store.inventory.listNodes('alpha').length, 2);
    assert.equal(Object.keys(t.controller.store.inventory.credentials('alpha')).length, 3);
    assert.ok(t.controller.store.events.list({ type: 'cluster.created' }).length === 1);
    await assert.rejects(t.controller.createCluster(spec), (e) => isNinesError(e, 'NINES_E_CLUSTER_EXISTS'));

    const del = t.controller.deleteCluster('alpha', 'alpha');
    await waitForState(t.controller, del.id, 'succeeded');
    assert.equal(t.controller.store.inventory.hasCluster('alpha'), false);
    assert.deepEqual(t.controller.store.inventory.credentials('alpha'), {});
  } finally {
    await t.close();
  }
});

test('cluster.create fails with the unreachable hosts named, and marks the cluster failed', async () => {
  const t = openTemp({
    probeHost: (target) =>
      Promise.reject(new NinesError('NINES_E_HOST_UNREACHABLE', `${target.host}: refused`)),
  });
  try {
    const { job } = await t.controller.createCluster(specFor('beta', t.key));
    const done = await waitForState(t.controller, job.id, 'failed');
    assert.equal(done.error?.code, 'NINES_E_HOST_UNREACHABLE');
    assert.match(done.error?.message ?? '', /127\.0\.0\.1/);
    assert.equal(t.controller.store.inventory.getCluster('beta')?.state, 'failed');
  } finally {
    await t.close();
  }
});

test('deleting needs the name repeated as confirmation', async () => {
  const t = openTemp();
  try {
    const { job } = await t.controller.createCluster(specFor('gamma', t.key));
    await waitForState(t.controller, job.id, 'succeeded');
    assert.throws(
      () => t.controller.deleteCluster('gamma', undefined),
      (e) => isNinesError(e, 'NINES_E_CONFIRMATION_REQUIRED'),
    );
    assert.throws(
      () => t.controller.deleteCluster('nope', 'nope'),
      (e) => isNinesError(e, 'NINES_E_CLUSTER_NOT_FOUND'),
    );
  } finally {
    await t.close();
  }
});
