// HAProxy for real: three MariaDB servers (h1 primary, h2 and h3 replicas) behind HAProxy on h4. The write
// port reaches the primary only, the read port the replicas; a lagging replica set to maint stops getting
// reads; setWriter moves writes within a second and cuts old sessions; the file on disk routes the same way
// after a restart; updateEndpoint applies a failover topology and a removed node.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createTestLab, type TestLab } from '../../../src/lab/index.ts';
import { validateSpec } from '../../../src/core/spec.ts';
import type { ClusterSpec } from '../../../src/core/spec.ts';
import type { Topology } from '../../../src/core/topology.ts';
import {
  deployEndpoint,
  readBackendStates,
  setServerState,
  setWriter,
  stopHaproxy,
  ensureHaproxy,
  updateEndpoint,
  HAPROXY_CONFIG_PATH,
  HAPROXY_STATS_PORT,
  haproxyStatsPassword,
} from '../../../src/proxies/index.ts';
import { labEngineContext, labHostAccess, TIMEOUT_SCALE } from '../../support/lab-engine.ts';
import {
  connectApp,
  hostnameVia,
  labAddress,
  pollUntil,
  privateProxyEtc,
  startMariadb,
  tryHostnameVia,
} from '../../support/proxies-backends.ts';

const WRITE = 3307;
const READ = 3308;
const MONITOR_PASSWORD = `mon #pa ss"'\\$HOME:x`;

describe('proxies: HAProxy endpoint over real MariaDB servers', { timeout: 300_000 * TIMEOUT_SCALE }, () => {
  let lab: TestLab;
  let hosts: ReturnType<typeof labHostAccess>;
  let spec: ClusterSpec;
  let proxy: string;
  let failed = false;
  /** Marks the file failed (its hosts' logs are then kept) when the test body throws. */
  const track = (fn: () => Promise<void>) => async (): Promise<void> => {
    try {
      await fn();
    } catch (err) {
      failed = true;
      throw err;
    }
  };
  const a = (name: string): string => labAddress(lab.inventory, name);
  const node = (name: string): string => `${a(name)}:3306`;
  const topology = (roles: Record<string, 'primary' | 'replica' | 'unknown'>): Topology => ({
    type: 'mariadb-replication',
    nodes: Object.entries(roles).map(([h, role]) => ({ host: a(h), port: 3306, role })),
  });
  const ctx = () => labEngineContext(lab.inventory, spec, hosts);
  async function readersSeen(n: number): Promise<Set<string>> {
    const seen = new Set<string>();
    for (let i = 0; i < n; i++) seen.add(await hostnameVia(proxy, READ));
    return seen;
  }

  before(async () => {
    lab = await createTestLab(4);
    hosts = labHostAccess(lab.inventory);
    proxy = a('h4');
    await Promise.all(['h1', 'h2', 'h3'].map((h, i) => startMariadb(hosts.executor(h), i + 1)));
    await privateProxyEtc(hosts.executor('h4'));
    spec = validateSpec({
      name: 'pxtest',
      type: 'mariadb-replication',
      nodes: [{ host: a('h1'), role: 'primary' }, { host: a('h2') }, { host: a('h3') }],
      ssh: { key: 'lab' },
      // A monitor password with every character haproxy.cfg treats specially (issue 8: it was written raw).
      credentials: { admin: 'admin-pass-1', replication: 'repl-pass-1', monitor: MONITOR_PASSWORD },
      endpoint: { proxies: [proxy], writePort: WRITE, readPort: READ },
    }).spec;
  });

  after(async () => {
    await hosts?.close();
    await lab?.dispose(failed ? { keepLogsIn: '/tmp/nines-test-logs' } : {});
  });

  test(
    'deploy: write port -> primary only; read port -> both replicas; second deploy changes nothing',
    track(async () => {
      const res = await deployEndpoint(ctx(), topology({ h1: 'primary', h2: 'replica', h3: 'replica' }));
      assert.equal(res.proxies[0]?.action, 'started');
      for (let i = 0; i < 5; i++) assert.equal(await hostnameVia(proxy, WRITE), 'h1');
      assert.deepEqual([...(await readersSeen(6))].sort(), ['h2', 'h3']);
      const again = await deployEndpoint(ctx(), topology({ h1: 'primary', h2: 'replica', h3: 'replica' }));
      assert.equal(again.proxies[0]?.action, 'unchanged');
      assert.deepEqual(again.proxies[0]?.commands, []);
    }),
  );

  test(
    'stats page: the derived password opens it, the monitor password does not',
    track(async () => {
      const stats = (password: string): Promise<number> =>
        fetch(`http://${proxy}:${HAPROXY_STATS_PORT}/;csv`, {
          headers: { authorization: `Basic ${Buffer.from(`nines:${password}`).toString('base64')}` },
          signal: AbortSignal.timeout(5000),
        }).then((r) => r.status);
      assert.equal(await stats(haproxyStatsPassword(spec)), 200);
      assert.equal(await stats(MONITOR_PASSWORD), 401);
      const cfg = await hosts.executor(proxy).exec(['cat', HAPROXY_CONFIG_PATH], { timeoutMs: 5000 });
      assert.equal(cfg.stdout.includes(MONITOR_PASSWORD), false, 'haproxy.cfg holds no database password');
    }),
  );

  test(
    'a replica set to maint (lag) stops receiving reads, and comes back when ready',
    track(async () => {
      await setServerState(hosts.executor(proxy), 'read', node('h2'), 'maint');
      const states = await readBackendStates(hosts.executor(proxy));
      assert.equal(states.find((s) => s.backend === 'read' && s.server === node('h2'))?.admin, 'maint');
      assert.deepEqual([...(await readersSeen(6))], ['h3']);
      await setServerState(hosts.executor(proxy), 'read', node('h2'), 'ready');
      await pollUntil('h2 back in the read rotation', async () => (await readersSeen(4)).has('h2'), 5000);
    }),
  );

  test(
    'setWriter moves writes within a second, shuts old sessions, and readBackendStates shows it',
    track(async () => {
      const old = await connectApp(proxy, WRITE);
      let oldClosed = false;
      old.on('error', () => (oldClosed = true)); // the connector reports the cut session as an 'error' event
      try {
        assert.deepEqual(await old.query('SELECT @@hostname AS h'), [{ h: 'h1' }]);
        const started = Date.now();
        const sent = await setWriter(hosts.executor(proxy), node('h2'));
        assert.deepEqual(sent, [
          `set server write/${node('h2')} state ready`,
          `set server write/${node('h1')} state maint`,
          `shutdown sessions server write/${node('h1')}`,
        ]);
        const ms = await pollUntil(
          'writes reach h2',
          async () => (await tryHostnameVia(proxy, WRITE)) === 'h2',
          1000,
        );
        console.log(
          `setWriter: writes reach the new writer ${Date.now() - started} ms after the call (poll ${ms} ms)`,
        );
        await pollUntil(
          'the session on the old writer is shut down',
          async () => {
            if (oldClosed) return true;
            return old.query('SELECT 1').then(
              () => false,
              () => true,
            );
          },
          2000,
        );
      } finally {
        old.destroy();
      }
      const states = await readBackendStates(hosts.executor(proxy));
      const write = Object.fromEntries(
        states.filter((s) => s.backend === 'write').map((s) => [s.server, s.admin]),
      );
      assert.deepEqual(write, { [node('h1')]: 'maint', [node('h2')]: 'ready', [node('h3')]: 'maint' });
    }),
  );

  test(
    'updateEndpoint with the failover topology: runtime + file; a restarted HAProxy routes the same way',
    track(async () => {
      const topo = topology({ h1: 'unknown', h2: 'primary', h3: 'replica' });
      const res = await updateEndpoint(ctx(), topo);
      assert.equal(res.view.writer, node('h2'));
      assert.equal(res.proxies[0]?.action, 'runtime');
      assert.deepEqual(res.proxies[0]?.commands, [`set server read/${node('h2')} state maint`]);
      assert.equal(await hostnameVia(proxy, WRITE), 'h2');
      assert.deepEqual([...(await readersSeen(4))], ['h3']);
      const file = (await hosts.executor(proxy).getFile(HAPROXY_CONFIG_PATH)).toString();
      assert.match(file, new RegExp(`server ${node('h2')} \\S+ check\\n`));
      // Restart HAProxy from the file alone: the runtime state is gone, the routing is not.
      await stopHaproxy(hosts.executor(proxy));
      assert.equal(await ensureHaproxy(hosts.executor(proxy), file, [WRITE, READ]), 'started');
      await pollUntil(
        'writes reach h2 after the restart',
        async () => (await tryHostnameVia(proxy, WRITE)) === 'h2',
        5000,
      );
      for (let i = 0; i < 3; i++) assert.equal(await hostnameVia(proxy, WRITE), 'h2');
      assert.deepEqual([...(await readersSeen(4))], ['h3']);
    }),
  );

  test(
    'no replica usable: the read port falls back to the primary',
    track(async () => {
      await updateEndpoint(ctx(), topology({ h1: 'unknown', h2: 'primary', h3: 'replica' }), {
        lagging: [node('h3')],
      });
      assert.deepEqual([...(await readersSeen(3))], ['h2']);
    }),
  );

  test(
    'a node removed from the spec: HAProxy reloads with the new server list',
    track(async () => {
      spec = { ...spec, nodes: spec.nodes.filter((n) => n.host !== a('h1')) };
      const res = await updateEndpoint(ctx(), topology({ h2: 'primary', h3: 'replica' }));
      assert.equal(res.proxies[0]?.action, 'reloaded');
      const servers = (await readBackendStates(hosts.executor(proxy))).map((s) => `${s.backend}/${s.server}`);
      assert.deepEqual(servers.sort(), [
        `read/${node('h2')}`,
        `read/${node('h3')}`,
        `write/${node('h2')}`,
        `write/${node('h3')}`,
      ]);
      assert.equal(await hostnameVia(proxy, WRITE), 'h2');
      await pollUntil('reads reach h3', async () => (await tryHostnameVia(proxy, READ)) === 'h3', 5000);
    }),
  );
});
