// Keepalived for real: HAProxy on two proxy hosts (h3, h4) in front of MariaDB (h1 primary, h2 replica), a VIP
// in the lab subnet held by exactly one of them; crashing the holder moves the VIP to the other, and the
// time until the VIP answers again is measured and printed.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createTestLab, labFault, tcpProbe, type TestLab } from '../../../src/lab/index.ts';
import { validateSpec } from '../../../src/core/spec.ts';
import type { ClusterSpec } from '../../../src/core/spec.ts';
import { deployEndpoint, holdsVip } from '../../../src/proxies/index.ts';
import { labEngineContext, labHostAccess, TIMEOUT_SCALE } from '../../support/lab-engine.ts';
import {
  hostnameVia,
  labAddress,
  pollUntil,
  privateProxyEtc,
  startMariadb,
} from '../../support/proxies-backends.ts';

const WRITE = 3307;
const READ = 3308;

describe('proxies: Keepalived VIP over two HAProxy hosts', { timeout: 300_000 * TIMEOUT_SCALE }, () => {
  let lab: TestLab;
  let hosts: ReturnType<typeof labHostAccess>;
  let spec: ClusterSpec;
  let vip: string;
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

  before(async () => {
    lab = await createTestLab(4);
    hosts = labHostAccess(lab.inventory);
    vip = lab.inventory.subnet.replace(/\.0\/24$/, '.200');
    await Promise.all(['h1', 'h2'].map((h, i) => startMariadb(hosts.executor(h), i + 1)));
    await Promise.all(['h3', 'h4'].map((h) => privateProxyEtc(hosts.executor(h))));
    spec = validateSpec({
      name: 'viptest',
      type: 'mariadb-replication',
      nodes: [{ host: a('h1'), role: 'primary' }, { host: a('h2') }],
      ssh: { key: 'lab' },
      credentials: { admin: 'admin-pass-1', replication: 'repl-pass-1', monitor: 'mon-pass-1' },
      endpoint: { proxies: [a('h3'), a('h4')], writePort: WRITE, readPort: READ, virtualIp: vip },
    }).spec;
  });

  after(async () => {
    await hosts?.close();
    await lab?.dispose(failed ? { keepLogsIn: '/tmp/nines-test-logs' } : {});
  });

  test(
    'the VIP is held by exactly one proxy and answers on the write and read ports',
    track(async () => {
      const topology = {
        type: 'mariadb-replication' as const,
        nodes: [
          { host: a('h1'), port: 3306, role: 'primary' as const },
          { host: a('h2'), port: 3306, role: 'replica' as const },
        ],
      };
      const res = await deployEndpoint(labEngineContext(lab.inventory, spec, hosts), topology);
      assert.equal(res.vipHolder, a('h3'), 'the first proxy (highest priority) takes the VIP');
      const held = await Promise.all(['h3', 'h4'].map((h) => holdsVip(hosts.executor(h), vip)));
      assert.deepEqual(held, [true, false]);
      assert.equal(
        await tcpProbe(vip, WRITE, 2000 * TIMEOUT_SCALE),
        'open',
        `TCP connect to ${vip}:${WRITE}`,
      );
      assert.equal(await hostnameVia(vip, WRITE), 'h1');
      assert.equal(await hostnameVia(vip, READ), 'h2');
    }),
  );

  test(
    'crash the VIP holder: the VIP answers from the other proxy within a few seconds',
    track(async () => {
      const started = Date.now();
      await labFault(lab.inventory.name, 'h3', 'crash');
      const crashMs = Date.now() - started;
      const tcpMs = await pollUntil(
        `a TCP connect to ${vip}:${WRITE}`,
        async () => (await tcpProbe(vip, WRITE, 200)) === 'open',
        15_000,
        20,
      );
      console.log(
        `VIP failover: TCP connect to ${vip}:${WRITE} works again ${crashMs + tcpMs} ms after the crash of the holder`,
      );
      assert.equal(await holdsVip(hosts.executor('h4'), vip), true);
      assert.equal(await hostnameVia(vip, WRITE), 'h1');
      assert.ok(crashMs + tcpMs < 10_000 * TIMEOUT_SCALE);
      assert.equal(await hostnameVia(vip, READ), 'h2');
    }),
  );
});
