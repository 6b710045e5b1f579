// The bridge from jobs to engines keeps the cluster's credentials out of what reaches job logs, events and API
// responses: engine log lines and errors thrown by engine steps (a driver or client may echo a statement).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NinesError, isNinesError } from '../../../src/core/errors.ts';
import { validateSpec } from '../../../src/core/spec.ts';
import { engineContext } from '../../../src/controller/deploy/context.ts';
import type { DeployDeps } from '../../../src/controller/deploy/deps.ts';
import type { JobContext } from '../../../src/controller/jobs/types.ts';

const spec = validateSpec({
  name: 'shop',
  type: 'mariadb-replication',
  nodes: [{ host: '10.0.0.11' }],
  ssh: { key: 'k' },
  credentials: { admin: 'admin-Secret-1', replication: "repl'Secret-2", monitor: 'monitor-Secret-3' },
}).spec;

function fixture(): { lines: string[]; ctx: ReturnType<typeof engineContext> } {
  const lines: string[] = [];
  const job = {
    signal: new AbortController().signal,
    job: { progress: 0 },
    log: (l: string) => lines.push(l),
    progress: () => undefined,
    step: <T>(_name: string, fn: () => Promise<T>) => fn(),
  } as unknown as JobContext<unknown>;
  const deps = { hosts: () => ({ executor: () => assert.fail('no host access in this test') }) };
  return { lines, ctx: engineContext(job, spec, deps as unknown as DeployDeps, '10.0.0.1') };
}

test('engine log lines reach the job log without credentials', () => {
  const { lines, ctx } = fixture();
  ctx.log(`connected with ${spec.credentials.admin} and 'repl''Secret-2'`);
  assert.deepEqual(lines, ["connected with *** and '***'"]);
});

test('an error thrown by an engine step reaches the job without credentials (message, context, cause)', async () => {
  const { ctx } = fixture();
  const cause = new Error(`near 'monitor-Secret-3'`);
  await assert.rejects(
    ctx.step('create users', () =>
      Promise.reject(
        new NinesError('NINES_E_DB_QUERY', `ALTER USER x IDENTIFIED BY 'admin-Secret-1'`, {
          cause,
          context: { statement: "MASTER_PASSWORD='repl''Secret-2'" },
        }),
      ),
    ),
    (e) => {
      assert.ok(isNinesError(e, 'NINES_E_DB_QUERY'));
      const all = JSON.stringify({ m: e.message, c: e.context, cause: cause.message });
      for (const v of ['admin-Secret-1', 'repl', 'monitor-Secret-3']) assert.ok(!all.includes(v), all);
      return true;
    },
  );
});
