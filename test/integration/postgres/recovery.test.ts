// The postgres-streaming failover verbs (ReplicationRecovery) on a real 3-node synchronous cluster: positions and
// ack state from live servers, port checks (up, nothing listening, frozen server, frozen vantage point), a manual
// failover after the primary was cut off with a commit hanging (fence, waitApplied, promote, repoint), the old
// primary rejoined by pg_rewind, a split-brain node whose WAL is lost rejoined by a fresh base backup, and a
// switchover with zero loss. Every step asserts what a user relies on: rows, pg_is_in_recovery, who streams from
// whom, sync_state — not only that the verbs returned.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestLab, labFault, sshAnswers, type TestLab } from '../../../src/lab/index.ts';
import { validateSpec, type ClusterSpec, type NodeSpec } from '../../../src/core/spec.ts';
import { isNinesError } from '../../../src/core/errors.ts';
import { parseLsn } from '../../../src/core/recovery/positions.ts';
import type { NodeObservation } from '../../../src/core/monitor/observation.ts';
import type {
  RecoveryContext,
  ReplicationPosition,
  ReplicationRecovery,
} from '../../../src/engines/engine.ts';
import { postgresEngine } from '../../../src/engines/postgres/index.ts';
import { connectSql, withSql } from '../../../src/engines/postgres/sql.ts';
import { PG_USERS, applicationName, pgPaths } from '../../../src/engines/postgres/config.ts';
import { probeNode, service } from '../../../src/engines/postgres/server.ts';
import { labEngineContext, labHostAccess, TIMEOUT_SCALE } from '../../support/lab-engine.ts';
import { poll } from '../../support/poll.ts';

const ms = (n: number): number => Math.round(n * TIMEOUT_SCALE);
const LOGS = join(tmpdir(), 'nines-test-logs');
const paths = pgPaths('15');

describe('postgres-streaming failover verbs on lab hosts', { timeout: ms(900_000) }, () => {
  let lab: TestLab;
  let spec: ClusterSpec;
  let hosts: ReturnType<typeof labHostAccess>;
  let ctx: RecoveryContext & { lines: string[] };
  let failed = false;
  const figures: string[] = [];
  /** h1's WAL position after the acknowledged rows 1-50. */
  let acknowledged = 0n;
  const recovery = (): ReplicationRecovery => {
    assert.ok(postgresEngine.recovery, 'postgres-streaming has recovery verbs');
    return postgresEngine.recovery;
  };
  const node = (i: number): NodeSpec => {
    const n = spec.nodes[i];
    assert.ok(n);
    return n;
  };
  const h1 = (): NodeSpec => node(0);
  const h2 = (): NodeSpec => node(1);
  const h3 = (): NodeSpec => node(2);
  const key = (n: NodeSpec): string => `${n.host}:${n.port}`;
  const target = (n: NodeSpec) => ({
    host: n.host,
    port: n.port,
    user: PG_USERS.admin,
    password: spec.credentials.admin,
  });
  const sql = <R extends object>(n: NodeSpec, text: string, params: unknown[] = []): Promise<R[]> =>
    withSql(target(n), { connectTimeoutMs: 3000 }, (c) => c.query<R>(text, params));
  const ids = async (n: NodeSpec): Promise<number[]> =>
    (await sql<{ id: number }>(n, 'SELECT id FROM app_rows ORDER BY id')).map((r) => r.id);
  const inRecovery = async (n: NodeSpec): Promise<boolean> =>
    (await sql<{ r: boolean }>(n, 'SELECT pg_is_in_recovery() AS r'))[0]?.r === true;
  const replication = (n: NodeSpec) =>
    sql<{ application_name: string; state: string; sync_state: string }>(
      n,
      "SELECT application_name, state, sync_state FROM pg_stat_replication WHERE application_name <> 'nines_clone' ORDER BY application_name",
    );
  const receiver = async (n: NodeSpec): Promise<string | null> => {
    const [row] = await sql<{ s: string | null }>(
      n,
      "SELECT status || ' from ' || sender_host || ':' || sender_port AS s FROM pg_stat_wal_receiver",
    );
    return row?.s ?? null;
  };
  /** Standbys of `primary`, streaming and in the synchronous quorum, by application_name. */
  const quorum = (...standbys: NodeSpec[]) =>
    standbys
      .map((s) => ({ application_name: applicationName(s), state: 'streaming', sync_state: 'quorum' }))
      .sort((a, b) => a.application_name.localeCompare(b.application_name));
  const waitQuorum = (primary: NodeSpec, ...standbys: NodeSpec[]) =>
    poll(
      `${standbys.map((s) => s.host).join(', ')} in the quorum of ${primary.host}`,
      ms(20_000),
      async () => {
        const rows = await replication(primary);
        return JSON.stringify(rows) === JSON.stringify(quorum(...standbys)) ? rows : undefined;
      },
    );
  const timed = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    const start = Date.now();
    const value = await fn();
    figures.push(`${what}: ${Date.now() - start} ms`);
    return value;
  };
  const ex = (n: NodeSpec) => hosts.executor(n.host);
  const fileExists = async (n: NodeSpec, path: string): Promise<boolean> =>
    (await ex(n).exec(['test', '-e', path], { sudo: true, check: false })).exitCode === 0;
  const it = (name: string, timeoutMs: number, fn: () => Promise<void>): void => {
    test(name, { timeout: ms(timeoutMs) }, async () => {
      try {
        await fn();
      } catch (err) {
        failed = true;
        throw err;
      }
    });
  };

  before(async () => {
    lab = await createTestLab(3);
    spec = validateSpec({
      name: 'pgfail',
      type: 'postgres-streaming',
      nodes: lab.inventory.hosts.map((h, i) => ({
        host: h.address,
        ...(i === 0 ? { role: 'primary' } : {}),
      })),
      ssh: { key: 'unused' },
      credentials: { admin: 'admin-Secret-9x', replication: 'repl-Secret-9x', monitor: 'monitor-Secret-9x' },
      options: { synchronous: true },
    }).spec;
    hosts = labHostAccess(lab.inventory);
    const deployCtx = labEngineContext(lab.inventory, spec, hosts);
    await postgresEngine.deploy(deployCtx);
    ctx = deployCtx;
    await sql(h1(), 'CREATE TABLE app_rows (id int PRIMARY KEY, v text NOT NULL)');
  });

  after(async () => {
    if (figures.length > 0) console.log(`figures:\n  ${figures.join('\n  ')}`);
    if (failed && ctx) console.error(ctx.lines.join('\n'));
    await hosts?.close();
    await lab?.dispose(failed ? { keepLogsIn: LOGS } : {});
    if (failed) console.error(`host logs kept in ${LOGS}/${lab?.inventory.name}`);
  });

  it(
    'readPosition on the primary and a standby; ackState from live probes is synchronous',
    60_000,
    async () => {
      await sql(h1(), "INSERT INTO app_rows SELECT g, 'acknowledged' FROM generate_series(1, 50) g");
      const [{ lsn } = { lsn: '' }] = await sql<{ lsn: string }>(
        h1(),
        'SELECT pg_current_wal_lsn()::text AS lsn',
      );
      const written = parseLsn(lsn);
      assert.ok(written !== null);
      acknowledged = written;

      const p1 = await recovery().readPosition(ctx, h1(), 2000);
      assert.equal(p1.reachable, true, p1.error);
      assert.equal(p1.role, 'primary');
      assert.equal(p1.readOnly, false);
      assert.equal(p1.timeline, 1);
      assert.ok(p1.received !== null && p1.received >= written, p1.label);
      assert.equal(p1.applied, p1.received);
      assert.match(p1.label, /^LSN [0-9A-F]+\/[0-9A-F]+ \(timeline 1\)$/);
      for (const standby of [h2(), h3()]) {
        const p = await poll<ReplicationPosition>(
          `${standby.host} has ${lsn}`,
          ms(10_000),
          async (): Promise<ReplicationPosition | undefined> => {
            const pos = await recovery().readPosition(ctx, standby, 2000);
            return pos.received !== null && pos.received >= written ? pos : undefined;
          },
        );
        assert.equal(p.role, 'replica');
        assert.equal(p.readOnly, true);
        assert.equal(p.source, key(h1()));
        assert.equal(p.linkUp, true);
        assert.equal(p.timeline, 1);
        assert.equal(p.applyError, null);
        assert.ok(p.applyBacklogSeconds !== null && p.applyBacklogSeconds < 5, String(p.applyBacklogSeconds));
      }

      // The monitor's probes (as the monitor user) feed ackState: both standbys are in the ANY 1 quorum.
      const observations = new Map<string, NodeObservation>();
      for (const n of spec.nodes) {
        const probe = postgresEngine.openProbe(spec, n, { credentials: spec.credentials });
        try {
          observations.set(key(n), { ...(await probe.observe()), time: Date.now() });
        } finally {
          await probe.close();
        }
      }
      assert.match(observations.get(key(h1()))?.postgres?.synchronousStandbyNames ?? '', /^ANY 1 \(/);
      const ack = recovery().ackState(spec, key(h1()), observations);
      assert.equal(ack.mode, 'synchronous');
      assert.deepEqual([...ack.ackSet].sort(), [key(h2()), key(h3())].sort());
      assert.equal(ack.unit, 'bytes');
      assert.ok(ack.primaryPosition !== null && ack.primaryPosition >= written);
      const observed = recovery().observedPosition(key(h2()), observations.get(key(h2())));
      assert.equal(observed.role, 'replica');
      assert.equal(observed.source, key(h1()));
      assert.equal(recovery().errantTransactions(observed, p1.receivedText), 0);
    },
  );

  it(
    'portCheck: up, nothing listening, a frozen server is down within the bound, a frozen vantage point is unknown',
    120_000,
    async () => {
      const r = recovery();
      const logSize = async (): Promise<number> =>
        Number((await ex(h1()).exec(['stat', '-c', '%s', paths.logFile], { sudo: true })).stdout.trim());
      const before = await logSize();
      for (const from of [h2(), h3(), h2()]) assert.equal(await r.portCheck(ctx, from, h1(), 1000), 'up');
      const added = await ex(h1()).exec(['tail', '-c', `+${before + 1}`, paths.logFile], { sudo: true });
      assert.equal(added.stdout, '', 'port checks leave nothing in the server log');
      assert.equal(await r.portCheck(ctx, h2(), { ...h1(), port: 5999 }, 1000), 'down');
      await labFault(lab.inventory.name, 'h1', 'freeze');
      try {
        let start = Date.now();
        assert.equal(
          await r.portCheck(ctx, h2(), h1(), 1000),
          'down',
          'the kernel accepts, postgres never answers',
        );
        const downMs = Date.now() - start;
        figures.push(`portCheck of a frozen server: 'down' in ${downMs} ms (bound 1000 ms)`);
        assert.ok(downMs < 1000 + ms(300), `${downMs} ms`);
        start = Date.now();
        assert.equal(await r.portCheck(ctx, h1(), h2(), 1000), 'unknown', 'the frozen host cannot be asked');
        const unknownMs = Date.now() - start;
        assert.ok(unknownMs < 1000 + ms(300), `${unknownMs} ms`);
        start = Date.now();
        const pos = await r.readPosition(ctx, h1(), 1000);
        assert.equal(pos.reachable, false);
        assert.ok(
          Date.now() - start < 1000 + ms(300),
          `readPosition of a frozen server: ${Date.now() - start} ms`,
        );
      } finally {
        await labFault(lab.inventory.name, 'h1', 'thaw');
      }
      await poll('h1 answers again', ms(20_000), async () =>
        (await r.portCheck(ctx, h2(), h1(), 2000)) === 'up' ? true : undefined,
      );
      await waitQuorum(h1(), h2(), h3());
    },
  );

  it(
    'failover by hand: fence h1 (cut off, a commit hanging), waitApplied, promote h2, repoint h3',
    180_000,
    async () => {
      const r = recovery();
      // h1 loses its standbys; a commit is written on h1 and waits forever for an acknowledgement.
      await labFault(lab.inventory.name, 'h1', 'partition');
      const hung = await connectSql(target(h1()), {
        statementTimeoutMs: 120_000,
        applicationName: 'itest-hung',
      });
      const pending = hung.query("INSERT INTO app_rows VALUES (999, 'never acknowledged')").then(
        () => 'acknowledged',
        (e: unknown) => e,
      );
      try {
        await poll('the commit on h1 waits for a standby', ms(10_000), async () => {
          const rows = await sql<{ n: number }>(
            h1(),
            "SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event = 'SyncRep' AND application_name = 'itest-hung'",
          );
          return rows[0]?.n === 1 ? true : undefined;
        });

        const fenced = await timed('fence h1 (cut off from its standbys)', () =>
          r.fence(ctx, h1(), ms(2000)),
        );
        assert.equal(fenced.fenced, true, fenced.how);
        assert.match(fenced.how, /standby\.signal written/);
        const outcome = await pending;
        assert.notEqual(outcome, 'acknowledged', 'the client never got a success for the unacknowledged row');
      } finally {
        await hung.close();
      }
      const probe = await probeNode(ex(h1()), spec, h1());
      assert.equal(probe.running, false, 'h1 stopped');
      assert.equal(probe.standbySignal, true, 'h1 would restart as a standby');
      await labFault(lab.inventory.name, 'h1', 'heal');
      assert.equal(await r.portCheck(ctx, h2(), h1(), 1000), 'down');
      assert.equal(await r.fence(ctx, h1(), 5000).then((f) => f.fenced), true, 'fence again: idempotent');

      const candidates = await Promise.all([h2(), h3()].map((n) => r.readPosition(ctx, n, 2000)));
      for (const c of candidates) assert.equal(c.role, 'replica', c.label);
      const applied = await timed('waitApplied h2', () => r.waitApplied(ctx, h2(), 5000));
      // Everything acknowledged is replayed. Received may stay ahead when the last record h2 got is incomplete (h1
      // was cut off while sending a multi-page record): waitApplied does not wait for what can never be replayed.
      assert.ok(applied.applied !== null && applied.applied >= acknowledged, applied.label);
      if (applied.received !== applied.applied) {
        figures.push(`waitApplied h2 with an incomplete last record: ${applied.label}`);
      }
      assert.deepEqual(
        await ids(h2()),
        Array.from({ length: 50 }, (_, i) => i + 1),
        'h2 replayed every acknowledged row',
      );
      assert.equal(applied.applyBacklogSeconds, 0);

      const promoted = await timed('promote h2', () => r.promote(ctx, h2(), [h3()], 5000));
      assert.equal(promoted.role, 'primary');
      assert.equal(promoted.readOnly, false);
      assert.equal(promoted.timeline, 2);
      assert.equal(await inRecovery(h2()), false);
      assert.equal(await fileExists(h2(), paths.standbyDropIn), false, "h2's standby drop-in is gone");
      const [names] = await sql<{ v: string }>(
        h2(),
        "SELECT current_setting('synchronous_standby_names') AS v",
      );
      assert.ok(names?.v.includes(`"${applicationName(h3())}"`), names?.v);
      assert.match(names?.v ?? '', /^ANY 1 /);
      const again = await r.promote(ctx, h2(), [h3()], 5000);
      assert.equal(again.role, 'primary', 'promote again: idempotent');

      // Protection at once: a commit on h2 waits for a standby, and completes once h3 follows h2.
      const writer = await connectSql(target(h2()), {
        statementTimeoutMs: 120_000,
        applicationName: 'itest-w',
      });
      try {
        const started = Date.now();
        const insert = writer
          .query("INSERT INTO app_rows VALUES (100, 'after failover')")
          .then(() => Date.now());
        await poll('the commit on h2 waits for a standby', ms(10_000), async () => {
          const rows = await sql<{ n: number }>(
            h2(),
            "SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event = 'SyncRep' AND application_name = 'itest-w'",
          );
          return rows[0]?.n === 1 ? true : undefined;
        });
        await timed('repoint h3 to h2', () => r.repoint(ctx, h3(), h2(), 10_000));
        const done = await Promise.race([
          insert,
          new Promise<never>((_r, reject) =>
            setTimeout(() => reject(new Error('commit still waiting')), ms(10_000)),
          ),
        ]);
        figures.push(`a commit on h2 waited ${done - started} ms for h3 to follow`);
      } finally {
        await writer.close();
      }
      assert.match((await receiver(h3())) ?? '', new RegExp(`^streaming from ${h2().host}:5432$`));
      assert.deepEqual(await replication(h2()), quorum(h3()));
      await r.repoint(ctx, h3(), h2(), 10_000); // idempotent

      const expected = [...Array.from({ length: 50 }, (_, i) => i + 1), 100];
      assert.deepEqual(await ids(h2()), expected);
      assert.deepEqual(
        await poll('row 100 on h3', ms(10_000), async () => {
          const got = await ids(h3());
          return got.includes(100) ? got : undefined;
        }),
        expected,
        'every acknowledged row, nothing unacknowledged',
      );

      // h1 cannot come back as a primary: started by hand, it is a read-only standby following no one.
      await service(ex(h1()), spec, 'start', false);
      assert.equal(await inRecovery(h1()), true);
      await assert.rejects(sql(h1(), "INSERT INTO app_rows VALUES (1000, 'no')"), (e: unknown) => {
        assert.ok(isNinesError(e, 'NINES_E_DB_QUERY'), String(e));
        assert.equal(e.context.sqlState, '25006');
        return true;
      });
      assert.equal(await receiver(h1()), null, 'h1 follows no one');
      // The unacknowledged commit is in h1's WAL on the old timeline: h1 diverged from h2.
      assert.ok((await ids(h1())).includes(999));
      // It goes down hard again (like a fence that had to use an immediate shutdown): no clean shutdown to rewind.
      await ex(h1()).exec(
        [
          'runuser',
          '-u',
          'postgres',
          '--',
          `${paths.bin}/pg_ctl`,
          '-D',
          paths.dataDir,
          '-m',
          'immediate',
          '-w',
          'stop',
        ],
        { sudo: true },
      );
    },
  );

  it('rejoin: h1, diverged on the old timeline, is rewound and streams from h2', 120_000, async () => {
    const lines = ctx.lines.length;
    const result = await timed('rejoin h1 (pg_rewind)', () => recovery().rejoin(ctx, h1(), h2(), ms(30_000)));
    assert.ok(
      ctx.lines.slice(lines).some((l) => l.includes('crash recovery as a standby before pg_rewind')),
      'the unclean node recovered as a standby first (single-user mode refuses standby.signal)',
    );
    figures.push(`rejoin h1: ${result.reason}`);
    assert.equal(result.action, 'rejoined', result.reason);
    // It really rewound: h1's history diverged on timeline 1 (the unacknowledged commit).
    assert.match(result.reason, /^pg_rewind from [^ ]+ \(diverged at [0-9A-F]+\/[0-9A-F]+ on timeline 1\)/);
    assert.equal(await inRecovery(h1()), true);
    assert.equal(await receiver(h1()), `streaming from ${h2().host}:5432`);
    await waitQuorum(h2(), h1(), h3());
    const h1Rows = await ids(h1());
    assert.ok(!h1Rows.includes(999), 'the unacknowledged row was discarded');
    assert.ok(h1Rows.includes(100), "h2's rows are on h1");
    await sql(h2(), "INSERT INTO app_rows VALUES (101, 'after rejoin')");
    await poll('row 101 on h1', ms(10_000), async () => ((await ids(h1())).includes(101) ? true : undefined));

    // The admin password pg_rewind used is gone from the node (passfile removed, nowhere in its files or logs).
    assert.equal(await fileExists(h1(), paths.rewindPgpass), false);
    const grep = await ex(h1()).exec(
      ['grep', '-rlF', '-f', '-', '/var/lib/postgresql', '/var/log/postgresql'],
      {
        sudo: true,
        check: false,
        stdin: `${spec.credentials.admin}\n`,
        timeoutMs: 60_000,
      },
    );
    assert.equal(grep.stdout.trim(), '', `the admin password is in: ${grep.stdout}`);
    assert.equal(grep.exitCode, 1, grep.stderr);
    const again = await recovery().rejoin(ctx, h1(), h2(), ms(30_000));
    assert.equal(again.action, 'rejoined');
    assert.match(again.reason, /already streams/);
  });

  it(
    'rejoin falls back to a fresh base backup when pg_rewind cannot run (split brain, WAL lost)',
    180_000,
    async () => {
      // h1, cut off, is promoted by hand and takes a write nobody else has; then its WAL is lost.
      await labFault(lab.inventory.name, 'h1', 'partition');
      try {
        await sql(h1(), 'SELECT pg_promote(true, 30)');
        await sql(h1(), "SET synchronous_commit = local; INSERT INTO app_rows VALUES (777, 'split brain')");
        assert.equal(await inRecovery(h1()), false);
        const fenced = await recovery().fence(ctx, h1(), 5000);
        assert.equal(fenced.fenced, true, fenced.how);
      } finally {
        await labFault(lab.inventory.name, 'h1', 'heal');
      }
      // Every WAL segment of h1 is lost (the timeline history files stay).
      const removed = await ex(h1()).exec(
        [
          'find',
          `${paths.dataDir}/pg_wal`,
          '-maxdepth',
          '1',
          '-type',
          'f',
          '-regextype',
          'posix-extended',
          '-regex',
          '.*/[0-9A-F]{24}',
          '-print',
          '-delete',
        ],
        { sudo: true },
      );
      assert.notEqual(removed.stdout.trim(), '', 'WAL segments were removed');
      const result = await timed('rejoin h1 (base backup fallback)', () =>
        recovery().rejoin(ctx, h1(), h2(), ms(60_000)),
      );
      figures.push(`rejoin h1: ${result.reason}`);
      assert.equal(result.action, 'rejoined', result.reason);
      assert.match(result.reason, /^pg_rewind failed \(.+\); rebuilt from a fresh base backup of /);
      assert.equal(await inRecovery(h1()), true);
      assert.equal(await receiver(h1()), `streaming from ${h2().host}:5432`);
      await waitQuorum(h2(), h1(), h3());
      const h1Rows = await ids(h1());
      assert.ok(!h1Rows.includes(777), 'the split-brain write is gone');
      assert.ok(h1Rows.includes(101));
    },
  );

  it(
    'switchover: demote h2, waitPosition h3, promote h3, repoint h1, rejoin h2 — zero loss',
    180_000,
    async () => {
      const r = recovery();
      await sql(h2(), "INSERT INTO app_rows SELECT g, 'before switchover' FROM generate_series(200, 249) g");
      const before = await ids(h2());
      const final = await timed('demote h2', () => r.demote(ctx, h2(), ms(10_000)));
      assert.ok(final.receivedText !== null && parseLsn(final.receivedText) !== null, final.label);
      // The end of the shutdown checkpoint record, the last one h2 wrote.
      assert.match(
        final.label,
        /^LSN ([0-9A-F]+\/[0-9A-F]+) \(timeline 2, shut down; shutdown checkpoint at ([0-9A-F]+\/[0-9A-F]+)\)$/,
      );
      assert.notEqual(final.label.match(/shutdown checkpoint at (\S+)\)/)?.[1], final.receivedText);
      await assert.rejects(sql(h2(), 'SELECT 1'), (e: unknown) => isNinesError(e, 'NINES_E_DB_UNREACHABLE'));
      const again = await r.demote(ctx, h2(), ms(10_000));
      assert.equal(again.receivedText, final.receivedText, 'demote again: idempotent, same final position');

      const caughtUp = await timed('waitPosition h3', () =>
        r.waitPosition(ctx, h3(), final.receivedText ?? '', 5000),
      );
      assert.ok(caughtUp.applied !== null && caughtUp.applied >= (parseLsn(final.receivedText) ?? 0n));
      const promoted = await timed('promote h3', () => r.promote(ctx, h3(), [h1(), h2()], 5000));
      assert.equal(promoted.timeline, 3);
      await timed('repoint h1 to h3', () => r.repoint(ctx, h1(), h3(), 10_000));
      const rejoined = await timed('rejoin h2 (switchover)', () => r.rejoin(ctx, h2(), h3(), ms(30_000)));
      figures.push(`rejoin h2: ${rejoined.reason}`);
      assert.equal(rejoined.action, 'rejoined', rejoined.reason);
      // h3 has all h2 wrote and forked right after it: h2's history is a prefix of h3's.
      assert.match(rejoined.reason, /^pg_rewind from [^ ]+ \(no rewind required\)/);

      await waitQuorum(h3(), h1(), h2());
      assert.deepEqual(
        await ids(h3()),
        before,
        'every row committed before the switchover is on the new primary',
      );
      await sql(h3(), "INSERT INTO app_rows VALUES (300, 'after switchover')");
      for (const n of [h1(), h2()]) {
        assert.deepEqual(
          await poll(`row 300 on ${n.host}`, ms(10_000), async () => {
            const got = await ids(n);
            return got.includes(300) ? got : undefined;
          }),
          [...before, 300],
        );
        assert.equal(await inRecovery(n), true);
        assert.equal(await receiver(n), `streaming from ${h3().host}:5432`);
      }
    },
  );

  it(
    'rejoin while the host is down throws (to be retried); once it is back, rejoin within seconds',
    120_000,
    async () => {
      const r = recovery();
      await labFault(lab.inventory.name, 'h1', 'crash');
      const err = await r.rejoin(ctx, h1(), h3(), 5000).then(
        (res) => assert.fail(`rejoin of a crashed host resolved: ${JSON.stringify(res)}`),
        (e: unknown) => e,
      );
      // The controller's rejoin loop retries on these codes without counting a failure (notBackYet).
      assert.ok(isNinesError(err), String(err));
      assert.match(err.code, /HOST_UNREACHABLE|TIMEOUT/, err.message);

      await labFault(lab.inventory.name, 'h1', 'restart');
      await poll('h1 ssh', ms(20_000), async () =>
        (await sshAnswers(h1().host, 22, 1000)) ? true : undefined,
      );
      const back = Date.now();
      const result = await r.rejoin(ctx, h1(), h3(), ms(30_000));
      const took = Date.now() - back;
      figures.push(`rejoin h1 after a host crash: ${took} ms after its SSH answered (${result.reason})`);
      assert.equal(result.action, 'rejoined', result.reason);
      assert.ok(took < 10_000 * TIMEOUT_SCALE, `${took} ms`);
      assert.equal(await receiver(h1()), `streaming from ${h3().host}:5432`);
      await waitQuorum(h3(), h1(), h2());
      await sql(h3(), "INSERT INTO app_rows VALUES (301, 'after the crash')");
      await poll('row 301 on h1', ms(10_000), async () =>
        (await ids(h1())).includes(301) ? true : undefined,
      );
    },
  );

  it('fence of a host that does not answer returns fenced: false within its bound', 60_000, async () => {
    await labFault(lab.inventory.name, 'h1', 'freeze');
    try {
      const start = Date.now();
      const result = await recovery().fence(ctx, h1(), 1500);
      const took = Date.now() - start;
      assert.equal(result.fenced, false);
      assert.match(result.how, /^unreachable: /);
      assert.ok(took < 1500 + ms(300), `${took} ms`);
    } finally {
      await labFault(lab.inventory.name, 'h1', 'thaw');
    }
  });
});
