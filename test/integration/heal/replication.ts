// Self-healing of MariaDB replication and PostgreSQL streaming clusters through the real controller: a killed
// replica/standby server is started again and replicates, a lock and maintenance keep nines' hands off, a server
// that cannot start is retried a bounded number of times then alarmed with its log line, a crashed and
// restarted host gets its server started, and (MariaDB) a primary restarted read-only is made writable again.
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ClusterType } from '../../../src/core/spec.ts';
import { startServer } from '../../../src/engines/mysql/host.ts';
import { labFault } from '../../../src/lab/index.ts';
import { ms, poll } from '../deploy/helpers.ts';
import { createLoadTable, presentIds, startWriteLoad } from '../../support/write-load.ts';
import { healEnv, type HealEnv } from './helpers.ts';

const BROKEN: Record<string, { path: string; content: string; log: RegExp }> = {
  'mariadb-replication': {
    path: '/etc/mysql/mariadb.conf.d/99-test-broken.cnf',
    content: '[mariadbd]\nno_such_option_nines_test = 1\n',
    log: /unknown variable 'no_such_option_nines_test/,
  },
  'postgres-streaming': {
    path: '/etc/postgresql/15/main/conf.d/99-test-broken.conf',
    content: 'no_such_setting_nines_test = 1\n',
    // PostgreSQL logs the parameter as LOG, then FATAL naming the file.
    log: /99-test-broken\.conf" contains errors|unrecognized configuration parameter/,
  },
};

export function replicationHealSuite(o: {
  type: ClusterType;
  name: string;
  options: Record<string, unknown>;
}) {
  describe(`${o.type}: self-healing of crashed servers`, { timeout: ms(900_000) }, () => {
    let h: HealEnv;
    let failed = false;
    let nextId = 1;
    const primary = (): string => {
      const p = h.t.controller.store.inventory.listNodes(o.name).find((n) => n.role === 'primary');
      assert.ok(p, 'a primary in the inventory');
      return `${p.host}:${p.port}`;
    };
    const replicas = (): string[] =>
      h.t.controller.store.inventory
        .listNodes(o.name)
        .filter((n) => n.role === 'replica')
        .map((n) => `${n.host}:${n.port}`);
    /** A write on the primary reaches `node` (it replicates). */
    const replicates = async (node: string): Promise<void> => {
      const load = startWriteLoad(h.nodeEndpoint(primary()), {
        rate: 20,
        maxMs: ms(10_000),
        firstId: nextId,
      });
      nextId += 1_000_000;
      await poll('a write on the primary', 10_000, () =>
        Promise.resolve(load.acked.length > 0 ? true : undefined),
      );
      const id = ((await load.stop()).acked[0] as { id: number }).id;
      await poll(`write ${id} on ${node}`, 20_000, async () =>
        (await presentIds(h.nodeEndpoint(node)).catch(() => new Set<number>())).has(id) ? true : undefined,
      );
    };
    const restarted = (since: number, node: string, timeoutMs = 30_000) =>
      h.waitEvent(
        since,
        `${node} restarted`,
        timeoutMs,
        (e) => e.type === 'node.restarted' && e.data.node === node,
      );

    before(async () => {
      h = await healEnv({
        type: o.type,
        name: o.name,
        nodes: ['h1', 'h2', 'h3'],
        labHosts: 3,
        options: o.options,
      });
      await createLoadTable(h.nodeEndpoint(primary()));
    });
    afterEach((ctx) => {
      if ((ctx as unknown as { passed?: boolean }).passed === false) failed = true;
    });
    after(async () => {
      await h?.close(failed);
    });

    test("a replica's server killed: nines starts it again and it replicates", async () => {
      const node = replicas()[0] as string;
      const since = h.lastEventId();
      const killedAt = Date.now();
      await h.killServer(node);
      const e = await restarted(since, node);
      const backMs = Date.parse(e.time) - killedAt;
      console.error(`# ${o.type}: replica killed -> restarted in ${backMs} ms (${e.message})`);
      assert.ok(backMs < ms(10_000), `restarted ${backMs} ms after the kill\n${h.timeline(since)}`);
      await replicates(node);
      assert.equal(primary(), primary(), 'the primary did not change');
      assert.deepEqual(h.events(since, 'failover.detected'), [], 'no failover for a replica');
    });

    test('a locked node is not started, in maintenance neither; unlocked, it is', async () => {
      const node = replicas()[1] as string;
      const host = node.slice(0, node.lastIndexOf(':'));
      const since = h.lastEventId();
      const lock = await h.t.cli(['node', 'lock', o.name, '--host', host, '--reason', 'disk swap']);
      assert.equal(lock.code, 0, lock.stderr);
      assert.match(lock.stdout, new RegExp(node.replaceAll('.', '\\.')));
      await h.killServer(node);
      const held = await h.waitEvent(
        since,
        'the restart held',
        20_000,
        (e) => e.type === 'node.restart-held' && e.data.node === node,
      );
      assert.match(held.message, /locked/);
      const m = await h.t.cli([
        'maintenance',
        'on',
        o.name,
        '--node',
        host,
        '--until',
        '10m',
        '--reason',
        'test',
      ]);
      assert.equal(m.code, 0, m.stderr);
      const unlock = await h.t.cli(['node', 'unlock', o.name, '--host', host]);
      assert.equal(unlock.code, 0, unlock.stderr);
      await h.waitEvent(
        since,
        'held for maintenance',
        20_000,
        (e) => e.type === 'node.restart-held' && /maintenance/.test(e.message),
      );
      const until = Date.now() + ms(4000);
      await poll('4 s with the node down', 10_000, () =>
        Promise.resolve(Date.now() >= until ? true : undefined),
      );
      assert.equal(await h.serverPid(node), undefined, 'nothing started it');
      assert.deepEqual(h.events(since, 'node.restarting'), [], h.timeline(since));
      const off = await h.t.cli(['maintenance', 'off', o.name, '--node', host]);
      assert.equal(off.code, 0, off.stderr);
      await restarted(since, node);
      await replicates(node);
    });

    test('a server that cannot start: bounded retries, then a critical alarm with its log line; the rest undisturbed', async () => {
      const node = replicas()[0] as string;
      const broken = BROKEN[o.type];
      assert.ok(broken);
      const since = h.lastEventId();
      await h.sh(node, `printf '%s' '${broken.content}' > ${broken.path}`);
      try {
        await h.killServer(node);
        const alarm = await h.waitEvent(
          since,
          'the node-start-failed alarm',
          90_000,
          (e) => e.type === 'alarm.raised' && e.data.rule === 'node-start-failed',
        );
        assert.match(alarm.message, broken.log, h.timeline(since));
        const failures = (): number => h.events(since, 'node.restart-failed').length;
        assert.equal(failures(), 4, h.timeline(since));
        const until = Date.now() + ms(5000);
        await poll('5 s more', 10_000, () => Promise.resolve(Date.now() >= until ? true : undefined));
        assert.equal(failures(), 4, 'no further attempt soon after the alarm');
        await replicates(replicas().find((r) => r !== node) as string);
      } finally {
        await h.sh(node, `rm -f ${broken.path}`);
      }
      // The operator fixed it; a lock and unlock hands it back to self-healing, which starts it at once.
      const host = node.slice(0, node.lastIndexOf(':'));
      await h.t.api('POST', `/clusters/${o.name}/nodes/lock`, { host });
      await h.waitEvent(
        since,
        'held',
        20_000,
        (e) => e.type === 'node.restart-held' && /locked/.test(e.message),
      );
      await h.t.api('POST', `/clusters/${o.name}/nodes/unlock`, { host });
      await restarted(since, node);
      await h.waitEvent(
        since,
        'the alarm cleared',
        20_000,
        (e) => e.type === 'alarm.cleared' && e.data.rule === 'node-start-failed',
      );
      await replicates(node);
    });

    test('a replica host crashes and restarts: nines starts its server and it replicates', async () => {
      const node = replicas()[1] as string;
      const since = h.lastEventId();
      await labFault(h.lab.inventory.name, h.hostName(node), 'crash');
      await h.waitEvent(
        since,
        'held while the host is down',
        30_000,
        (e) => e.type === 'node.restart-held' && e.data.node === node,
      );
      await labFault(h.lab.inventory.name, h.hostName(node), 'restart');
      await restarted(since, node, 60_000);
      await replicates(node);
    });

    if (o.type === 'mariadb-replication') {
      test('the primary restarted before any failover comes back read-only: nines makes it writable again', async () => {
        const p = primary();
        const since = h.lastEventId();
        const off = await h.t.cli(['recovery', 'off', o.name]);
        assert.equal(off.code, 0, off.stderr);
        await h.killServer(p);
        await startServer(h.hosts.executor(p.slice(0, p.lastIndexOf(':'))), { readyTimeoutMs: ms(60_000) });
        const ro = await h.sh(p, "mariadb -N -e 'SELECT @@read_only'");
        assert.equal(ro.stdout.trim(), '1', 'it came back read-only (its config)');
        await h.waitEvent(
          since,
          'held: recovery off',
          20_000,
          (e) => e.type === 'node.reopen-held' && /off/.test(e.message),
        );
        const on = await h.t.cli(['recovery', 'on', o.name]);
        assert.equal(on.code, 0, on.stderr);
        const e = await h.waitEvent(since, 'reopened', 20_000, (x) => x.type === 'node.reopened');
        assert.equal(e.data.node, p);
        assert.equal((await h.sh(p, "mariadb -N -e 'SELECT @@read_only'")).stdout.trim(), '0');
        assert.equal(primary(), p);
        for (const r of replicas()) await replicates(r);
        assert.deepEqual(h.events(since, 'failover.detected'), [], h.timeline(since));
      });
    }
  });
}
