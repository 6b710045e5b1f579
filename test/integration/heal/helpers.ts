// Shared set-up of the self-healing tests: one lab, one controller, one cluster deployed through the API, and
// what the tests do to it — kill a server by its pid (precise, never by name), run a command as root on a lab
// host, read the cluster's events since a point.
import assert from 'node:assert/strict';
import type { ClusterSpec, ClusterType } from '../../../src/core/spec.ts';
import type { EventRecord } from '../../../src/controller/store/event-repo.ts';
import { createTestLab, type TestLab } from '../../../src/lab/index.ts';
import { labHostAccess } from '../../support/lab-engine.ts';
import {
  APP,
  createAppUser,
  fullSpec,
  labSpec,
  poll,
  registerLabKey,
  startTestController,
  storedTopology,
  type TestController,
} from '../deploy/helpers.ts';
import type { Endpoint } from '../../support/write-load.ts';

export interface HealEnv {
  readonly lab: TestLab;
  readonly t: TestController;
  readonly spec: ClusterSpec;
  readonly hosts: ReturnType<typeof labHostAccess>;
  events(since: number, type?: string): EventRecord[];
  lastEventId(): number;
  timeline(since: number): string;
  /** sh -c SCRIPT as root on the node's (or lab host's) host. */
  sh(host: string, script: string): Promise<{ code: number; stdout: string; stderr: string }>;
  /** SIGKILL of the node's database server (its postmaster / mariadbd, by pid file). */
  killServer(node: string): Promise<void>;
  /** The node's server process id, or undefined when it does not run. */
  serverPid(node: string): Promise<number | undefined>;
  hostName(node: string): string;
  endpoint(): Endpoint;
  nodeEndpoint(node: string): Endpoint;
  waitEvent(
    since: number,
    what: string,
    timeoutMs: number,
    f: (e: EventRecord) => boolean,
  ): Promise<EventRecord>;
  close(failed: boolean): Promise<void>;
}

const PID_SCRIPT: Record<ClusterType, string> = {
  'mariadb-replication': 'cat /run/nines/mariadb.pid 2>/dev/null',
  galera: 'cat /run/nines/mariadb.pid 2>/dev/null',
  'postgres-streaming': 'head -n1 /var/lib/postgresql/*/main/postmaster.pid 2>/dev/null',
};

export async function healEnv(o: {
  type: ClusterType;
  name: string;
  nodes: readonly string[];
  proxies?: readonly string[];
  labHosts: number;
  options?: Record<string, unknown>;
  env?: Record<string, string>;
}): Promise<HealEnv> {
  const lab = await createTestLab(o.labHosts);
  let t: TestController | undefined;
  try {
    t = await startTestController(o.env ?? {});
    return await build(lab, t, o);
  } catch (err) {
    // A failed set-up leaves nothing running behind (the suite's after() has no env to close).
    await t?.close().catch(() => undefined);
    await lab.dispose({ keepLogsIn: `${process.cwd()}/.lab/logs` }).catch(() => undefined);
    throw err;
  }
}

async function build(lab: TestLab, t: TestController, o: Parameters<typeof healEnv>[0]): Promise<HealEnv> {
  await registerLabKey(t, lab.inventory);
  const raw = labSpec(lab.inventory, {
    name: o.name,
    type: o.type,
    nodes: o.nodes,
    ...(o.proxies ? { proxies: o.proxies } : {}),
    ...(o.options ? { options: o.options } : {}),
  });
  const spec = fullSpec(raw);
  const { job } = await t.api<{ job: { id: number } }>('POST', '/clusters', raw);
  const done = await t.waitJob(job.id, 300_000);
  assert.equal(done.state, 'succeeded', t.jobLog(job.id));
  await createAppUser(lab.inventory, spec, storedTopology(t, spec));
  const hosts = labHostAccess(lab.inventory);
  const addressOf = (node: string): string =>
    node.includes(':') ? node.slice(0, node.lastIndexOf(':')) : node;
  const events = (since: number, type?: string): EventRecord[] =>
    t.controller.store.events
      .list({ cluster: o.name, since, limit: 2000 })
      .filter((e) => type === undefined || e.type === type);
  const timeline = (since: number): string =>
    events(since)
      .map((e) => `${new Date(e.time).toISOString()} ${e.type}: ${e.message}`)
      .join('\n');
  const sh = async (host: string, script: string) => {
    const r = await hosts
      .executor(addressOf(host))
      .exec(['sh', '-c', script], { sudo: true, check: false, timeoutMs: 30_000 });
    return { code: r.exitCode, stdout: r.stdout, stderr: r.stderr };
  };
  const serverPid = async (node: string): Promise<number | undefined> => {
    const r = await sh(
      node,
      `pid=$(${PID_SCRIPT[o.type]}) && [ -n "$pid" ] && kill -0 "$pid" && echo "$pid"`,
    );
    const pid = Number(r.stdout.trim());
    return r.code === 0 && pid > 0 ? pid : undefined;
  };
  const db = (node: string): Endpoint => ({
    type: o.type,
    host: addressOf(node),
    port: Number(node.split(':').pop()),
    user: 'nines_admin',
    password: spec.credentials.admin,
    database: APP.database,
  });
  return {
    lab,
    t,
    spec,
    hosts,
    events,
    lastEventId: () => t.controller.store.events.lastId(),
    timeline,
    sh,
    serverPid,
    async killServer(node) {
      const pid = await serverPid(node);
      assert.ok(pid, `${node}: its server runs before the kill`);
      const r = await sh(node, `kill -KILL ${pid}`);
      assert.equal(r.code, 0, r.stderr);
    },
    hostName(node) {
      const h = lab.inventory.hosts.find((x) => x.address === addressOf(node));
      assert.ok(h, `no lab host for ${node}`);
      return h.name;
    },
    endpoint() {
      const ep = spec.endpoint;
      assert.ok(ep, 'the spec has an endpoint');
      return {
        type: o.type,
        host: ep.proxies[0] as string,
        port: ep.writePort,
        user: APP.user,
        password: APP.password,
        database: APP.database,
      };
    },
    nodeEndpoint: db,
    async waitEvent(since, what, timeoutMs, f) {
      return poll(what, timeoutMs, () => Promise.resolve(events(since).find(f))).catch((err: unknown) => {
        throw new Error(`${(err as Error).message}\n${timeline(since)}`, { cause: err });
      });
    },
    async close(failed) {
      await hosts.close();
      await t.close();
      await lab.dispose(failed ? { keepLogsIn: `${process.cwd()}/.lab/logs` } : {});
    },
  };
}
