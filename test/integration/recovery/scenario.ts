// Automatic failover, rejoin, anti-flap and switchover through the real controller, per engine: 3 nodes + 2
// proxies on lab hosts, semi-sync (MariaDB) / synchronous (PostgreSQL) replication, a write workload through the
// endpoint logging every acknowledged write, and a sampler asking every node directly whether it accepts writes.
// Each scenario asserts what users rely on: writes come back through the endpoint on the new primary, no
// acknowledged write is lost, never two writable nodes at one sampled instant, and the events say why.
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { ClusterSpec, ClusterType } from '../../../src/core/spec.ts';
import type { EventRecord } from '../../../src/controller/store/event-repo.ts';
import { createTestLab, labFault, type TestLab } from '../../../src/lab/index.ts';
import {
  APP,
  LOGS,
  createAppUser,
  fullSpec,
  labSpec,
  ms,
  poll,
  registerLabKey,
  startTestController,
  storedTopology,
  type TestController,
} from '../deploy/helpers.ts';
import { api as daemonApi, startController } from '../controller/helpers.ts';
import {
  createLoadTable,
  longestGap,
  presentIds,
  startWritableSampler,
  startWriteLoad,
  type Endpoint,
  type LoadResult,
  type WritableSample,
} from '../../support/write-load.ts';

export interface FailoverScenarioOptions {
  readonly type: ClusterType;
  readonly name: string;
  readonly options: Record<string, unknown>;
}

interface JobRef {
  job: { id: number };
}

export function failoverScenario(o: FailoverScenarioOptions): void {
  describe(`${o.type}: automatic failover through the controller`, { timeout: ms(900_000) }, () => {
    let lab: TestLab;
    let t: TestController;
    let spec: ClusterSpec;
    let failed = false;
    let nextId = 1;

    const hostName = (address: string): string => {
      const h = lab.inventory.hosts.find((x) => x.address === address);
      assert.ok(h, `no lab host ${address}`);
      return h.name;
    };
    const primary = (): string => {
      const p = t.controller.store.inventory.listNodes(o.name).filter((n) => n.role === 'primary');
      assert.equal(p.length, 1, `one primary in the inventory: ${JSON.stringify(p)}`);
      return `${p[0]?.host}:${p[0]?.port}`;
    };
    const endpoint = (): Endpoint => {
      const ep = spec.endpoint;
      assert.ok(ep);
      return {
        type: o.type,
        host: ep.proxies[0] as string,
        port: ep.writePort,
        user: APP.user,
        password: APP.password,
        database: APP.database,
      };
    };
    const nodeEndpoint = (address: string): Endpoint => {
      const [host, port] = [address.slice(0, address.lastIndexOf(':')), Number(address.split(':').pop())];
      return o.type === 'postgres-streaming'
        ? {
            type: o.type,
            host,
            port,
            user: 'nines_admin',
            password: spec.credentials.admin,
            database: APP.database,
          }
        : {
            type: o.type,
            host,
            port,
            user: 'nines_admin',
            password: spec.credentials.admin,
            database: APP.database,
          };
    };
    const events = (since: number, type?: string): EventRecord[] =>
      t.controller.store.events
        .list({ cluster: o.name, since, limit: 1000 })
        .filter((e) => type === undefined || e.type === type);
    const lastEventId = (): number => t.controller.store.events.lastId();

    const timeline = (since: number): string =>
      events(since)
        .map((e) => `${e.time} ${e.type}: ${e.message}`)
        .join('\n');

    /** Load + sampler around `act`; returns what they saw. */
    const underLoad = async (
      act: () => Promise<void>,
      opts: { rate?: number; settleMs?: number; since?: number } = {},
    ): Promise<{ load: LoadResult; samples: WritableSample[] }> => {
      const firstId = nextId;
      nextId += 1_000_000;
      const sampler = startWritableSampler(spec, { everyMs: 100, maxMs: ms(240_000) });
      const load = startWriteLoad(endpoint(), { rate: opts.rate ?? 50, maxMs: ms(240_000), firstId });
      try {
        await poll('writes acknowledged before the fault', 10_000, () =>
          Promise.resolve(load.acked.length >= 20 ? true : undefined),
        );
        await act();
        const before = load.acked.length;
        await poll('writes acknowledged after the action', 30_000, () =>
          Promise.resolve(load.acked.length >= before + 20 ? true : undefined),
        );
        await new Promise((r) => setTimeout(r, opts.settleMs ?? 500));
      } catch (err) {
        await Promise.allSettled([load.stop(), sampler.stop()]);
        const since = opts.since ?? 0;
        throw new Error(`${(err as Error).message}\n${timeline(since)}`, { cause: err });
      }
      return { load: await load.stop(), samples: await sampler.stop() };
    };

    const assertNoLoss = async (load: LoadResult, on: string): Promise<void> => {
      const present = await presentIds(nodeEndpoint(on));
      const lost = load.acked.filter((a) => !present.has(a.id)).map((a) => a.id);
      assert.deepEqual(lost, [], `acknowledged writes missing on ${on}`);
    };
    const assertOneWriter = (samples: readonly WritableSample[]): void => {
      const two = samples.filter((s) => s.writable.length > 1);
      assert.deepEqual(
        two.map((s) => `${new Date(s.at).toISOString()} ${s.writable.join(',')}`),
        [],
        'never two writable nodes in one sample',
      );
      assert.ok(
        samples.some((s) => s.writable.length === 1),
        'the sampler saw a writable node (it can see one)',
      );
    };
    const waitFailover = async (since: number, timeoutMs = 60_000): Promise<EventRecord> =>
      poll(`failover.done or .aborted since event ${since}`, timeoutMs, () =>
        Promise.resolve(
          events(since).find((x) => x.type === 'failover.done' || x.type === 'failover.aborted'),
        ),
      ).catch((err: unknown) => {
        throw new Error(`${(err as Error).message}\n${timeline(since)}`);
      });
    const cooledDown = (): Promise<unknown> =>
      poll('the cooldown of the last failover is over', 60_000, () =>
        Promise.resolve(t.controller.recovery.status(o.name).cooldownUntil === null ? true : undefined),
      );
    const hostOf = (node: string): string => hostName(node.slice(0, node.lastIndexOf(':')));
    /** Every node back: one primary, the others replicas, nothing fenced, and a write reaches every node. */
    const allBack = async (): Promise<void> => {
      await poll('one primary and every other node a replica, nothing fenced', 60_000, () => {
        const roles = t.controller.store.inventory.listNodes(o.name).map((n) => n.role);
        const ok =
          roles.filter((r) => r === 'primary').length === 1 &&
          roles.filter((r) => r === 'replica').length === spec.nodes.length - 1 &&
          t.controller.recovery.status(o.name).nodes.length === 0;
        return Promise.resolve(ok ? true : undefined);
      });
      const load = startWriteLoad(endpoint(), { rate: 20, maxMs: ms(10_000), firstId: nextId });
      nextId += 1_000_000;
      await poll('a write through the endpoint', 10_000, () =>
        Promise.resolve(load.acked.length > 0 ? true : undefined),
      );
      const id = ((await load.stop()).acked[0] as { id: number }).id;
      for (const n of spec.nodes.map((x) => `${x.host}:${x.port}`)) {
        await poll(`write ${id} replicated to ${n}`, 15_000, async () =>
          (await presentIds(nodeEndpoint(n))).has(id) ? true : undefined,
        );
      }
    };
    /**
     * The node rejoins as a replica. `allowDiverged`: a node that took a write no replica ever had (a thawed
     * MariaDB primary commits the transaction it froze in once semi-sync gives up) is declared diverged instead;
     * then `nines node rebuild` brings it back, as an operator would.
     */
    const waitRejoined = async (
      node: string,
      since: number,
      timeoutMs = 90_000,
      allowDiverged = false,
    ): Promise<void> => {
      const outcome = await poll(`${node} rejoined`, timeoutMs, () =>
        Promise.resolve(
          events(since).find(
            (e) =>
              e.data.node === node &&
              (e.type === 'node.rejoined' || (allowDiverged && e.type === 'node.diverged')),
          ),
        ),
      ).catch((err: unknown) => {
        throw new Error(`${(err as Error).message}\n${timeline(since)}`);
      });
      if (outcome.type === 'node.diverged') {
        console.error(`# ${o.type}: ${node} diverged (${outcome.message}); rebuilding it`);
        const host = node.slice(0, node.lastIndexOf(':'));
        const r = await t.cli(['node', 'rebuild', o.name, '--host', host, '--wait']);
        assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}\n${timeline(since)}`);
        assert.ok(
          events(since, 'node.rebuilt').some((e) => e.data.node === node),
          timeline(since),
        );
        assert.equal(t.controller.recovery.status(o.name).nodes.length, 0, 'nothing left fenced or diverged');
      }
      const roles = t.controller.store.inventory
        .listNodes(o.name)
        .map((n) => `${n.host}:${n.port} ${n.role ?? '-'}`)
        .sort();
      assert.ok(roles.includes(`${node} replica`), roles.join('; '));
    };

    before(async () => {
      lab = await createTestLab(5);
      // Long enough for the anti-flap case right after the first failover; the later faults wait it out.
      t = await startTestController({ NINES_RECOVERY_COOLDOWN_MS: String(ms(20_000)) });
      await registerLabKey(t, lab.inventory);
      const raw = labSpec(lab.inventory, {
        name: o.name,
        type: o.type,
        nodes: ['h1', 'h2', 'h3'],
        proxies: ['h4', 'h5'],
        options: o.options,
      });
      spec = fullSpec(raw);
      const { job } = await t.api<JobRef>('POST', '/clusters', raw);
      const done = await t.waitJob(job.id, 300_000);
      assert.equal(done.state, 'succeeded', t.jobLog(job.id));
      await createAppUser(lab.inventory, spec, storedTopology(t, spec));
      await createLoadTable(endpoint());
      await poll('the live failover plan', 30_000, async () => {
        const r = await t.api<{ plan: { action: string; reason: string } | null }>(
          'GET',
          `/clusters/${o.name}/recovery`,
        );
        return r.plan?.action === 'promote' ? r.plan : undefined;
      });
    });
    afterEach((ctx) => {
      if ((ctx as unknown as { passed?: boolean }).passed === false) failed = true;
    });
    after(async () => {
      await t?.close();
      await lab?.dispose(failed ? { keepLogsIn: LOGS } : {});
    });

    test('the live plan names the candidate and a proven loss bound', async () => {
      const r = await t.api<{ enabled: boolean; plan: { action: string; reason: string } }>(
        'GET',
        `/clusters/${o.name}/recovery`,
      );
      assert.equal(r.enabled, true);
      assert.match(r.plan.reason, /^if the primary fails now: promote \S+ .*expected loss 0/);
      const cli = await t.cli(['recovery', 'status', o.name]);
      assert.equal(cli.code, 0, cli.stderr);
      assert.match(cli.stdout, /automatic recovery on/);
    });

    test('the controller alone cut off from the primary (replicas and proxies still reach it): no failover, an unreachable-from-controller alarm with the reason', async () => {
      const old = primary();
      const host = hostName(old.split(':')[0] as string);
      const since = lastEventId();
      await labFault(lab.inventory.name, host, 'cut-controller');
      try {
        const raised = await poll('the unreachable-from-controller alarm', 30_000, () =>
          Promise.resolve(
            events(since, 'alarm.raised').find((e) => e.data.rule === 'unreachable-from-controller'),
          ),
        );
        assert.match(raised.message, /still reach it/, timeline(since));
        // Several more ticks with the controller still cut off: nothing is promoted.
        const until = Date.now() + 5000;
        await poll('5 s more under the cut', 10_000, () =>
          Promise.resolve(Date.now() >= until ? true : undefined),
        );
        assert.deepEqual(
          events(since).filter((e) => /^failover\.(detected|done|phase)$/.test(e.type)),
          [],
          timeline(since),
        );
        assert.equal(primary(), old, 'nothing promoted');
      } finally {
        await labFault(lab.inventory.name, host, 'heal');
      }
      await poll('the alarm cleared once the controller reaches the primary again', 30_000, () =>
        Promise.resolve(
          events(since, 'alarm.cleared').find((e) => e.data.rule === 'unreachable-from-controller'),
        ),
      );
    });

    test('primary host crash: a replica is promoted, writes come back through the endpoint, nothing acknowledged is lost', async () => {
      const old = primary();
      const since = lastEventId();
      let faultAt = 0;
      const { load, samples } = await underLoad(async () => {
        faultAt = Date.now();
        await labFault(lab.inventory.name, hostName(old.split(':')[0] as string), 'crash');
        const e = await waitFailover(since);
        assert.equal(e.type, 'failover.done', timeline(since));
      });
      const now = primary();
      assert.notEqual(now, old);
      const gap = longestGap(load.acked.filter((a) => a.at >= faultAt - 5000));
      console.error(
        `# ${o.type}: crash -> writes back in ${gap.ms} ms (longest gap between acknowledged writes)`,
      );
      assert.ok(gap.ms < ms(15_000), `writes stalled ${gap.ms} ms\n${timeline(since)}`);
      await assertNoLoss(load, now);
      assertOneWriter(samples);
      assert.ok(events(since, 'failover.detected').length === 1, timeline(since));
    });

    test('the crashed old primary comes back: rejoined as a replica of the new primary, and replicates', async () => {
      const fenced = t.controller.recovery.status(o.name).nodes.filter((n) => n.state === 'fenced');
      assert.equal(fenced.length, 1, JSON.stringify(fenced));
      const old = (fenced[0] as { node: string }).node;
      const since = lastEventId();
      await labFault(lab.inventory.name, hostName(old.split(':')[0] as string), 'restart');
      await waitRejoined(old, since);
      const firstId = nextId++;
      const load = startWriteLoad(endpoint(), { rate: 20, maxMs: ms(10_000), firstId });
      await poll('a write through the endpoint', 10_000, () =>
        Promise.resolve(load.acked.length > 0 ? true : undefined),
      );
      const r = await load.stop();
      await poll(`the write replicated to ${old}`, 15_000, async () =>
        (await presentIds(nodeEndpoint(old))).has((r.acked[0] as { id: number }).id) ? true : undefined,
      );
    });

    test('a second failure within the cooldown is refused with a clear event; a manual failover is not', async () => {
      const old = primary();
      const since = lastEventId();
      await labFault(lab.inventory.name, hostName(old.split(':')[0] as string), 'crash');
      const refused = await poll('failover.refused (cooldown)', 30_000, () =>
        Promise.resolve(events(since, 'failover.refused').find((e) => /cooldown/.test(e.message))),
      );
      assert.match(
        refused.message,
        /not failing over: the last failover was \d+ s ago and the cooldown has \d+ s left/,
      );
      assert.equal(primary(), old, 'nothing promoted');
      const cli = await t.cli(['cluster', 'failover', o.name]);
      assert.equal(cli.code, 0, `${cli.stdout}\n${cli.stderr}\n${timeline(since)}`);
      assert.notEqual(primary(), old);
      await labFault(lab.inventory.name, hostName(old.split(':')[0] as string), 'restart');
      await waitRejoined(old, since);
    });

    /**
     * A fault on the primary's host under load: a failover (done), writes back on the new primary with nothing
     * acknowledged lost and one writer at a time; then the fault is reverted and the old primary rejoins.
     */
    /**
     * `quiet`: no writes while the fault is on (a MariaDB primary cut off from its replicas under writes has its
     * semi-sync fall back to asynchronous after rpl_semi_sync_master_timeout (10 s; the isolation is declared within it, but under a loaded CI the two race), and nines then refuses: the loss
     * bound is no longer proven; see docs/failure-modes.md). Writes are checked after the failover instead.
     */
    /** `isolate`: the lab's partition with the controller's link cut too (the host is cut off from everyone). */
    const inject = (host: string, fault: 'poweroff' | 'freeze' | 'partition' | 'isolate'): Promise<void> =>
      fault === 'isolate'
        ? labFault(lab.inventory.name, host, 'partition', { includeController: true })
        : labFault(lab.inventory.name, host, fault);
    const faultCase = async (
      fault: 'poweroff' | 'freeze' | 'partition' | 'isolate',
      revert: 'restart' | 'thaw' | 'heal',
      boundMs: number,
      quiet = false,
    ): Promise<void> => {
      await cooledDown();
      const old = primary();
      const host = hostName(old.split(':')[0] as string);
      const since = lastEventId();
      let faultAt = 0;
      // Started before the revert: a thawed primary's first answers are the ones that matter.
      let back: ReturnType<typeof startWritableSampler> | undefined;
      try {
        if (quiet) {
          const sampler = startWritableSampler(spec, { everyMs: 100, maxMs: ms(120_000) });
          await inject(host, fault);
          const e = await waitFailover(since).catch(async (err: unknown) => {
            await sampler.stop();
            throw err;
          });
          assert.equal(e.type, 'failover.done', timeline(since));
          const after = startWriteLoad(endpoint(), { rate: 20, maxMs: ms(30_000), firstId: nextId });
          nextId += 1_000_000;
          await poll('writes through the endpoint after the failover', 20_000, () =>
            Promise.resolve(after.acked.length >= 20 ? true : undefined),
          ).finally(() => after.stop());
          assert.notEqual(primary(), old);
          await assertNoLoss(await after.stop(), primary());
          assertOneWriter(await sampler.stop());
        } else {
          await loaded();
        }
      } finally {
        back = startWritableSampler(spec, { everyMs: 100, maxMs: ms(120_000) });
        await labFault(lab.inventory.name, host, revert);
      }
      async function loaded(): Promise<void> {
        const { load, samples } = await underLoad(
          async () => {
            faultAt = Date.now();
            await inject(host, fault);
            const e = await waitFailover(since);
            assert.equal(e.type, 'failover.done', timeline(since));
          },
          { since },
        );
        const now = primary();
        assert.notEqual(now, old);
        const gap = longestGap(load.acked.filter((a) => a.at >= faultAt - 5000));
        console.error(`# ${o.type}: ${fault} -> writes back in ${gap.ms} ms`);
        assert.ok(gap.ms < ms(boundMs), `writes stalled ${gap.ms} ms\n${timeline(since)}`);
        await assertNoLoss(load, now);
        assertOneWriter(samples);
      }
      // Back: the old primary rejoins as a replica. A crashed or powered-off one comes back read-only; a thawed one
      // resumes where it froze, and nines fences it at once (MariaDB: read_only=ON sent with its first greeting;
      // PostgreSQL: before it answers anyone, by the armed session's fast shutdown, queued in its socket).
      const sampler = back;
      // A primary that ran on its own (frozen, or isolated from everyone) may hold a commit no replica has.
      const rejoined = await waitRejoined(old, since, 90_000, fault === 'freeze' || fault === 'isolate').then(
        () => undefined,
        (err: unknown) => (err instanceof Error ? err : new Error(String(err))),
      );
      const samples = await sampler.stop();
      if (rejoined !== undefined) throw rejoined;
      if ((fault === 'freeze' && o.type === 'mariadb-replication') || fault === 'isolate') {
        // MariaDB has no armed fence (no statement in a queued session can stop the server the way a commit
        // waiting for a semi-sync ACK needs): its fence at the first answer races a client that connected at the
        // same moment, by about one round trip. It cannot acknowledge a write meanwhile (no replica ACKs it).
        const two = samples.filter((x) => x.writable.length > 1);
        const window = two.length === 0 ? 0 : (two.at(-1)?.at ?? 0) - (two[0]?.at ?? 0) + 100;
        console.error(
          `# ${o.type}: ${fault}: the old primary writable for ~${window} ms after the revert, before it was fenced`,
        );
        assert.ok(
          two.every((x) => x.writable.includes(old)),
          'only the old primary can be the second writer',
        );
        assert.ok(window <= ms(2000), `the old primary stayed writable ${window} ms after the revert`);
      } else {
        assertOneWriter(samples);
      }
    };

    test('primary power-off (no RST): failover, nothing lost; back on: rejoined', async () => {
      await faultCase('poweroff', 'restart', 20_000);
    });

    test('primary frozen: failover; thawed, it is fenced on its first answer and rejoins', async () => {
      await faultCase('freeze', 'thaw', 20_000);
    });

    test('primary partitioned from everyone, the controller too: failover; healed, it is fenced and rejoins', async () => {
      await faultCase('isolate', 'heal', 30_000, o.type === 'mariadb-replication');
    });

    test('primary partitioned from replicas and proxies (the controller still reaches it): failover, fenced through the controller', async () => {
      await faultCase('partition', 'heal', 30_000, o.type === 'mariadb-replication');
    });

    test('switchover under writes: zero loss, the old primary follows the new one', async () => {
      const old = primary();
      const target = spec.nodes.map((n) => `${n.host}:${n.port}`).find((n) => n !== old) as string;
      const since = lastEventId();
      const { load, samples } = await underLoad(async () => {
        const cli = await t.cli(['cluster', 'switchover', o.name, '--to', target]);
        assert.equal(cli.code, 0, `${cli.stdout}\n${cli.stderr}\n${timeline(since)}`);
      });
      assert.equal(primary(), target);
      const gap = longestGap(load.acked);
      console.error(`# ${o.type}: switchover paused writes ${gap.ms} ms`);
      assert.ok(gap.ms < ms(5000), `writes paused ${gap.ms} ms`);
      await assertNoLoss(load, target);
      assertOneWriter(samples);
      const roles = t.controller.store.inventory
        .listNodes(o.name)
        .map((n) => `${n.host}:${n.port} ${n.role}`);
      assert.ok(roles.includes(`${old} replica`), roles.join('; '));
      assert.equal(t.controller.recovery.status(o.name).nodes.length, 0, 'nothing left fenced');
    });

    test('RPO refusal: the primary and an acknowledging replica fail together -> no promotion, the reason in the event; --force promotes and reports the loss bound', async () => {
      await cooledDown();
      const old = primary();
      const [down, survivor] = spec.nodes.map((n) => `${n.host}:${n.port}`).filter((n) => n !== old);
      assert.ok(down && survivor);
      const since = lastEventId();
      await Promise.all([
        labFault(lab.inventory.name, hostOf(old), 'crash'),
        labFault(lab.inventory.name, hostOf(down), 'crash'),
      ]);
      try {
        const refused = await poll('failover.refused', 30_000, () =>
          Promise.resolve(events(since).find((e) => /^failover\.(refused|done|aborted)$/.test(e.type))),
        );
        assert.equal(refused.type, 'failover.refused', timeline(since));
        assert.ok(
          refused.message.includes(`${down} acknowledged commits and cannot be read now`),
          refused.message,
        );
        assert.equal(primary(), old, 'nothing promoted');
        assert.ok(
          t.controller.monitor.alarms.active(o.name).some((a) => a.rule === 'failover-refused'),
          'the failover-refused alarm is active',
        );
        const cli = await t.cli(['cluster', 'failover', o.name, '--force']);
        assert.equal(cli.code, 0, `${cli.stdout}\n${cli.stderr}\n${timeline(since)}`);
        const done = await waitFailover(since);
        assert.equal(done.type, 'failover.done', timeline(since));
        assert.match(
          done.message,
          /forced although the loss bound is not proven \(.*cannot be read now.*\); .* may be lost/,
        );
        assert.equal(primary(), survivor);
      } finally {
        await labFault(lab.inventory.name, hostOf(old), 'restart');
        await labFault(lab.inventory.name, hostOf(down), 'restart');
      }
      // The old primary rejoins (or, having commits the forced primary lacks, is diverged and rebuilt); the
      // replica that crashed was never repointed: an operator rebuilds it. Writes wait for an acknowledging replica
      // (synchronous / semi-sync protection stays on after a forced failover), so they are checked after.
      await waitRejoined(old, since, 90_000, true);
      const sampler = startWritableSampler(spec, { everyMs: 100, maxMs: ms(30_000) });
      const load = startWriteLoad(endpoint(), { rate: 20, maxMs: ms(30_000), firstId: nextId });
      nextId += 1_000_000;
      await poll('writes through the endpoint on the forced primary', 20_000, () =>
        Promise.resolve(load.acked.length >= 20 ? true : undefined),
      ).finally(() => load.stop());
      await assertNoLoss(await load.stop(), survivor);
      assertOneWriter(await sampler.stop());
      const r = await t.cli([
        'node',
        'rebuild',
        o.name,
        '--host',
        down.slice(0, down.lastIndexOf(':')),
        '--wait',
      ]);
      assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}\n${timeline(since)}`);
      await allBack();
    });

    test('controller SIGKILLed in the middle of a failover, restarted: it resumes from its phase, repeats nothing done, completes', async () => {
      const old = primary();
      const since = lastEventId();
      const dir = t.dir;
      await t.close({ keepDir: true });
      // The same store served by a controller process: no cooldown in it, so the failover starts at once.
      const daemon = await startController(join(dir, 'data'), { NINES_RECOVERY_COOLDOWN_MS: '0' }, [
        '--real-deploy',
        '--no-test-jobs',
      ]);
      type Status = {
        detection: { action: string } | null;
        plan: { action: string } | null;
        running: { id: number; phase: string; candidate: string | null } | null;
      };
      const status = (): Promise<Status> => daemonApi<Status>(daemon, 'GET', `/clusters/${o.name}/recovery`);
      const sampler = startWritableSampler(spec, { everyMs: 100, maxMs: ms(180_000) });
      const load = startWriteLoad(endpoint(), { rate: 50, maxMs: ms(180_000), firstId: nextId });
      nextId += 1_000_000;
      let running: NonNullable<Status['running']> | undefined;
      try {
        await poll('the controller process sees the primary healthy, with a plan', 30_000, async () => {
          const r = await status();
          return r.detection?.action === 'healthy' && r.plan?.action === 'promote' ? true : undefined;
        });
        await labFault(lab.inventory.name, hostOf(old), 'poweroff');
        // Killed once the candidate is chosen and stored: the fence of the powered-off primary takes its bound.
        running = await poll('a running failover with its candidate', 30_000, async () => {
          const r = await status();
          return r.running?.candidate ? r.running : undefined;
        });
      } finally {
        await daemon.kill();
        t = await startTestController({ NINES_RECOVERY_COOLDOWN_MS: String(ms(20_000)) }, dir);
      }
      try {
        assert.ok(
          ['detected', 'fenced', 'caught-up', 'promoted', 'repointed'].includes(running.phase),
          running.phase,
        );
        const done = await waitFailover(since);
        assert.equal(done.type, 'failover.done', timeline(since));
        assert.equal(done.data.failover, running.id, 'the same failover completed');
        console.error(`# ${o.type}: controller killed in phase ${running.phase}; ${done.message}`);
        const record = t.controller.recovery.getFailover(o.name, running.id);
        const log = `${record.log.map((l) => l.line).join('\n')}\n${JSON.stringify(record.data.positions)}`;
        assert.equal(
          (done.data.followers as string[]).length,
          spec.nodes.length - 2,
          `every other replica follows the new primary\n${log}`,
        );
        const resumed = events(since, 'failover.resumed');
        assert.equal(resumed.length, 1, timeline(since));
        assert.equal(resumed[0]?.data.failover, running.id);
        assert.equal(events(since, 'failover.detected').length, 1, 'no second failover');
        assert.equal(primary(), running.candidate);
        const before = load.acked.length;
        await poll('writes through the endpoint on the new primary', 30_000, () =>
          Promise.resolve(load.acked.length >= before + 20 ? true : undefined),
        );
        await assertNoLoss(await load.stop(), running.candidate as string);
        assertOneWriter(await sampler.stop());
      } finally {
        await Promise.allSettled([load.stop(), sampler.stop()]);
        await labFault(lab.inventory.name, hostOf(old), 'restart');
      }
      await waitRejoined(old, since);
      await allBack();
    });
  });
}
