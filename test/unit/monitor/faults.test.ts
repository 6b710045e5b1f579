// Failure containment of the monitor, with faults injected at each stage for one cluster ("bad") while another
// ("good") runs next to it: the other cluster keeps being classified and alarmed, the faulty one keeps the stages
// that work, monitor-degraded is raised with the stage and the error code (even when the alarm store is what
// fails) and cleared after clean ticks; a malformed row in the real SQLite store is skipped, not a throw per
// tick; a failed reconcile does not stop later ones; Controller.close() releases the lock when a part fails.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadConfig } from '../../../src/controller/config.ts';
import { Controller } from '../../../src/controller/controller.ts';
import { DEGRADED_CLEAR_TICKS } from '../../../src/controller/monitor/monitor-faults.ts';
import { NinesError } from '../../../src/core/errors.ts';
import {
  healthyAnswer,
  openMonitorHarness,
  parsePrometheus,
  waitFor,
  type Answer,
  type MonitorHarness,
} from './service-helpers.ts';

let h: MonitorHarness;
const fault = { alarmStore: false, notify: false };

const replicaDown: Answer = (host, port) =>
  port === 3307
    ? {
        reachable: false,
        role: 'unknown',
        error: { code: 'NINES_E_DB_UNREACHABLE', message: 'connect ECONNREFUSED' },
      }
    : { reachable: true, role: 'primary', readOnly: false };

const injected = (what: string): NinesError => new NinesError('NINES_E_STORE', `${what} (injected)`);

before(async () => {
  h = openMonitorHarness();
  const m = h.controller.monitor;
  const apply = m.alarms.apply.bind(m.alarms);
  m.alarms.apply = (evaluation, now) => {
    if (fault.alarmStore && evaluation.health.cluster === 'bad') throw injected('disk I/O error');
    return apply(evaluation, now);
  };
  const upsert = m.alarms.upsertActive.bind(m.alarms);
  m.alarms.upsertActive = (a) => {
    if (fault.alarmStore && a.cluster === 'bad') throw injected('disk I/O error');
    return upsert(a);
  };
  const handle = m.notify.handle.bind(m.notify);
  m.notify.handle = (evaluation, now) => {
    if (fault.notify && evaluation.health.cluster === 'bad') throw new Error('notifier exploded (injected)');
    return handle(evaluation, now);
  };
  h.addCluster('good');
  h.addCluster('bad');
  await waitFor('both healthy', () =>
    ['good', 'bad'].every((c) => h.controller.monitor.status(c).state === 'healthy'),
  );
});

after(async () => {
  await h.close();
});

const stored = (cluster: string, rule: string) =>
  h.controller.monitor.alarms.active(cluster).find((a) => a.rule === rule);
const shown = (cluster: string, rule: string) =>
  h.controller.monitor.status(cluster).alarms.find((a) => a.rule === rule);
const node3307 = (cluster: string) =>
  h.controller.monitor.status(cluster).nodes.find((n) => n.port === 3307)?.state;
const events = (cluster: string, type: string) => h.controller.events.list({ cluster, type, limit: 1000 });

async function prometheus(): Promise<ReturnType<typeof parsePrometheus>> {
  return parsePrometheus(await h.controller.monitor.renderPrometheus());
}

async function recover(stage: string): Promise<void> {
  h.answer = healthyAnswer;
  const clearedBefore = events('bad', 'alarm.cleared').filter(
    (e) => e.data.rule === 'monitor-degraded',
  ).length;
  await waitFor(
    `monitor-degraded (${stage}) cleared after ${DEGRADED_CLEAR_TICKS} clean ticks`,
    () =>
      events('bad', 'alarm.cleared').filter((e) => e.data.rule === 'monitor-degraded').length > clearedBefore,
  );
  assert.equal(stored('bad', 'monitor-degraded'), undefined);
  assert.equal(shown('bad', 'monitor-degraded'), undefined);
  assert.equal(h.controller.monitor.status('bad').monitor.degraded, false);
  await waitFor('both healthy again', () =>
    ['good', 'bad'].every((c) => h.controller.monitor.status(c).state === 'healthy'),
  );
}

test('alarm store throws for one cluster: the other is alarmed, the faulty one still classified, monitor-degraded held in memory', async () => {
  fault.alarmStore = true;
  h.answer = replicaDown;
  await waitFor('good: node-down stored', () => stored('good', 'node-down'));
  await waitFor('bad: node down (classification goes on)', () => node3307('bad') === 'down');
  await waitFor('bad: node.state event (events go on)', () =>
    events('bad', 'node.state').some((e) => e.data.to === 'down'),
  );
  const degraded = await waitFor('bad: monitor-degraded shown', () => shown('bad', 'monitor-degraded'));
  assert.equal(degraded.severity, 'critical');
  assert.match(degraded.reason, /alarm-store failed \(NINES_E_STORE: .*disk I\/O error \(injected\)\)/);
  assert.equal(degraded.id, 0, 'not in the store: it is what fails');
  assert.equal(stored('bad', 'node-down'), undefined, 'the raise could not be stored');
  assert.equal(shown('good', 'monitor-degraded'), undefined);
  assert.ok(events('bad', 'alarm.raised').some((e) => e.data.rule === 'monitor-degraded'));
  const status = h.controller.monitor.status('bad');
  assert.equal(status.monitor.degraded, true);
  assert.ok((status.monitor.errors['alarm-store'] ?? 0) > 0);
  const samples = await prometheus();
  const errors = samples.find(
    (s) =>
      s.name === 'nines_monitor_errors_total' &&
      s.labels.cluster === 'bad' &&
      s.labels.stage === 'alarm-store',
  );
  assert.ok((errors?.value ?? 0) > 0, 'nines_monitor_errors_total{cluster=bad,stage=alarm-store}');
  const deg = (c: string) =>
    samples.find((s) => s.name === 'nines_monitor_degraded' && s.labels.cluster === c)?.value;
  assert.equal(deg('bad'), 1);
  assert.equal(deg('good'), 0);
  const critical = samples.find(
    (s) => s.name === 'nines_alarms_active' && s.labels.cluster === 'bad' && s.labels.severity === 'critical',
  );
  assert.ok((critical?.value ?? 0) >= 1, 'the unstored monitor-degraded is counted');

  fault.alarmStore = false;
  await waitFor('bad: node-down stored once the store works (retried)', () => stored('bad', 'node-down'));
  await waitFor('bad: monitor-degraded stored (retried)', () => stored('bad', 'monitor-degraded'));
  await recover('alarm-store');
});

test('notifier throws for one cluster: alarms still stored for it, monitor-degraded names the notify stage', async () => {
  fault.notify = true;
  h.answer = replicaDown;
  await waitFor('good: node-down stored', () => stored('good', 'node-down'));
  await waitFor('bad: node-down stored (alarm store works)', () => stored('bad', 'node-down'));
  const degraded = await waitFor('bad: monitor-degraded', () => stored('bad', 'monitor-degraded'));
  assert.match(degraded.reason, /notify failed \(NINES_E_INTERNAL: notifier exploded \(injected\)\)/);
  assert.equal(node3307('bad'), 'down');
  fault.notify = false;
  await recover('notify');
});

test('a malformed maintenance row (until beyond any date) is skipped with monitor-degraded, not a throw per tick', async () => {
  const m = h.controller.monitor;
  h.controller.store.db.run(
    `INSERT INTO maintenance_windows (cluster, node, until, reason, set_by, created_at)
     VALUES ('bad', '', 8.64e27, 'older version', NULL, 0)`,
  );
  // The repo caches the windows and drops the cache on its own writes: end a window that does not exist.
  m.settings.endMaintenance('bad', '127.0.0.1:1');
  const degraded = await waitFor('bad: monitor-degraded (settings)', () => stored('bad', 'monitor-degraded'));
  assert.match(
    degraded.reason,
    /settings failed \(NINES_E_MONITOR_ROW_INVALID: .*maintenance window of cluster bad/,
  );
  h.answer = replicaDown;
  await waitFor('bad: node down', () => node3307('bad') === 'down');
  await waitFor('bad: node-down alarm (not suppressed by the bad row)', () => stored('bad', 'node-down'));
  await waitFor('good: node-down alarm', () => stored('good', 'node-down'));
  assert.equal(m.endMaintenance('bad', undefined, 'operator'), true, 'the operator can remove the row');
  await recover('settings');
});

test('a failed reconcile does not stop later ones', async () => {
  const inventory = h.controller.store.inventory;
  const list = inventory.listClusters.bind(inventory);
  let fail = true;
  inventory.listClusters = () => {
    if (fail) {
      fail = false;
      throw injected('database is locked');
    }
    return list();
  };
  await h.controller.monitor.reconcile(); // resolves: the failure is logged
  h.addCluster('late');
  await waitFor('late monitored', () => h.controller.monitor.monitoredClusters.includes('late'));
  await waitFor('late healthy', () => h.controller.monitor.status('late').state === 'healthy');
});

test('Controller.close() releases the lock when the monitor fails to stop; a stored bad settings row does not blind the next start', async () => {
  const first = h.controller;
  first.store.db.run(
    `INSERT INTO monitor_settings (cluster, thresholds_json, disabled_rules_json, updated_at, updated_by)
     VALUES ('bad', '{"lagSeconds":{"warning":-5}}', '[]', 0, NULL)`,
  );
  const realStop = first.monitor.stop.bind(first.monitor);
  first.monitor.stop = () => Promise.reject(new Error('monitor stop failed (injected)'));
  await first.close(0);
  await realStop(); // its loops were left running by the injected failure; end them for the test process
  const config = loadConfig({
    env: {
      NINES_LOG_LEVEL: 'silent',
      NINES_MONITOR_INTERVAL_MS: '100',
      NINES_MONITOR_PROBE_TIMEOUT_MS: '60',
    },
    overrides: { dataDir: join(h.dir, 'data') },
  });
  const second = Controller.open({
    config,
    monitorDrivers: {
      openProbe: (_spec, node) => ({
        observe: () => Promise.resolve({ time: Date.now(), ...replicaDown(node.host, node.port) }),
        close: () => Promise.resolve(),
      }),
      openInsight: () => {
        throw new Error('not used');
      },
    },
  });
  (h as { controller: Controller }).controller = second; // h.close() closes it
  second.start();
  const stored2 = (cluster: string, rule: string) =>
    second.monitor.alarms.active(cluster).find((a) => a.rule === rule);
  const degraded = await waitFor('bad: monitor-degraded (settings row)', () =>
    stored2('bad', 'monitor-degraded'),
  );
  assert.match(
    degraded.reason,
    /settings failed \(NINES_E_MONITOR_ROW_INVALID: .*monitor settings of cluster bad: .*lagSeconds\.warning/,
  );
  await waitFor('bad: node-down with the default thresholds', () => stored2('bad', 'node-down'));
  await waitFor('good: node-down', () => stored2('good', 'node-down'));
  assert.equal(stored2('good', 'monitor-degraded'), undefined);
});
