// Job types for tests only. They live under test/ so production code cannot reach them: a test registers them
// through ControllerOptions.jobTypes (test/unit/controller/helpers.ts, test/support/test-controller.ts).
//   test.sleep       writing, resumable: `steps` steps of `ms` each; `fail` = true (after all steps) or a step number
//   test.sleep-once  the same, not resumable (a restart fails it with NINES_E_JOB_INTERRUPTED)
//   test.read        the same, reading (runs concurrently with anything)
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { NinesError } from '../../src/core/errors.ts';
import type { JobType } from '../../src/controller/jobs/types.ts';

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

const types: readonly JobType<SleepParams>[] = [
  sleepJob('test.sleep', true, true),
  sleepJob('test.sleep-once', true, false),
  sleepJob('test.read', false, true),
];
/** As ControllerOptions.jobTypes takes them (each type validates its own params). */
export const TEST_JOB_TYPES = types as unknown as readonly JobType<never>[];
