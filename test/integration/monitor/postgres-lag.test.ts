// PostgreSQL standby lag on real lab hosts, through a real in-process controller (lag threshold 3 s): a standby
// idle for longer than the threshold after a restart is not lagging; a gap that opens after idle time is counted
// from when it opened, not from the last replayed transaction; real lag (replay paused while the primary writes)
// is reported with bytes and seconds and alarmed, and cleared once replay resumes.
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../../src/controller/config.ts';
import { Controller } from '../../../src/controller/controller.ts';
import type { NodeStatusView } from '../../../src/controller/monitor/status-view.ts';
import { validateSpec, type ClusterSpec, type NodeSpec } from '../../../src/core/spec.ts';
import { engineFor } from '../../../src/engines/registry.ts';
import { withSql } from '../../../src/engines/postgres/index.ts';
import { adminTarget } from '../../../src/engines/postgres/common.ts';
import { service } from '../../../src/engines/postgres/server.ts';
import { createTestLab, type TestLab } from '../../../src/lab/index.ts';
import { labEngineContext, labHostAccess, TIMEOUT_SCALE } from '../../support/lab-engine.ts';
import { poll } from '../../support/poll.ts';

const ms = (n: number): number => Math.round(n * TIMEOUT_SCALE);
const LOGS = join(import.meta.dirname, '..', '..', '..', '.lab', 'logs');
const LAG_WARNING_S = 3;

interface PgReplicationView {
  readonly receiverStatus?: string | null;
  readonly lagBytes?: number | null;
  readonly replayPaused?: boolean;
}

describe('postgres-streaming standby lag on lab hosts', { timeout: ms(600_000) }, () => {
  let lab: TestLab;
  let spec: ClusterSpec;
  let hosts: ReturnType<typeof labHostAccess>;
  let controller: Controller;
  let dir: string;
  let failed = false;
  const nodeAt = (i: number): NodeSpec => {
    const n = spec.nodes[i];
    assert.ok(n);
    return n;
  };
  const sql = (n: NodeSpec, text: string): Promise<unknown> =>
    withSql(adminTarget(spec, n), {}, (c) => c.query(text));
  const standbyView = (): NodeStatusView => {
    const s = nodeAt(1);
    const v = controller.monitor.status('plag').nodes.find((n) => n.node === `${s.host}:${s.port}`);
    assert.ok(v);
    return v;
  };
  const repl = (v: NodeStatusView): PgReplicationView => v.replication ?? {};
  const lagAlarm = () => controller.monitor.alarms.active('plag').find((a) => a.rule === 'replication-lag');

  before(async () => {
    lab = await createTestLab(2);
    const inv = lab.inventory;
    spec = validateSpec({
      name: 'plag',
      type: 'postgres-streaming',
      nodes: inv.hosts.map((h, i) => ({ host: h.address, ...(i === 0 ? { role: 'primary' } : {}) })),
      ssh: { key: 'lab' },
      credentials: { admin: 'admin-secret-l', replication: 'repl-secret-l', monitor: 'monitor-secret-l' },
    }).spec;
    hosts = labHostAccess(inv);
    await engineFor(spec.type).deploy(labEngineContext(inv, spec, hosts));
    dir = mkdtempSync(join(tmpdir(), 'nines-plag-'));
    controller = Controller.open({
      config: loadConfig({ env: { NINES_LOG_LEVEL: 'warn' }, overrides: { dataDir: dir } }),
    });
    controller.keys.add('lab', readFileSync(inv.privateKeyPath, 'utf8'));
    controller.start();
    controller.store.inventory.createCluster(spec, 'healthy');
    controller.monitor.settings.update(
      'plag',
      { thresholds: { lagSeconds: { warning: LAG_WARNING_S, clearMargin: 1 } } },
      'it',
      Date.now(),
    );
    await controller.monitor.reconcile();
  });

  afterEach((t) => {
    if ('passed' in t && t.passed === false) failed = true;
  });

  after(async () => {
    await controller?.close(0);
    await hosts?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
    await lab?.dispose(failed ? { keepLogsIn: LOGS } : {});
    if (failed) console.error(`host logs kept in ${LOGS}/${lab?.inventory.name}`);
  });

  test(
    'a standby idle for longer than the lag threshold after a restart is not lagging',
    { timeout: ms(120_000) },
    async () => {
      // A replayed transaction, so the standby has a replay timestamp that ages while nothing is written.
      await sql(nodeAt(0), 'CREATE TABLE lag_probe (i int)');
      await sql(nodeAt(0), 'INSERT INTO lag_probe VALUES (1)');
      // The monitor has read the standby before the restart (on a loaded machine its first tick can come after
      // the stop: then the first reading after the restart is its first reading ever, unknown by design).
      await poll('a monitor reading of the standby', ms(30_000), () =>
        Promise.resolve(standbyView().lagSeconds === 0 ? true : undefined),
      );
      const ex = hosts.executor(nodeAt(1).host);
      await service(ex, spec, 'stop', false);
      await service(ex, spec, 'start', false);
      await poll('the standby streams again', ms(30_000), () =>
        Promise.resolve(repl(standbyView()).receiverStatus === 'streaming' ? true : undefined),
      );
      // Watch for twice the threshold: no reading above 1 s (a record in flight may show one tick of a gap; idle
      // time never counts) and no lag alarm.
      const until = Date.now() + 2 * LAG_WARNING_S * 1000 + 1000;
      let readings = 0;
      while (Date.now() < until) {
        const v = standbyView();
        assert.ok(
          v.lagSeconds !== null && v.lagSeconds <= 1,
          `standby idle: lag ${v.lagSeconds}; ${v.reason} ${JSON.stringify(v.replication)}`,
        );
        assert.equal(lagAlarm(), undefined);
        readings++;
        await new Promise((r) => setTimeout(r, 200));
      }
      assert.ok(readings > 10);
      assert.equal(controller.monitor.status('plag').state, 'healthy');
    },
  );

  test(
    'replay paused while the primary writes: lag counted from the gap, with bytes; alarmed; cleared on resume',
    { timeout: ms(120_000) },
    async () => {
      const standby = nodeAt(1);
      // The last replayed transaction is now several seconds old (the previous test idled): the gap must not
      // inherit that idle time.
      await sql(standby, 'SELECT pg_wal_replay_pause()');
      const opened = Date.now();
      await sql(nodeAt(0), 'INSERT INTO lag_probe SELECT generate_series(1, 1000)');
      // A reading taken after the pause (replayPaused), not one left from before it.
      const gap = await poll('a WAL gap on the standby', ms(10_000), () => {
        const v = standbyView();
        return Promise.resolve((repl(v).lagBytes ?? 0) > 0 && repl(v).replayPaused === true ? v : undefined);
      });
      const sinceGap = (Date.now() - opened) / 1000;
      assert.ok(
        (gap.lagSeconds ?? Infinity) <= sinceGap + 1.5,
        `lag ${gap.lagSeconds} s ${sinceGap.toFixed(1)} s after the gap opened (the idle time before it is not lag)`,
      );
      const alarm = await poll('replication-lag alarm', ms(20_000), () => Promise.resolve(lagAlarm()));
      const v = standbyView();
      console.log(
        `lag alarm ${Date.now() - opened} ms after the gap opened: ${alarm.reason}; lagBytes ${repl(v).lagBytes}`,
      );
      assert.match(alarm.reason, /lagging [\d.]+ s .*; \d+ bytes not replayed/);
      assert.ok((v.lagSeconds ?? 0) > LAG_WARNING_S, `lag ${v.lagSeconds}`);
      assert.ok((repl(v).lagBytes ?? 0) > 0);
      assert.equal(repl(v).replayPaused, true);
      await sql(standby, 'SELECT pg_wal_replay_resume()');
      await poll('lag alarm cleared', ms(20_000), () =>
        Promise.resolve(lagAlarm() === undefined && standbyView().lagSeconds === 0 ? true : undefined),
      );
    },
  );
});
