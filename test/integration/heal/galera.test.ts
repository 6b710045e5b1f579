// Galera self-healing through the real controller: a killed member rejoins by IST by itself, the endpoint's writer
// moves once (and stays) when its host crashes or is partitioned, and after a full crash of every host the
// cluster is recovered from the most advanced node with the same UUID and every acknowledged write — also with
// one host kept down; with two kept down nines refuses and says why.
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { labFault } from '../../../src/lab/index.ts';
import { currentWriter, parseShowStat } from '../../../src/proxies/index.ts';
import { ms, poll } from '../deploy/helpers.ts';
import {
  createLoadTable,
  longestGap,
  presentIds,
  startWriteLoad,
  type LoadResult,
} from '../../support/write-load.ts';
import { healEnv, type HealEnv } from './helpers.ts';

const NAME = 'healgal';

describe('galera: self-healing', { timeout: ms(1_200_000) }, () => {
  let h: HealEnv;
  let failed = false;
  let nextId = 1;
  const nodes = (): string[] => h.spec.nodes.map((n) => `${n.host}:${n.port}`);
  const status = async (node: string, name: string): Promise<string> =>
    (await h.sh(node, `mariadb -N -e "SHOW STATUS LIKE '${name}'" | cut -f2`)).stdout.trim();
  const synced = async (node: string): Promise<boolean> =>
    (await status(node, 'wsrep_local_state_comment').catch(() => '')) === 'Synced' &&
    (await status(node, 'wsrep_cluster_status').catch(() => '')) === 'Primary';
  const allSynced = (timeoutMs: number) =>
    poll('every member Synced in the Primary component', timeoutMs, async () => {
      for (const n of nodes()) if (!(await synced(n))) return undefined;
      return true;
    });
  /** The write backend's server taking new writes, read on the proxy's admin socket. */
  const writer = async (): Promise<string | undefined> => {
    const r = await h.sh(
      h.spec.endpoint?.proxies[0] as string,
      "echo 'show stat' | socat stdio /run/haproxy/admin.sock",
    );
    return currentWriter(parseShowStat(r.stdout));
  };
  const load = () => {
    const l = startWriteLoad(h.endpoint(), { rate: 40, maxMs: ms(240_000), firstId: nextId });
    nextId += 1_000_000;
    return l;
  };
  const assertAllPresent = async (result: LoadResult, on: string[]): Promise<void> => {
    for (const n of on) {
      const present = await presentIds(h.nodeEndpoint(n));
      const lost = result.acked.filter((a) => !present.has(a.id)).map((a) => a.id);
      assert.deepEqual(lost, [], `acknowledged writes missing on ${n}`);
    }
  };
  const acked = (l: { acked: readonly unknown[] }, n: number, what: string) => {
    const before = l.acked.length;
    return poll(what, 60_000, () => Promise.resolve(l.acked.length >= before + n ? true : undefined));
  };

  before(async () => {
    h = await healEnv({
      type: 'galera',
      name: NAME,
      nodes: ['h1', 'h2', 'h3'],
      proxies: ['h4'],
      labHosts: 4,
    });
    await createLoadTable(h.endpoint());
  });
  afterEach((ctx) => {
    if ((ctx as unknown as { passed?: boolean }).passed === false) failed = true;
  });
  after(async () => {
    await h?.close(failed);
  });

  test('a member killed under writes: started again by nines, back Synced by IST (no SST)', async () => {
    const w = await writer();
    const node = nodes().find((n) => n !== w) as string;
    const since = h.lastEventId();
    const l = load();
    await acked(l, 20, 'writes before the kill');
    const killedAt = Date.now();
    await h.killServer(node);
    const e = await h.waitEvent(
      since,
      'restarted',
      60_000,
      (x) => x.type === 'node.restarted' && x.data.node === node,
    );
    await acked(l, 20, 'writes after the restart');
    const result = await l.stop();
    console.error(
      `# galera: member killed -> Synced again in ${Date.parse(e.time) - killedAt} ms (${e.message})`,
    );
    assert.match(e.message, /by IST|no state transfer/, h.timeline(since));
    assert.doesNotMatch(e.message, /SST/);
    await allSynced(30_000);
    await assertAllPresent(result, nodes());
  });

  test("the writer's host crashes: writes move once to a Synced member and stay there when it rejoins", async () => {
    const w = (await writer()) as string;
    assert.ok(w, 'a writer');
    const since = h.lastEventId();
    const l = load();
    await acked(l, 20, 'writes before the crash');
    const at = Date.now();
    await labFault(h.lab.inventory.name, h.hostName(w), 'crash');
    await acked(l, 40, 'writes after the crash');
    const moved = await h.waitEvent(since, 'writer moved', 30_000, (e) => e.type === 'endpoint.writer-moved');
    const now = await writer();
    assert.notEqual(now, w);
    await labFault(h.lab.inventory.name, h.hostName(w), 'restart');
    await h.waitEvent(
      since,
      'the old writer restarted',
      90_000,
      (e) => e.type === 'node.restarted' && e.data.node === w,
    );
    await allSynced(60_000);
    await acked(l, 40, 'writes after the rejoin');
    const result = await l.stop();
    const gap = longestGap(result.acked.filter((a) => a.at >= at - 2000));
    console.error(`# galera: writer host crash -> write stall ${gap.ms} ms (${moved.message})`);
    assert.ok(gap.ms < ms(6000), `stall ${gap.ms} ms\n${h.timeline(since)}`);
    assert.equal(await writer(), now, 'the writer did not move back');
    assert.equal(h.events(since, 'endpoint.writer-moved').length, 1, h.timeline(since));
    await assertAllPresent(result, nodes());
  });

  test("the writer's host partitioned: writes move to a Primary member, it stays out; healed, it rejoins, the writer stays", async () => {
    const w = (await writer()) as string;
    const since = h.lastEventId();
    const l = load();
    await acked(l, 20, 'writes before the partition');
    const at = Date.now();
    await labFault(h.lab.inventory.name, h.hostName(w), 'partition');
    try {
      await h.waitEvent(since, 'writer moved', 30_000, (e) => e.type === 'endpoint.writer-moved');
      await acked(l, 40, 'writes after the move');
      assert.notEqual(await writer(), w);
      assert.notEqual(
        await status(w, 'wsrep_cluster_status'),
        'Primary',
        'the partitioned node is non-Primary',
      );
    } finally {
      await labFault(h.lab.inventory.name, h.hostName(w), 'heal');
    }
    const moved = (await writer()) as string;
    await allSynced(60_000);
    await acked(l, 20, 'writes after the heal');
    const result = await l.stop();
    const gap = longestGap(result.acked.filter((a) => a.at >= at - 2000));
    console.error(`# galera: writer partitioned -> write stall ${gap.ms} ms`);
    assert.equal(await writer(), moved, 'the writer stays where it moved');
    await assertAllPresent(result, nodes());
  });

  const fullCrash = async (fault: 'crash' | 'poweroff', keepDown: number) => {
    await allSynced(60_000);
    const uuid = await status(nodes()[0] as string, 'wsrep_cluster_state_uuid');
    const l = load();
    await acked(l, 40, 'writes before the full crash');
    const result = await l.stop();
    const since = h.lastEventId();
    const hosts = nodes().map((n) => h.hostName(n));
    for (const host of hosts) await labFault(h.lab.inventory.name, host, fault);
    const back = hosts.slice(keepDown);
    const backAt = Date.now();
    for (const host of back) await labFault(h.lab.inventory.name, host, 'restart');
    return { uuid, result, since, backAt, hosts, kept: hosts.slice(0, keepDown) };
  };

  test('full crash of every host, writes before it: recovered from the most advanced node, same UUID, nothing lost', async () => {
    const c = await fullCrash('crash', 0);
    const e = await h.waitEvent(c.since, 'cluster recovered', 90_000, (x) => x.type === 'cluster.recovered');
    console.error(
      `# galera: full crash -> Primary ${Date.parse(e.time) - c.backAt} ms after the hosts were back (${e.message})`,
    );
    assert.ok(Date.parse(e.time) - c.backAt < ms(40_000), h.timeline(c.since));
    await allSynced(60_000);
    assert.equal(await status(nodes()[0] as string, 'wsrep_cluster_state_uuid'), c.uuid, 'same cluster UUID');
    await assertAllPresent(c.result, nodes());
  });

  test('power loss of every host, one kept down: recovered from the two examined; the third rejoins when back', async () => {
    const c = await fullCrash('poweroff', 1);
    const e = await h.waitEvent(c.since, 'cluster recovered', 90_000, (x) => x.type === 'cluster.recovered');
    assert.match(e.message, /could not be examined/, h.timeline(c.since));
    const up = nodes().filter((n) => h.hostName(n) !== c.kept[0]);
    await assertAllPresent(c.result, up);
    await labFault(h.lab.inventory.name, c.kept[0] as string, 'restart');
    const kept = nodes().find((n) => h.hostName(n) === c.kept[0]) as string;
    await h.waitEvent(
      c.since,
      'the third restarted',
      90_000,
      (x) => x.type === 'node.restarted' && x.data.node === kept,
    );
    await allSynced(60_000);
    assert.equal(await status(kept, 'wsrep_cluster_state_uuid'), c.uuid);
    await assertAllPresent(c.result, nodes());
  });

  test('full crash with two hosts kept down: nines refuses and says why; back, it recovers', async () => {
    const c = await fullCrash('crash', 2);
    const refused = await h.waitEvent(
      c.since,
      'refusal',
      60_000,
      (x) => x.type === 'cluster.recovery-refused',
    );
    assert.match(refused.message, /only 1 of 3 nodes could be examined/);
    const cli = await h.t.cli(['cluster', 'recover', NAME]);
    assert.equal(cli.code, 1, cli.stdout);
    assert.match(cli.stdout, /refused: only 1 of 3/);
    assert.equal(h.events(c.since, 'cluster.recovered').length, 0, 'nothing bootstrapped');
    for (const host of c.kept) await labFault(h.lab.inventory.name, host, 'restart');
    await h.waitEvent(c.since, 'cluster recovered', 90_000, (x) => x.type === 'cluster.recovered');
    await allSynced(60_000);
    assert.equal(await status(nodes()[0] as string, 'wsrep_cluster_state_uuid'), c.uuid);
    await assertAllPresent(c.result, nodes());
  });
});
