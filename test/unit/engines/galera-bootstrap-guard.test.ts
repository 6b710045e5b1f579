// The last guard before --wsrep-new-cluster: never bootstrap while another node of the cluster runs, even when
// the plan said so (a resumed job may replay an old plan).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateSpec, type NodeSpec } from '../../../src/core/spec.ts';
import { isNinesError } from '../../../src/core/errors.ts';
import type { EngineContext } from '../../../src/engines/engine.ts';
import { bootstrapNode } from '../../../src/engines/galera/deploy.ts';
import { FakeExecutor } from '../../support/fake-executor.ts';

const spec = validateSpec({
  name: 'shop',
  type: 'galera',
  nodes: [{ host: 'a' }, { host: 'b' }, { host: 'c' }],
  ssh: { key: 'k' },
}).spec;

function fakeHost(name: string, running: boolean): FakeExecutor {
  return new FakeExecutor(name)
    .on((argv) => argv.join(' ').includes('/run/systemd/system'), { stdout: 'direct\n' })
    .on((argv) => argv.includes('nines-status'), { stdout: running ? 'running 99\n' : 'stopped none\n' })
    .on(['mariadb'], { stdout: '' })
    .on(['cat', '--', '/var/lib/mysql/grastate.dat'], {
      exitCode: 1,
      stderr: 'cat: /var/lib/mysql/grastate.dat: No such file or directory\n', // a fresh node
    });
}

function context(fakes: Record<string, FakeExecutor>): EngineContext {
  return {
    spec,
    hosts: {
      executor: (h: string) => {
        const f = fakes[h];
        assert.ok(f, h);
        return f;
      },
    },
    log: () => undefined,
    step: (_name, fn) => fn(),
    signal: new AbortController().signal,
    controllerAddress: '10.0.0.1',
  };
}

test('bootstrap is refused when another node already runs; nothing is started', async () => {
  const fakes = { a: fakeHost('a', false), b: fakeHost('b', true), c: fakeHost('c', false) };
  const [a] = spec.nodes as [NodeSpec];
  await assert.rejects(bootstrapNode(context(fakes), a, 'uuid:5'), (e) => {
    assert.ok(isNinesError(e, 'NINES_E_GALERA_NOT_PRIMARY'));
    assert.match(e.message, /not bootstrapping a:3306: b:3306 run\(s\) already/);
    return true;
  });
  assert.ok(!fakes.a.commands().some((c) => c.includes('wsrep-new-cluster') || c.startsWith('sed')));
});
