// Job types for tests only, registered when the controller runs with NINES_TEST_JOBS=1 (config testJobs).
//   test.sleep       writing, resumable: `steps` steps of `ms` each; `fail` = true (after all steps) or a step number
//   test.sleep-once  the same, not resumable (a restart fails it with NINES_E_JOB_INTERRUPTED)
//   test.read        the same, reading (runs concurrently with anything)
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { NinesError } from '../../core/errors.ts';
import type { JobType } from './types.ts';

const SleepParams = z.strictObject({
  ms: z.number().int().min(0).max(600_000).default(100),
  steps: z.number().int().min(1).max(100).default(1),
  fail: z.union([z.boolean(), z.number().int().min(1)]).optional(),
});
type SleepParams = z.infer<typeof SleepParams>;

function sleepJob(type: string, writes: boolean, resumable: boolean): JobType<SleepParams> {
  return {
    type,
    writes,
    resumable,
    submittable: true,
    params: SleepParams,
    async run(ctx) {
      const { ms, steps, fail } = ctx.params;
      for (let i = 1; i <= steps; i++) {
        await ctx.step(`sleep-${i}`, async () => {
          ctx.log(`step ${i}/${steps}: sleeping ${ms} ms`);
          await sleep(ms, undefined, { signal: ctx.signal });
          if (fail === i)
            throw new NinesError('NINES_E_COMMAND_FAILED', `test failure requested in step ${i}`);
          return { step: i, pid: process.pid };
        });
        ctx.progress((i * 100) / steps);
      }
      if (fail === true)
        throw new NinesError('NINES_E_COMMAND_FAILED', 'test failure requested after the last step');
    },
  };
}

export const TEST_JOB_TYPES: readonly JobType<SleepParams>[] = [
  sleepJob('test.sleep', true, true),
  sleepJob('test.sleep-once', true, false),
  sleepJob('test.read', false, true),
];
