// A real controller process killed with SIGKILL in the middle of jobs, then restarted on the same SQLite file:
// the resumable job resumes without re-running completed steps; the other fails with a reason. Never `running`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { api, poll, startController, tempDir, SCALE } from './helpers.ts';

interface Job {
  id: number;
  state: string;
  attempts: number;
  error: { code: string; message: string } | null;
}
interface Step {
  name: string;
  state: string;
  attempt: number;
}

test(
  'SIGKILL during jobs, restart: resumed (completed steps skipped) or failed with a reason',
  { timeout: 60_000 * SCALE },
  async () => {
    const dataDir = join(tempDir(), 'data');
    const first = await startController(dataDir);
    let second: Awaited<ReturnType<typeof startController>> | undefined;
    try {
      const { job: resumable } = await api<{ job: Job }>(first, 'POST', '/jobs', {
        type: 'test.sleep',
        cluster: 'k1',
        params: { ms: 400, steps: 4 },
      });
      const { job: once } = await api<{ job: Job }>(first, 'POST', '/jobs', {
        type: 'test.sleep-once',
        cluster: 'k2',
        params: { ms: 400, steps: 4 },
      });
      await poll('first step of both jobs done', async () => {
        const a = await api<{ steps: Step[] }>(first, 'GET', `/jobs/${resumable.id}`);
        const b = await api<{ steps: Step[] }>(first, 'GET', `/jobs/${once.id}`);
        const done = (s: Step[]): boolean => s.some((x) => x.name === 'sleep-1' && x.state === 'succeeded');
        return done(a.steps) && done(b.steps) ? true : undefined;
      });
      await first.kill();
      assert.ok(existsSync(join(dataDir, 'controller.pid')), 'the killed process left its pid file');

      second = await startController(dataDir);
      const failed = (await api<{ job: Job; steps: Step[] }>(second, 'GET', `/jobs/${once.id}`)).job;
      assert.equal(failed.state, 'failed', 'the non-resumable job is failed at start, not left running');
      assert.equal(failed.error?.code, 'NINES_E_JOB_INTERRUPTED');
      assert.match(failed.error?.message ?? '', /controller stopped while step 'sleep-\d' ran/);

      const done = await poll('resumed job succeeds', async () => {
        const r = await api<{ job: Job; steps: Step[] }>(second!, 'GET', `/jobs/${resumable.id}`);
        assert.notEqual(r.job.state, 'failed', JSON.stringify(r.job.error));
        return r.job.state === 'succeeded' ? r : undefined;
      });
      assert.equal(done.job.attempts, 2);
      const succeeded = done.steps
        .filter((s) => s.state === 'succeeded')
        .map((s) => `${s.name}@${s.attempt}`);
      assert.equal(succeeded.length, 4, `each step succeeded once: ${succeeded.join(', ')}`);
      assert.ok(succeeded.includes('sleep-1@1'), 'sleep-1 ran in the first process and was not re-run');
      assert.ok(
        done.steps.some((s) => s.state === 'interrupted'),
        'the step running at the kill is recorded as interrupted',
      );
      const logs = await api<{ lines: { line: string }[] }>(second, 'GET', `/jobs/${resumable.id}/logs`);
      assert.ok(logs.lines.some((l) => l.line.includes('sleep-1: already done before the restart, skipped')));

      const running = await api<{ jobs: Job[] }>(second, 'GET', '/jobs?state=running');
      assert.deepEqual(running.jobs, []);
      const events = await api<{ events: { type: string }[] }>(second, 'GET', '/events?type=job.&limit=1000');
      assert.ok(events.events.some((e) => e.type === 'job.resumed'));

      assert.equal(await second.stop(), 0, 'SIGTERM exits cleanly');
      second = undefined;
      assert.ok(!existsSync(join(dataDir, 'controller.pid')), 'a clean stop removes the pid file');
    } finally {
      if (!first.proc.killed) await first.kill();
      if (second) await second.kill();
    }
  },
);

test(
  'SIGTERM during a resumable job: it stops at a checkpoint and resumes on the next start',
  { timeout: 60_000 * SCALE },
  async () => {
    const dataDir = join(tempDir(), 'data');
    const first = await startController(dataDir);
    const { job } = await api<{ job: Job }>(first, 'POST', '/jobs', {
      type: 'test.sleep',
      params: { ms: 300, steps: 3 },
    });
    await poll('job running', async () =>
      (await api<{ job: Job }>(first, 'GET', `/jobs/${job.id}`)).job.state === 'running' ? true : undefined,
    );
    assert.equal(await first.stop(), 0);
    const second = await startController(dataDir);
    try {
      const done = await poll('job succeeds after restart', async () => {
        const r = await api<{ job: Job; steps: Step[] }>(second, 'GET', `/jobs/${job.id}`);
        return r.job.state === 'succeeded' ? r : undefined;
      });
      assert.equal(done.steps.filter((s) => s.state === 'succeeded').length, 3);
    } finally {
      await second.stop();
    }
  },
);
