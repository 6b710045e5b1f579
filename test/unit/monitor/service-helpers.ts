// A real controller (temp data directory, real SQLite) whose monitor talks to fake probes: tests set what each
// node answers and read events, alarms, metrics and API answers.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../../src/controller/config.ts';
import { Controller } from '../../../src/controller/controller.ts';
import type { MonitorDrivers } from '../../../src/controller/monitor/monitor-service.ts';
import type { NodeObservation } from '../../../src/core/monitor/observation.ts';
import { validateSpec, type ClusterSpec } from '../../../src/core/spec.ts';
import type { QueryInsight } from '../../../src/engines/engine.ts';
import { testPrivateKey } from '../controller/helpers.ts';

export type Answer = (host: string, port: number) => Omit<NodeObservation, 'time'>;

export interface MonitorHarness {
  readonly controller: Controller;
  readonly dir: string;
  /** What every probe answers now (change it to simulate faults). */
  answer: Answer;
  readonly killed: { node: string; id: number }[];
  addCluster(name: string, type?: ClusterSpec['type'], nodes?: number): ClusterSpec;
  close(): Promise<void>;
}

export const healthyAnswer: Answer = (_host, port) =>
  port === 3306
    ? {
        reachable: true,
        role: 'primary',
        readOnly: false,
        connections: 5,
        queriesPerSecond: 12,
        longestQuerySeconds: 0,
      }
    : {
        reachable: true,
        role: 'replica',
        readOnly: true,
        connections: 3,
        queriesPerSecond: 4,
        longestQuerySeconds: 0,
        replication: {
          kind: 'mariadb',
          source: '127.0.0.1:3306',
          ioRunning: true,
          sqlRunning: true,
          lagSeconds: 0,
          lastError: null,
        },
      };

export function openMonitorHarness(env: Record<string, string> = {}): MonitorHarness {
  const dir = mkdtempSync(join(tmpdir(), 'nines-monitor-'));
  const config = loadConfig({
    env: {
      NINES_LOG_LEVEL: 'silent',
      NINES_MONITOR_INTERVAL_MS: '100',
      NINES_MONITOR_PROBE_TIMEOUT_MS: '60',
      ...env,
    },
    overrides: { dataDir: join(dir, 'data') },
  });
  const killed: { node: string; id: number }[] = [];
  const h: MonitorHarness = {
    dir,
    answer: healthyAnswer,
    killed,
    controller: undefined as unknown as Controller,
    addCluster(name, type = 'mariadb-replication', nodes = 2) {
      const spec = validateSpec({
        name,
        type,
        nodes: Array.from({ length: nodes }, (_, i) => ({
          host: '127.0.0.1',
          port: (type === 'postgres-streaming' ? 5432 : 3306) + i,
          ...(i === 0 && type !== 'galera' ? { role: 'primary' } : {}),
        })),
        ssh: { key: 'unused' },
      }).spec;
      h.controller.store.inventory.createCluster(spec, 'healthy');
      void h.controller.monitor.reconcile();
      return spec;
    },
    async close() {
      await h.controller.close(0);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  const insight = (node: string): QueryInsight => ({
    topStatements: () =>
      Promise.resolve([
        {
          digest: 'd1',
          text: 'SELECT 1',
          schema: 'app',
          calls: 10,
          totalTimeMs: 5,
          meanTimeMs: 0.5,
          rows: 10,
        },
      ]),
    runningQueries: () =>
      Promise.resolve([
        {
          id: 42,
          user: 'app',
          client: '10.0.0.9:5000',
          database: 'app',
          state: 'executing',
          seconds: 31,
          text: 'SELECT SLEEP(30)',
        },
      ]),
    killQuery: (id) => {
      killed.push({ node, id });
      return Promise.resolve();
    },
    close: () => Promise.resolve(),
  });
  const drivers: MonitorDrivers = {
    openProbe: (_spec, node) => ({
      observe: () => Promise.resolve({ time: Date.now(), ...h.answer(node.host, node.port) }),
      close: () => Promise.resolve(),
    }),
    openInsight: (_spec, node) => insight(`${node.host}:${node.port}`),
  };
  (h as { controller: Controller }).controller = Controller.open({ config, monitorDrivers: drivers });
  // The clusters' specs name this key (a real key authorized nowhere: a deploy that runs fails at SSH).
  h.controller.keys.add('unused', testPrivateKey());
  h.controller.start();
  return h;
}

export async function waitFor<T>(
  what: string,
  fn: () => T | undefined | false,
  timeoutMs = 5000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Waits until the monitor of `cluster` has completed `n` more ticks: to assert that something did NOT happen
 * (a second notification, an alarm under maintenance), wait for the ticks that would have done it, not a time.
 */
export async function afterTicks(h: MonitorHarness, cluster: string, n: number): Promise<void> {
  const monitor = h.controller.monitor.clusterState(cluster)?.monitor;
  assert.ok(monitor, `cluster ${cluster} is monitored`);
  const target = monitor.tickCount + n;
  await waitFor(`${n} more ticks of ${cluster}`, () => monitor.tickCount >= target);
}

/** Parses Prometheus text: every sample line must be `name{labels} value`. */
export function parsePrometheus(
  text: string,
): { name: string; labels: Record<string, string>; value: number }[] {
  const out: { name: string; labels: Record<string, string>; value: number }[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (-?[0-9.eE+-]+|NaN|[+-]Inf)$/.exec(line);
    if (!m) throw new Error(`not a Prometheus sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
      labels[l[1] as string] = l[2] as string;
    out.push({ name: m[1] as string, labels, value: Number(m[4]) });
  }
  return out;
}
