// The daemon survives hosts dying under its probes: a real controller process monitors a MariaDB and a
// PostgreSQL cluster on lab hosts while one node of each is frozen mid-probe, crashed (its processes killed: the
// open connections see FIN/RST) and restarted, for a bounded number of cycles. Each cycle the monitor sees the
// nodes go down and come back; at the end the process is alive, logged no uncaught exception, and stops cleanly.
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../../../src/controller/config.ts';
import { Controller } from '../../../src/controller/controller.ts';
import type { ClusterStatusView } from '../../../src/controller/monitor/status-view.ts';
import { validateSpec, type ClusterSpec } from '../../../src/core/spec.ts';
import { engineFor } from '../../../src/engines/registry.ts';
import { startServer } from '../../../src/engines/mysql/index.ts';
import { service as pgService } from '../../../src/engines/postgres/server.ts';
import { createTestLab, labFault, type TestLab } from '../../../src/lab/index.ts';
import { labEngineContext, labHostAccess, TIMEOUT_SCALE } from '../../support/lab-engine.ts';
import { poll } from '../../support/poll.ts';
import { api, startController, tempDir, type ControllerProcess } from './helpers.ts';

const ms = (n: number): number => Math.round(n * TIMEOUT_SCALE);
const LOGS = join(import.meta.dirname, '..', '..', '..', '.lab', 'logs');
const CYCLES = 3;
const sleep = (n: number): Promise<void> => new Promise((r) => setTimeout(r, n));

describe('the daemon survives dying hosts mid-probe', { timeout: ms(600_000) }, () => {
  let lab: TestLab;
  let hosts: ReturnType<typeof labHostAccess>;
  let my: ClusterSpec;
  let pg: ClusterSpec;
  let daemon: ControllerProcess | undefined;
  let failed = false;

  const spec = (name: string, type: 'mariadb-replication' | 'postgres-streaming', addrs: string[]) =>
    validateSpec({
      name,
      type,
      nodes: addrs.map((host, i) => ({ host, ...(i === 0 ? { role: 'primary' } : {}) })),
      ssh: { key: 'lab' },
      credentials: { admin: 'admin-secret-3', replication: 'repl-secret-3', monitor: 'monitor-secret-3' },
    }).spec;

  const nodeState = async (cluster: string, node: string): Promise<string | undefined> => {
    if (!daemon) return undefined;
    const s = await api<ClusterStatusView>(daemon, 'GET', `/clusters/${cluster}/status`);
    return s.nodes.find((n) => n.node === node)?.state;
  };
  const until = (cluster: string, node: string, state: string, timeoutMs: number): Promise<true> =>
    poll(`${node} of ${cluster} ${state}`, ms(timeoutMs), async () =>
      (await nodeState(cluster, node)) === state ? true : undefined,
    );

  before(async () => {
    lab = await createTestLab(4);
    const a = lab.inventory.hosts.map((h) => h.address);
    my = spec('dmy', 'mariadb-replication', [a[0] ?? '', a[1] ?? '']);
    pg = spec('dpg', 'postgres-streaming', [a[2] ?? '', a[3] ?? '']);
    hosts = labHostAccess(lab.inventory);
    await Promise.all([
      engineFor(my.type).deploy(labEngineContext(lab.inventory, my, hosts)),
      engineFor(pg.type).deploy(labEngineContext(lab.inventory, pg, hosts)),
    ]);
    // The inventory is written before the daemon starts; the daemon only monitors.
    const dataDir = join(tempDir(), 'data');
    const seed = Controller.open({ config: loadConfig({ env: {}, overrides: { dataDir } }) });
    seed.keys.add('lab', readFileSync(lab.inventory.privateKeyPath, 'utf8'));
    seed.store.inventory.createCluster(my, 'healthy');
    seed.store.inventory.createCluster(pg, 'healthy');
    await seed.close(0);
    daemon = await startController(dataDir);
  });

  afterEach((t) => {
    if ('passed' in t && t.passed === false) failed = true;
  });

  after(async () => {
    if (daemon?.proc.exitCode === null) await daemon.kill();
    await hosts?.close();
    await lab?.dispose(failed ? { keepLogsIn: LOGS } : {});
  });

  const nodeOf = (c: ClusterSpec): string => `${c.nodes[1]?.host ?? ''}:${c.nodes[1]?.port ?? 0}`;
  const fault = async (name: 'freeze' | 'thaw' | 'crash' | 'restart'): Promise<void> => {
    await labFault(lab.inventory.name, 'h2', name);
    await labFault(lab.inventory.name, 'h4', name);
  };

  async function oneCycle(): Promise<void> {
    // Frozen mid-probe: connections stay open, nothing answers; the probes hit their deadline.
    await fault('freeze');
    await sleep(2500);
    await fault('thaw');
    // Crashed while the monitor holds connections to both servers.
    await fault('crash');
    await until('dmy', nodeOf(my), 'down', 20_000);
    await until('dpg', nodeOf(pg), 'down', 20_000);
    await fault('restart');
    await startServer(hosts.executor(my.nodes[1]?.host ?? ''));
    await pgService(hosts.executor(pg.nodes[1]?.host ?? ''), pg, 'start', false);
    await until('dmy', nodeOf(my), 'up', 30_000);
    await until('dpg', nodeOf(pg), 'up', 30_000);
  }

  test(`${CYCLES} cycles of freeze, crash and restart of a MariaDB and a PostgreSQL node`, async () => {
    await until('dmy', nodeOf(my), 'up', 30_000);
    await until('dpg', nodeOf(pg), 'up', 30_000);
    for (let cycle = 1; cycle <= CYCLES; cycle++) {
      await oneCycle();
      assert.equal(daemon?.proc.exitCode, null, `the daemon is alive after cycle ${cycle}`);
    }
    const logs = daemon?.logs.join('') ?? '';
    // What node prints when an exception or an 'error' event nobody listens to ends the process.
    assert.doesNotMatch(
      logs,
      /Unhandled 'error' event|uncaught|unhandled rejection|Node\.js v\d/i,
      logs.slice(-3000),
    );
    assert.equal(await daemon?.stop(), 0, 'and it stops cleanly');
  });
});
