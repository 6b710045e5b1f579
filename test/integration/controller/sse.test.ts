// Server-Sent Events over a real socket: job events arrive live and in order; a client resuming with
// Last-Event-ID gets every event it missed, without gaps or repeats.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startDaemon } from '../../../src/api/daemon.ts';
import { openStreams } from '../../../src/api/sse.ts';
import { ApiClient } from '../../../src/cli/client.ts';
import { TEST_JOB_TYPES } from '../../support/test-jobs.ts';
import { poll } from '../../support/poll.ts';
import { tempDir, SCALE } from './helpers.ts';

interface Ev {
  id: number;
  type: string;
  data: { jobId?: number; step?: string; state?: string };
}

async function collect(
  client: ApiClient,
  path: string,
  until: (e: Ev, all: Ev[]) => boolean,
  options: { lastEventId?: string } = {},
): Promise<{ events: Ev[]; ids: string[] }> {
  const abort = new AbortController();
  const events: Ev[] = [];
  const ids: string[] = [];
  const timer = setTimeout(() => abort.abort(), 10_000 * SCALE);
  try {
    for await (const frame of client.stream(path, { ...options, signal: abort.signal })) {
      const e = frame.data as Ev;
      events.push(e);
      ids.push(frame.id ?? '');
      if (until(e, events)) break;
    }
  } finally {
    clearTimeout(timer);
    abort.abort();
  }
  return { events, ids };
}

/** Waits until the controller serves exactly n SSE streams (a subscription is in place, or a closed one gone). */
function streamsOpen(n: number): Promise<true> {
  return poll(
    `${n} SSE streams open`,
    5000 * SCALE,
    () => Promise.resolve(openStreams.size === n || undefined),
    10,
  );
}

test(
  'SSE: live job events in order, then resume with Last-Event-ID without gaps',
  { timeout: 60_000 * SCALE },
  async () => {
    const daemon = await startDaemon({
      env: { NINES_LOG_LEVEL: 'warn', NINES_SSE_HEARTBEAT_MS: '200' },
      controller: { jobTypes: TEST_JOB_TYPES },
      overrides: { dataDir: join(tempDir(), 'data'), listen: '127.0.0.1:0' },
      handleSignals: false,
    });
    try {
      const token = daemon.controller.store.tokens.create('sse', 'viewer').token;
      const client = new ApiClient({ url: daemon.url, token });
      const jobs = daemon.controller.jobs;

      // 1. Live: subscribe, then run a job; every event arrives, in id order, ending with job.succeeded.
      const live = collect(client, '/events/stream', (e) => e.type === 'job.succeeded');
      await streamsOpen(1);
      const job = jobs.submit({ type: 'test.sleep', cluster: 's', params: { ms: 30, steps: 2 } });
      const { events, ids } = await live;
      assert.deepEqual(
        events.map((e) => (e.type === 'job.step' ? `step ${e.data.step} ${e.data.state}` : e.type)),
        [
          'job.queued',
          'job.started',
          'step sleep-1 running',
          'step sleep-1 succeeded',
          'step sleep-2 running',
          'step sleep-2 succeeded',
          'job.succeeded',
        ],
      );
      assert.ok(events.every((e) => e.data.jobId === job.id));
      assert.deepEqual(
        ids,
        events.map((e) => String(e.id)),
        'SSE ids are the event ids',
      );
      assert.ok(
        events.every((e, i) => i === 0 || e.id > (events[i - 1]?.id ?? 0)),
        'ids increase',
      );

      // 2. Resume: read part of a second job's events, disconnect, let it finish, reconnect with Last-Event-ID.
      await streamsOpen(0); // the first stream is closed
      const firstPart = collect(client, '/events/stream?cluster=r', (_e, all) => all.length === 3);
      await streamsOpen(1);
      const job2 = jobs.submit({ type: 'test.sleep', cluster: 'r', params: { ms: 100, steps: 3 } });
      const part = await firstPart;
      const last = part.events.at(-1)!.id;
      const end = await new Promise<number>((resolve) => {
        const off = daemon.controller.events.subscribe((e) => {
          if (e.type === 'job.succeeded' && e.data.jobId === job2.id) {
            off();
            resolve(e.id);
          }
        });
      });
      const rest = await collect(client, '/events/stream?cluster=r', (e) => e.id === end, {
        lastEventId: String(last),
      });
      const expected = daemon.controller.events
        .list({ cluster: 'r', since: last, limit: 1000 })
        .map((e) => e.id);
      assert.deepEqual(
        rest.events.map((e) => e.id),
        expected,
        'exactly the missed events, in order',
      );
      assert.deepEqual(
        [...part.events, ...rest.events].map((e) => e.id),
        daemon.controller.events.list({ cluster: 'r' }).map((e) => e.id),
      );

      // 3. Job log follow: lines then an end event carrying the final state.
      const job3 = jobs.submit({ type: 'test.sleep', params: { ms: 50, steps: 2 } });
      const frames: { event: string; data: unknown }[] = [];
      for await (const f of client.stream(`/jobs/${job3.id}/logs?follow=1`)) frames.push(f);
      const logLines = frames.filter((f) => f.event === 'log').map((f) => (f.data as { line: string }).line);
      assert.deepEqual(logLines, ['step 1/2: sleeping 50 ms', 'step 2/2: sleeping 50 ms']);
      const endFrame = frames.at(-1);
      assert.equal(endFrame?.event, 'end');
      assert.equal((endFrame?.data as { state: string }).state, 'succeeded');

      // 4. A stream without a token is refused with the usual error.
      await assert.rejects(
        (async () => {
          for await (const _ of new ApiClient({ url: daemon.url, token: 'bad' }).stream('/events/stream'))
            break;
        })(),
        (e: Error & { code?: string }) => e.code === 'NINES_E_AUTH_INVALID',
      );
    } finally {
      await daemon.stop();
    }
  },
);
