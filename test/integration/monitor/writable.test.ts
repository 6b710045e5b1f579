// Writable replicas on real lab hosts (mariadb-replication): no window in which a replica accepts writes — a
// sampler inside each host reads @@read_only over the server's socket as fast as it can from the moment the server
// first answers, through the whole deploy and a replica restart; the primary's own samples (1 until the deploy
// opens it, then 0) prove the sampler sees a 0 when there is one. Then `SET GLOBAL read_only = 0` on a replica is
// a critical writable-replica and multiple-writers alarm within 2 s, cleared when it is read-only again.
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../../src/controller/config.ts';
import { Controller } from '../../../src/controller/controller.ts';
import { validateSpec, type ClusterSpec, type NodeSpec } from '../../../src/core/spec.ts';
import type { Executor } from '../../../src/hosts/executor.ts';
import { engineFor } from '../../../src/engines/registry.ts';
import { adminEndpoint, startServer, stopServer, withSql } from '../../../src/engines/mysql/index.ts';
import { createTestLab, type TestLab } from '../../../src/lab/index.ts';
import { labEngineContext, labHostAccess, TIMEOUT_SCALE } from '../../support/lab-engine.ts';
import { poll } from '../../support/poll.ts';

const ms = (n: number): number => Math.round(n * TIMEOUT_SCALE);
const LOGS = join(import.meta.dirname, '..', '..', '..', '.lab', 'logs');
const STOP_FILE = '/run/nines-ro-sampler.stop';

// One line per answered sample: "<epoch ms> <read_only>", over one connection per server start (a statement
// every ~5-10 ms); reconnects after a restart with a short pause while the server does not answer. Bounded by
// `timeout` and by the stop file.
const SAMPLER = String.raw`
rm -f "$1"
while [ ! -e "$1" ]; do
  while [ ! -e "$1" ]; do
    echo 'SELECT CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS UNSIGNED), @@global.read_only;'
    sleep 0.005
  done | mariadb --no-defaults --socket=/run/mysqld/mysqld.sock -uroot -N -B 2>/dev/null
  sleep 0.02
done
`;

interface Sample {
  readonly time: number;
  readonly readOnly: string;
}

function startSampler(ex: Executor, seconds: number): Promise<Sample[]> {
  return ex
    .exec(['timeout', String(seconds), 'sh', '-c', SAMPLER, 'nines-ro-sampler', STOP_FILE], {
      sudo: true,
      check: false,
      timeoutMs: (seconds + 30) * 1000,
    })
    .then((r) =>
      r.stdout
        .split('\n')
        .filter((l) => /^\d+\t\S+$/.test(l))
        .map((l) => {
          const [time, readOnly] = l.split('\t');
          return { time: Number(time), readOnly: readOnly ?? '' };
        }),
    );
}

async function stopSampler(ex: Executor): Promise<void> {
  await ex.exec(['touch', STOP_FILE], { sudo: true });
}

describe('writable replicas (mariadb-replication on lab hosts)', { timeout: ms(600_000) }, () => {
  let lab: TestLab;
  let spec: ClusterSpec;
  let hosts: ReturnType<typeof labHostAccess>;
  let controller: Controller | undefined;
  let dir: string | undefined;
  let failed = false;
  const nodeAt = (i: number): NodeSpec => {
    const n = spec.nodes[i];
    assert.ok(n);
    return n;
  };
  const key = (n: NodeSpec): string => `${n.host}:${n.port}`;

  before(async () => {
    lab = await createTestLab(3);
    const inv = lab.inventory;
    spec = validateSpec({
      name: 'wrep',
      type: 'mariadb-replication',
      nodes: inv.hosts.map((h, i) => ({ host: h.address, ...(i === 0 ? { role: 'primary' } : {}) })),
      ssh: { key: 'lab' },
      credentials: { admin: 'admin-secret-w', replication: 'repl-secret-w', monitor: 'monitor-secret-w' },
    }).spec;
    hosts = labHostAccess(inv);
  });

  afterEach((t) => {
    if ('passed' in t && t.passed === false) failed = true;
  });

  after(async () => {
    await controller?.close(0);
    await Promise.all(spec.nodes.map((n) => stopSampler(hosts.executor(n.host)).catch(() => undefined)));
    await hosts?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
    await lab?.dispose(failed ? { keepLogsIn: LOGS } : {});
    if (failed) console.error(`host logs kept in ${LOGS}/${lab?.inventory.name}`);
  });

  test(
    'no replica is ever writable: from its first answer, through the deploy and a restart',
    { timeout: ms(300_000) },
    async () => {
      const samplers = spec.nodes.map((n) => startSampler(hosts.executor(n.host), Math.round(ms(240))));
      const replica = nodeAt(1);
      let restartedAt = Number.POSITIVE_INFINITY;
      try {
        await engineFor(spec.type).deploy(labEngineContext(lab.inventory, spec, hosts));
        const ex = hosts.executor(replica.host);
        await stopServer(ex);
        restartedAt = Date.now();
        await startServer(ex, { readyTimeoutMs: ms(90_000) });
        // Samples of the restarted replica after its restart, so the restart is covered, not only assumed.
        await poll('the restarted replica answers read-only', ms(10_000), async () => {
          const rows = await withSql(adminEndpoint(spec, replica), (c) =>
            c.query<{ ro: number | bigint | string }>('SELECT @@global.read_only AS ro'),
          );
          return String(rows[0]?.ro) === '1' ? true : undefined;
        });
      } finally {
        await Promise.all(spec.nodes.map((n) => stopSampler(hosts.executor(n.host)).catch(() => undefined)));
        await Promise.allSettled(samplers);
      }
      const samples = await Promise.all(samplers);
      const [primarySamples = [], ...replicaSamples] = samples;
      const counts = samples.map((s, i) => `${spec.nodes[i]?.host}: ${s.length}`).join(', ');
      console.log(`read_only samples per node: ${counts}`);
      // The sampler sees a writable server: the primary answered read-only first, writable once opened.
      assert.equal(primarySamples[0]?.readOnly, '1', 'the primary starts read-only too');
      assert.equal(primarySamples.at(-1)?.readOnly, '0', 'the sampler saw the primary become writable');
      replicaSamples.forEach((s, i) => {
        // Enough samples to cover the deploy densely even on a loaded machine (~110-480 seen; the rate is the
        // machine's, the window is what matters: samples after the restart are asserted below).
        assert.ok(s.length >= 50, `replica ${i + 1} sampled ${s.length} times`);
        const writable = s.filter((x) => x.readOnly !== '1');
        assert.deepEqual(writable, [], `replica ${spec.nodes[i + 1]?.host} answered read_only != 1`);
      });
      const afterRestart = (replicaSamples[0] ?? []).filter((x) => x.time > restartedAt);
      assert.ok(afterRestart.length > 0, 'the restarted replica was sampled after its restart');
    },
  );

  test(
    'SET GLOBAL read_only = 0 on a replica: critical writable-replica and multiple-writers within 2 s, cleared when read-only again',
    { timeout: ms(120_000) },
    async () => {
      dir = mkdtempSync(join(tmpdir(), 'nines-wrep-'));
      controller = Controller.open({
        config: loadConfig({ env: { NINES_LOG_LEVEL: 'warn' }, overrides: { dataDir: dir } }),
      });
      const c = controller;
      c.keys.add('lab', readFileSync(lab.inventory.privateKeyPath, 'utf8'));
      c.start();
      c.store.inventory.createCluster(spec, 'healthy');
      await c.monitor.reconcile();
      await poll('healthy', ms(20_000), () =>
        Promise.resolve(c.monitor.status('wrep').state === 'healthy' ? true : undefined),
      );
      const replica = nodeAt(2);
      const writers = (): string[] =>
        c.monitor.alarms
          .active('wrep')
          .filter((a) => a.rule === 'writable-replica' || a.rule === 'multiple-writers')
          .map((a) => `${a.rule} ${a.severity}${a.node ? ` ${a.node}` : ''}`)
          .sort();
      assert.deepEqual(writers(), []);
      await withSql(adminEndpoint(spec, replica), (s) => s.execute('SET GLOBAL read_only = 0'));
      const opened = Date.now();
      await poll(
        'writable-replica and multiple-writers alarms',
        ms(10_000),
        () => Promise.resolve(writers().length === 2 ? true : undefined),
        20,
      );
      const elapsed = Date.now() - opened;
      console.log(`writable replica alarmed ${elapsed} ms after SET GLOBAL read_only = 0`);
      assert.deepEqual(writers(), ['multiple-writers critical', `writable-replica critical ${key(replica)}`]);
      assert.ok(elapsed <= ms(2000), `alarmed after ${elapsed} ms (at most 2 s)`);
      const alarm = c.monitor.alarms.active('wrep').find((a) => a.rule === 'writable-replica');
      assert.match(alarm?.reason ?? '', new RegExp(`replica ${replica.host} accepts writes`));
      assert.equal(c.monitor.status('wrep').state, 'failed');
      assert.match(c.monitor.status('wrep').reason, /2 writable nodes/);
      await withSql(adminEndpoint(spec, replica), (s) => s.execute('SET GLOBAL read_only = 1'));
      await poll('alarms cleared', ms(10_000), () =>
        Promise.resolve(writers().length === 0 ? true : undefined),
      );
      await poll('healthy again', ms(10_000), () =>
        Promise.resolve(c.monitor.status('wrep').state === 'healthy' ? true : undefined),
      );
    },
  );
});
