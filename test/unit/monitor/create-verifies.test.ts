// `cluster create` of a cluster stored healthy does not trust the stored state: when the monitor has seen the
// cluster failed since, the same spec deploys it again (the stored state is marked failed with the reason);
// while the monitor sees it healthy, it stays NINES_E_CLUSTER_EXISTS.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isNinesError } from '../../../src/core/errors.ts';
import { openMonitorHarness, waitFor } from './service-helpers.ts';

test('cluster create of a stored-healthy cluster the monitor sees failed deploys it again', async () => {
  const h = openMonitorHarness();
  try {
    const spec = h.addCluster('prod');
    await waitFor('healthy', () => h.controller.monitor.status('prod').state === 'healthy');
    await assert.rejects(h.controller.createCluster(spec), (e) => isNinesError(e, 'NINES_E_CLUSTER_EXISTS'));

    h.answer = () => ({
      reachable: false,
      role: 'unknown',
      error: { code: 'NINES_E_DB_UNREACHABLE', message: 'connect ECONNREFUSED' },
    });
    await waitFor('failed', () => h.controller.monitor.status('prod').state === 'failed');
    assert.equal(h.controller.store.inventory.getCluster('prod')?.state, 'healthy', 'stored state unchanged');
    const res = await h.controller.createCluster(spec);
    assert.equal(res.retry, true);
    assert.equal(res.job.type, 'cluster.create');
    const error = h.controller.store.inventory.getCluster('prod')?.observed.error as {
      code?: string;
      message?: string;
    };
    assert.equal(error.code, 'NINES_E_CLUSTER_UNHEALTHY');
    assert.match(error.message ?? '', /prod: failed \(/);
    // The deploy then runs for real (and fails here: the harness's key is no key); wait for it to end.
    await waitFor(
      'the deploy to end',
      () => {
        const j = h.controller.store.jobs.get(res.job.id);
        return j && !['queued', 'running'].includes(j.state) ? j : undefined;
      },
      20_000,
    );
  } finally {
    await h.close();
  }
});
