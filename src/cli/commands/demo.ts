// `nines demo`: the README's main command. Brings up lab hosts on this machine (3 database nodes + 2 proxies),
// starts a controller in this process, deploys a cluster through the controller's job (its log is shown
// live), creates an application user, prints how to connect through the endpoint, and serves the API until
// Ctrl-C. Re-running it reuses the lab and the demo cluster if the monitor sees it healthy now (a stored
// "healthy" is not a fact), deploys again a cluster that is not, and deploys afresh when the lab was recreated.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { NinesError } from '../../core/errors.ts';
import {
  CLUSTER_TYPES,
  CLUSTER_TYPE_INFO,
  validateSpec,
  type ClusterSpec,
  type ClusterType,
} from '../../core/spec.ts';
import type { Topology } from '../../core/topology.ts';
import { loadConfig } from '../../controller/config.ts';
import { Controller } from '../../controller/controller.ts';
import { buildApp } from '../../api/app.ts';
import { ensureAppUser } from '../../engines/registry.ts';
import { defaultSshPool } from '../../hosts/ssh-pool.ts';
import { findInventory, labStatus, labUp, type LabInventory } from '../../lab/index.ts';
import { ApiClient } from '../client.ts';
import { exitCodeFor, followJob, type JobView } from '../job-progress.ts';
import type { CommandGroup } from '../main.ts';
import { EXIT, UsageError } from '../output.ts';

const DEMO_LAB = 'demo';
const DEMO_DATA_DIR = '/var/lib/nines/demo';
const DB_HOSTS = 3;
const PROXY_HOSTS = 2;
/** The demo's passwords are meant to be seen: it runs on lab hosts that nothing outside this machine reaches. */
const DEMO_CREDENTIALS = {
  admin: 'demo-admin-password',
  replication: 'demo-replication-password',
  monitor: 'demo-monitor-password',
};
const APP = { user: 'app', password: 'demo-app-password', database: 'app' };

/** How a client connects, per type (data, not branching). */
const CLIENTS: Readonly<Record<ClusterType, (host: string, port: number) => string>> = {
  'mariadb-replication': (h, p) => `mariadb -h ${h} -P ${p} -u ${APP.user} -p${APP.password} ${APP.database}`,
  galera: (h, p) => `mariadb -h ${h} -P ${p} -u ${APP.user} -p${APP.password} ${APP.database}`,
  'postgres-streaming': (h, p) =>
    `psql "host=${h} port=${p} user=${APP.user} password=${APP.password} dbname=${APP.database}"`,
};
const SHORT: Readonly<Record<ClusterType, string>> = {
  'mariadb-replication': 'mariadb',
  galera: 'galera',
  'postgres-streaming': 'postgres',
};

const help = `nines demo — deploy a database cluster with its endpoint on lab hosts of this machine

Usage:
  nines demo [--type TYPE] [--name LAB] [--data-dir DIR] [--listen HOST:PORT] [--no-serve]

  --type TYPE        mariadb-replication (default), galera or postgres-streaming
  --name LAB         lab name (default "${DEMO_LAB}" for mariadb-replication, "${DEMO_LAB}-TYPE" otherwise:
                     one lab per type, as two clusters cannot share one database port)
  --data-dir DIR     controller data directory (default ${DEMO_DATA_DIR}/LAB)
  --listen HOST:PORT API address (default 127.0.0.1:8456, or any free port when that one is taken)
  --no-serve         exit once the cluster is healthy instead of serving the API until Ctrl-C

Brings up lab LAB with ${DB_HOSTS + PROXY_HOSTS} hosts (h1-h${DB_HOSTS}: database nodes, h${DB_HOSTS + 1}-h${DB_HOSTS + PROXY_HOSTS}: HAProxy + Keepalived
with a virtual IP .100 of the lab subnet), starts a controller in this process, deploys the cluster through
its cluster.create job (each step is shown as it runs), creates the application user "${APP.user}" and prints
how to connect. Re-running reuses the lab, and the cluster when the monitor sees it healthy right now;
otherwise it deploys the cluster again (a failed deploy is finished), and afresh when the lab was removed
and created again since the cluster was deployed. Needs root. Ctrl-C stops the controller; the lab stays
up: remove it with "nines lab down --name LAB" (the next demo then deploys on a new lab).`;

interface DemoOptions {
  readonly type: ClusterType;
  readonly lab: string;
  readonly dataDir: string;
  readonly listen: string | undefined;
  readonly serve: boolean;
}

function parseOptions(args: readonly string[]): DemoOptions {
  let values: { type?: string; name?: string; 'data-dir'?: string; listen?: string; 'no-serve'?: boolean };
  try {
    ({ values } = parseArgs({
      args: [...args],
      options: {
        type: { type: 'string', default: 'mariadb-replication' },
        name: { type: 'string' },
        'data-dir': { type: 'string' },
        listen: { type: 'string' },
        'no-serve': { type: 'boolean', default: false },
      },
      strict: true,
    }));
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  const type = values.type as ClusterType;
  if (!CLUSTER_TYPES.includes(type)) {
    throw new UsageError(`--type: expected one of ${CLUSTER_TYPES.join(', ')}, got '${values.type ?? ''}'`);
  }
  const lab = values.name ?? (type === 'mariadb-replication' ? DEMO_LAB : `${DEMO_LAB}-${SHORT[type]}`);
  return {
    type,
    lab,
    dataDir: values['data-dir'] ?? join(DEMO_DATA_DIR, lab),
    listen: values.listen,
    serve: !values['no-serve'],
  };
}

async function ensureLab(name: string): Promise<LabInventory> {
  const hosts = DB_HOSTS + PROXY_HOSTS;
  const existing = findInventory(name);
  if (existing) {
    if (existing.hosts.length < hosts) {
      throw new NinesError(
        'NINES_E_LAB_EXISTS',
        `lab '${name}' has ${existing.hosts.length} hosts, the demo needs ${hosts}`,
        {
          hint: `Remove it with "nines lab down --name ${name}" (or pick another with --name) and run the demo again.`,
        },
      );
    }
    const [status] = await labStatus(name);
    if (status && status.hosts.every((h) => h.state === 'up')) {
      console.log(`lab '${name}' is already up; reusing it`);
      return existing;
    }
  }
  console.log(`bringing up lab '${name}' with ${hosts} hosts ...`);
  return labUp({ name, hosts });
}

/** The name the demo registers the lab's SSH key under. */
function demoKeyName(lab: string): string {
  return `lab-${lab}`;
}

/**
 * Registers the lab's private key with the controller through the API (the same key again is a no-op; a lab
 * brought up again has a new key, which replaces the old one under the same name).
 */
async function registerLabKey(client: ApiClient, inv: LabInventory): Promise<void> {
  const res = await client.request<{ action: string; key: { fingerprint: string } }>('POST', '/keys', {
    name: demoKeyName(inv.name),
    privateKey: readFileSync(inv.privateKeyPath, 'utf8'),
    replace: true,
  });
  if (res.action !== 'unchanged')
    console.log(`SSH key ${demoKeyName(inv.name)} ${res.action} (${res.key.fingerprint})`);
}

const DEMO_OPTIONS: Readonly<Record<ClusterType, Record<string, unknown>>> = {
  'mariadb-replication': { semiSync: true },
  galera: { sstMethod: 'rsync', gcacheSize: '64M' },
  'postgres-streaming': { synchronous: true },
};

function demoSpec(type: ClusterType, inv: LabInventory): ClusterSpec {
  const address = (i: number): string => inv.hosts[i]?.address ?? '';
  const vip = inv.controllerAddress.replace(/\.\d+$/, '.100');
  return validateSpec({
    name: `demo-${SHORT[type]}`,
    type,
    nodes: [0, 1, 2].map((i) => ({
      host: address(i),
      ...(i === 0 && type !== 'galera' ? { role: 'primary' } : {}),
    })),
    ssh: { user: inv.sshUser, key: demoKeyName(inv.name) },
    credentials: DEMO_CREDENTIALS,
    // Commits acknowledged by a replica: automatic failover can prove it loses no acknowledged write.
    options: DEMO_OPTIONS[type],
    endpoint: { proxies: [address(3), address(4)], virtualIp: vip },
  }).spec;
}

async function startController(
  o: DemoOptions,
): Promise<{ controller: Controller; url: string; stop(): Promise<void> }> {
  mkdirSync(o.dataDir, { recursive: true, mode: 0o700 });
  const env = { ...process.env, NINES_LOG_LEVEL: process.env.NINES_LOG_LEVEL ?? 'warn' };
  const config = loadConfig({
    env,
    overrides: { dataDir: o.dataDir, ...(o.listen ? { listen: o.listen } : {}) },
  });
  const controller = Controller.open({ config });
  const app = buildApp(controller);
  controller.start();
  const [host, port] = [config.listen.replace(/:\d+$/, ''), Number(/:(\d+)$/.exec(config.listen)?.[1])];
  try {
    await app.listen({ host, port }).catch(async (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EADDRINUSE' || o.listen) throw err;
      await app.listen({ host, port: 0 });
    });
  } catch (err) {
    await controller.close(0);
    throw new NinesError('NINES_E_LISTEN', `${config.listen}: ${(err as Error).message}`, { cause: err });
  }
  const bound = app.server.address();
  const url = `http://${host}:${typeof bound === 'object' && bound ? bound.port : port}`;
  return {
    controller,
    url,
    stop: async () => {
      await app.close();
      await controller.close();
    },
  };
}

/** How long the monitor gets to see a stored cluster healthy before the demo deploys it again. */
const VERIFY_MS = 5000;

/**
 * The monitor's view of a cluster from an observation made after `since`: as soon as it is healthy, or the
 * last one at the deadline (state "unknown" when none came).
 */
async function observedHealth(
  controller: Controller,
  name: string,
  since: number,
): Promise<{ state: string; reason: string }> {
  const deadline = Date.now() + VERIFY_MS;
  let seen = { state: 'unknown', reason: `no observation within ${VERIFY_MS / 1000} s` };
  for (;;) {
    const view = controller.monitor.status(name);
    if (view.time !== null && Date.parse(view.time) >= since) {
      seen = { state: view.state, reason: view.reason };
      if (view.state === 'healthy') return seen;
    }
    if (Date.now() >= deadline) return seen;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Removes the cluster from the controller's inventory (the cluster.delete job: no host is touched). */
async function forgetCluster(client: ApiClient, name: string): Promise<void> {
  const res = await client.request<{ job: JobView }>(
    'DELETE',
    `/clusters/${encodeURIComponent(name)}?confirm=${encodeURIComponent(name)}`,
  );
  const final = await followJob(client, res.job.id, { logs: false });
  if (final.state !== 'succeeded') {
    throw new NinesError('NINES_E_COMMAND_FAILED', `removing the stale cluster ${name}: job ${final.state}`, {
      hint: `Remove it with "nines cluster delete ${name}" and run the demo again.`,
    });
  }
}

/**
 * Whether the stored cluster can be reused as it is. A cluster stored before this lab was created lived on
 * hosts that are gone: its inventory is removed (the caller deploys afresh). A stored "healthy" is only
 * reused when the monitor sees it healthy now; otherwise it is marked failed so the deploy runs again.
 */
async function reusable(
  client: ApiClient,
  controller: Controller,
  spec: ClusterSpec,
  lab: LabInventory,
  since: number,
): Promise<boolean> {
  const existing = controller.store.inventory.getCluster(spec.name);
  if (!existing) return false;
  if (Date.parse(lab.createdAt) > Date.parse(existing.createdAt)) {
    console.log(
      `cluster ${spec.name} was deployed on an earlier lab '${lab.name}' (stored ${existing.createdAt}, ` +
        `this lab was created ${lab.createdAt}): removing its stale inventory and deploying afresh`,
    );
    await forgetCluster(client, spec.name);
    return false;
  }
  if (existing.state !== 'healthy') {
    console.log(`cluster ${spec.name} is ${existing.state}: deploying it again`);
    return false;
  }
  const seen = await observedHealth(controller, spec.name, since);
  if (seen.state === 'healthy') {
    console.log(`cluster ${spec.name} is healthy (the monitor sees it so now: ${seen.reason}); reusing it`);
    return true;
  }
  console.log(
    `cluster ${spec.name} is stored healthy, but the monitor sees it ${seen.state} now (${seen.reason}): deploying it again`,
  );
  const e = new NinesError('NINES_E_CLUSTER_UNHEALTHY', `${spec.name}: ${seen.state} (${seen.reason})`);
  controller.store.inventory.setClusterState(spec.name, 'failed', {
    error: { code: e.code, message: e.message, hint: e.hint },
  });
  return false;
}

/** Deploys the cluster unless the monitor sees the stored one healthy; see reusable(). */
async function ensureCluster(
  client: ApiClient,
  controller: Controller,
  spec: ClusterSpec,
  lab: LabInventory,
  since: number,
): Promise<number> {
  if (await reusable(client, controller, spec, lab, since)) return EXIT.OK;
  const res = await client.request<{ job: JobView }>('POST', '/clusters', spec);
  console.log(`job ${res.job.id} ${res.job.type}: deploying ${spec.type} cluster ${spec.name}\n`);
  const started = Date.now();
  const final = await followJob(client, res.job.id, { logs: true });
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  if (final.state !== 'succeeded') {
    console.log(`\njob ${final.id} ${final.state} after ${seconds} s`);
    if (final.error)
      console.log(`error ${final.error.code}: ${final.error.message}\nhint: ${final.error.hint}`);
    console.log('Run the demo again to retry: the deploy steps are idempotent.');
    return exitCodeFor(final);
  }
  console.log(`\ncluster ${spec.name} healthy in ${seconds} s`);
  return EXIT.OK;
}

async function createAppUser(controller: Controller, spec: ClusterSpec): Promise<void> {
  const topology: Topology = {
    type: spec.type,
    nodes: controller.store.inventory.listNodes(spec.name).map((n) => ({
      host: n.host,
      port: n.port,
      role: (n.role ?? 'unknown') as Topology['nodes'][number]['role'],
    })),
  };
  await ensureAppUser(controller.hosts.access(spec), spec, topology, APP);
}

function printAccess(o: DemoOptions, spec: ClusterSpec, url: string, specFile: string): void {
  const ep = spec.endpoint;
  const vip = ep?.virtualIp ?? '';
  const info = CLUSTER_TYPE_INFO[spec.type];
  const client = CLIENTS[spec.type];
  const env = `NINES_URL=${url} NINES_DATA_DIR=${o.dataDir}`;
  console.log(`
Cluster ${spec.name} (${spec.type}): nodes ${spec.nodes.map((n) => n.host).join(', ')}
Endpoint: HAProxy on ${ep?.proxies.join(', ') ?? '-'}, virtual IP ${vip} (Keepalived)

Connect through the endpoint (user "${APP.user}", database "${APP.database}"):
  writes (primary):      ${client(vip, ep?.writePort ?? info.writePort)}
  reads (replicas):      ${client(vip, ep?.readPort ?? info.readPort)}

Controller API: ${url}/api/v1   (token in ${join(o.dataDir, 'admin.token')})
  ${env} bin/nines cluster show ${spec.name}
  ${env} bin/nines job list
Spec (with the demo's admin credentials): ${specFile}
Break things:   bin/nines lab fault h1 crash --name ${o.lab}     (restart: ... h1 restart)
Remove the lab: bin/nines lab down --name ${o.lab}   (the next demo deploys on a new lab; rm -rf ${o.dataDir} forgets the controller's data too)`);
}

function waitForSignal(): Promise<string> {
  return new Promise((resolve) => {
    const on = (signal: string): void => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      resolve(signal);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}

async function run(args: readonly string[]): Promise<number> {
  const o = parseOptions(args);
  const inv = await ensureLab(o.lab);
  const spec = demoSpec(o.type, inv);
  const specFile = join(o.dataDir, `${spec.name}.yaml`);
  const since = Date.now();
  const ctl = await startController(o);
  try {
    writeFileSync(specFile, stringify(spec), { mode: 0o600 });
    console.log(`controller on ${ctl.url} (data directory ${o.dataDir})`);
    const client = new ApiClient({ url: ctl.url, token: demoToken(ctl.controller, o.dataDir) });
    await registerLabKey(client, inv);
    const code = await ensureCluster(client, ctl.controller, spec, inv, since);
    if (code !== EXIT.OK) return code;
    await createAppUser(ctl.controller, spec);
    printAccess(o, spec, ctl.url, specFile);
    if (!o.serve) return EXIT.OK;
    console.log('\nServing the API until Ctrl-C ...');
    const signal = await waitForSignal();
    console.log(`\n${signal}: stopping the controller (the lab stays up)`);
    return EXIT.OK;
  } finally {
    await ctl.stop();
    // Connections other parts of the process opened on the shared pool keep it alive otherwise.
    await defaultSshPool.closeAll();
  }
}

/** The admin token of the demo's data directory (written at the controller's first start). */
function demoToken(controller: Controller, dataDir: string): string {
  try {
    return readFileSync(join(dataDir, 'admin.token'), 'utf8').trim();
  } catch {
    return controller.store.tokens.create('demo', 'admin').token;
  }
}

export const group: CommandGroup = {
  summary: 'deploy a cluster with its endpoint on lab hosts and serve it',
  help,
  run,
};
