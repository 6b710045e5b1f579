// One scenario per cluster type, through the real controller: deploy 3 nodes + 1 proxy host; write through the
// endpoint's write port and read the row on every node directly; replicas refuse writes; the read port
// serves reads from a non-writer; import after deleting from the inventory gives the same topology; add then
// remove a node with the endpoint following. `via: 'cli'` drives it with the nines CLI, `'api'` with the HTTP API.
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ClusterSpec, ClusterType } from '../../../src/core/spec.ts';
import { createTestLab, type TestLab } from '../../../src/lab/index.ts';
import {
  LOGS,
  address,
  appQuery,
  createAppUser,
  fullSpec,
  haproxyServers,
  labSpec,
  registerLabKey,
  ms,
  nodeQuery,
  poll,
  refusedWrite,
  startTestController,
  storedRoles,
  storedTopology,
  whoAnswers,
  writeSpecFile,
  type TestController,
} from './helpers.ts';

export interface ScenarioOptions {
  readonly type: ClusterType;
  readonly name: string;
  readonly via: 'cli' | 'api';
  readonly options?: Record<string, unknown>;
}

interface JobRef {
  job: { id: number };
}

export function typeScenario(o: ScenarioOptions): void {
  describe(`${o.type} through the controller (${o.via})`, { timeout: ms(900_000) }, () => {
    let lab: TestLab;
    let t: TestController;
    let raw: Record<string, unknown>;
    let spec: ClusterSpec;
    let specFile: string;
    let failed = false;

    const submit = async (what: 'create' | 'import'): Promise<number> => {
      if (o.via === 'cli') {
        const r = await t.cli(['cluster', what, '-f', specFile, '--wait']);
        assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
        assert.match(r.stdout, new RegExp(`cluster\\.${what} succeeded`));
        const m = new RegExp(`job (\\d+) cluster\\.${what} succeeded`).exec(r.stdout);
        return Number(m?.[1]);
      }
      const { job } = await t.api<JobRef>('POST', what === 'import' ? '/clusters/import' : '/clusters', raw);
      const done = await t.waitJob(job.id);
      assert.equal(done.state, 'succeeded', `${JSON.stringify(done.error)}\n${t.jobLog(job.id)}`);
      return job.id;
    };

    const nodeJob = async (
      args: readonly string[],
      body: () => Promise<JobRef>,
    ): Promise<{ state: string; code?: string; log: string }> => {
      if (o.via === 'cli') {
        const r = await t.cli([...args, '--wait']);
        const m = /job (\d+) node\.\w+ (\w+)/.exec(r.stdout);
        const id = Number(m?.[1]);
        const job = t.controller.store.jobs.mustGet(id);
        return {
          state: job.state,
          ...(job.error ? { code: job.error.code } : {}),
          log: `${r.stdout}\n${r.stderr}`,
        };
      }
      const { job } = await body();
      const done = await t.waitJob(job.id);
      return { state: done.state, ...(done.error ? { code: done.error.code } : {}), log: t.jobLog(job.id) };
    };

    before(async () => {
      lab = await createTestLab(5);
      t = await startTestController();
      await registerLabKey(t, lab.inventory, o.via);
      raw = labSpec(lab.inventory, {
        name: o.name,
        type: o.type,
        nodes: ['h1', 'h2', 'h3'],
        proxies: ['h4'],
        ...(o.options ? { options: o.options } : {}),
      });
      spec = fullSpec(raw);
      specFile = writeSpecFile(t, raw);
    });
    afterEach((ctx) => {
      if ((ctx as unknown as { passed?: boolean }).passed === false) failed = true;
    });
    after(async () => {
      await t?.close();
      await lab?.dispose(failed ? { keepLogsIn: LOGS } : {});
    });

    test('deploy: 3 nodes + 1 proxy host, healthy, roles stored', async () => {
      const started = Date.now();
      const id = await submit('create');
      console.error(
        `# ${o.type}: cluster.create through the controller in ${((Date.now() - started) / 1000).toFixed(1)} s`,
      );
      const cluster = t.controller.store.inventory.getCluster(o.name);
      assert.equal(cluster?.state, 'healthy', t.jobLog(id));
      const roles = storedRoles(t, o.name).map((l) => l.split(' ')[1]);
      if (o.type === 'galera') assert.deepEqual(roles, ['member', 'member', 'member']);
      else assert.deepEqual(roles.sort(), ['primary', 'replica', 'replica']);
      assert.ok(t.controller.store.inventory.getEndpoint(o.name), 'endpoint stored');
    });

    test('write through the endpoint, read on every node, replicas refuse writes, reads on the read port', async () => {
      const ep = spec.endpoint;
      assert.ok(ep);
      const proxy = address(lab.inventory, 'h4');
      await createAppUser(lab.inventory, spec, storedTopology(t, spec));
      await appQuery(o.type, proxy, ep.writePort, 'CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(50))');
      await appQuery(o.type, proxy, ep.writePort, "INSERT INTO t (id, v) VALUES (1, 'through the endpoint')");
      for (const n of spec.nodes) {
        const v = await poll(`row on ${n.host}`, 10_000, async () => {
          const rows = await nodeQuery(spec, n.host, n.port, 'SELECT v FROM t WHERE id = 1');
          return rows[0]?.v as string | undefined;
        });
        assert.equal(v, 'through the endpoint');
      }
      const writer = t.controller.store.inventory.listNodes(o.name).find((n) => n.role === 'primary');
      if (o.type !== 'galera') {
        for (const n of spec.nodes.filter((x) => x.host !== writer?.host)) {
          const refused = await refusedWrite(spec, n.host, n.port);
          assert.match(refused, /errno 1290|sqlstate 25006/, `${n.host} refuses writes`);
        }
      }
      const writerHost = await whoAnswers(o.type, proxy, ep.writePort);
      const reader = await whoAnswers(o.type, proxy, ep.readPort);
      assert.notEqual(reader, writerHost, 'the read port is served by a node other than the writer');
      if (writer) assert.equal(writerHost, writer.host, 'the write port reaches the primary');
    });

    test('import: deleted from the inventory, imported again, same topology', async () => {
      const before = storedRoles(t, o.name);
      const { job } = await t.api<JobRef>('DELETE', `/clusters/${o.name}?confirm=${o.name}`);
      assert.equal((await t.waitJob(job.id)).state, 'succeeded');
      assert.equal(t.controller.store.inventory.hasCluster(o.name), false);
      await submit('import');
      assert.deepEqual(storedRoles(t, o.name), before);
      assert.equal(t.controller.store.inventory.getCluster(o.name)?.state, 'healthy');
    });

    test('add a node, then remove it: the endpoint follows', async () => {
      const h5 = address(lab.inventory, 'h5');
      const port = spec.nodes[0]?.port ?? 0;
      const server = `${h5}:${port}`;
      const proxy = address(lab.inventory, 'h4');
      const added = await nodeJob(['node', 'add', o.name, '--host', h5], () =>
        t.api<JobRef>('POST', `/clusters/${o.name}/nodes`, { host: h5 }),
      );
      assert.equal(added.state, 'succeeded', added.log);
      assert.ok(
        storedRoles(t, o.name).some((l) => l.startsWith(`${server} `)),
        'node stored',
      );
      const withNode = await haproxyServers(lab.inventory, proxy);
      assert.ok(withNode.includes(`read/${server} ready`), withNode.join('\n'));
      assert.ok(
        withNode.some((l) => l.startsWith(`write/${server} `)),
        withNode.join('\n'),
      );
      const v = await poll('row on the new node', 20_000, async () => {
        const rows = await nodeQuery(spec, h5, port, 'SELECT v FROM t WHERE id = 1');
        return rows[0]?.v as string | undefined;
      });
      assert.equal(v, 'through the endpoint');

      const removed = await nodeJob(['node', 'remove', o.name, '--host', h5], () =>
        t.api<JobRef>('DELETE', `/clusters/${o.name}/nodes/${h5}`),
      );
      assert.equal(removed.state, 'succeeded', removed.log);
      assert.ok(
        !storedRoles(t, o.name).some((l) => l.startsWith(`${server} `)),
        'node gone from the inventory',
      );
      const without = await haproxyServers(lab.inventory, proxy);
      assert.ok(!without.some((l) => l.includes(server)), without.join('\n'));

      if (o.type !== 'galera') {
        const primary = spec.nodes[0]?.host ?? '';
        const refused = await nodeJob(['node', 'remove', o.name, '--host', primary], () =>
          t.api<JobRef>('DELETE', `/clusters/${o.name}/nodes/${primary}`),
        );
        assert.equal(refused.state, 'failed');
        assert.equal(refused.code, 'NINES_E_REMOVE_REFUSED', refused.log);
        assert.equal(storedRoles(t, o.name).length, 3, 'nothing changed');
      }
    });
  });
}
