// The mariadb-replication failover and switchover verbs on a real 3-node semi-sync cluster of lab hosts: positions
// read fresh and observed by the probe (semi-sync state, ack set), the port check against a live, crashed and
// frozen server, fencing (over SQL, over SSH when SQL cannot be reached, and an unreachable host), a manual
// failover made of the verbs, the old primary's rejoin, a crashed primary holding a commit nobody acknowledged
// (restarted as a replica it truncates it and rejoins), an errant write on a fenced node (diverged), a rebuild,
// and a switchover under writes that loses no acknowledged row. Asserts what users see: rows, read_only, who
// replicates from whom, one writable node at a time.
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createTestLab, labFault, type TestLab } from '../../../src/lab/index.ts';
import { validateSpec, type ClusterSpec, type NodeSpec } from '../../../src/core/spec.ts';
import { isNinesError } from '../../../src/core/errors.ts';
import { proveRpo } from '../../../src/core/recovery/rpo.ts';
import type { NodeObservation } from '../../../src/core/monitor/observation.ts';
import type { RecoveryContext, ReplicationRecovery } from '../../../src/engines/engine.ts';
import { mariadbReplicationEngine } from '../../../src/engines/mariadb/index.ts';
import { portCheckArgv } from '../../../src/engines/mariadb/recovery-plan.ts';
import {
  adminEndpoint,
  connectSql,
  serverId,
  serverRunning,
  sqlErrno,
  startServer,
  stringOf,
  withSql,
  type SqlClient,
  type SqlEndpoint,
} from '../../../src/engines/mysql/index.ts';
import { labEngineContext, labHostAccess, TIMEOUT_SCALE } from '../../support/lab-engine.ts';
import { poll } from '../../support/poll.ts';

const ms = (n: number): number => Math.round(n * TIMEOUT_SCALE);
const LOGS = join(import.meta.dirname, '..', '..', '..', '.lab', 'logs');
/** The bound given to the fast verbs (a failover has about 1.5 s after detection). */
const BOUND = ms(1500);
/** What a bounded verb may overrun its bound by (timers, the event loop of a busy 2-core machine). */
const SLACK = ms(400);

function makeSpec(addresses: readonly string[]): ClusterSpec {
  return validateSpec({
    name: 'mdbrec',
    type: 'mariadb-replication',
    nodes: addresses.map((host, i) => ({ host, ...(i === 0 ? { role: 'primary' } : {}) })),
    ssh: { key: 'unused' },
    credentials: { admin: 'admin-secret-9', replication: "repl'secret\\9", monitor: 'monitor-secret-9' },
    options: { semiSync: true },
  }).spec;
}

async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; elapsed: number }> {
  const started = Date.now();
  const value = await fn();
  return { value, elapsed: Date.now() - started };
}

describe('mariadb-replication failover verbs on lab hosts', { timeout: ms(900_000) }, () => {
  let lab: TestLab;
  let spec: ClusterSpec;
  let hosts: ReturnType<typeof labHostAccess>;
  let rec: ReplicationRecovery;
  let failed = false;
  const lines: string[] = [];
  const n = (i: number): NodeSpec => {
    const node = spec.nodes[i];
    assert.ok(node);
    return node;
  };
  const key = (node: NodeSpec): string => `${node.host}:${node.port}`;
  const ctx = (): RecoveryContext => ({
    spec,
    hosts,
    log: (l) => lines.push(l),
    signal: new AbortController().signal,
  });
  const appAt = (node: NodeSpec): SqlEndpoint => ({
    host: node.host,
    port: node.port,
    user: 'app',
    password: 'app-secret-9',
  });
  const q = async (node: NodeSpec, sql: string, params: unknown[] = []) =>
    withSql(adminEndpoint(spec, node), (c) => c.query(sql, params));
  const ids = async (node: NodeSpec, from = 0): Promise<number[]> =>
    (await q(node, 'SELECT id FROM app.t WHERE id >= ? ORDER BY id', [from])).map((r) => Number(r.id));
  const readOnly = async (node: NodeSpec): Promise<boolean> =>
    stringOf((await q(node, 'SELECT @@global.read_only AS ro'))[0]?.ro) === '1';
  const sourceOf = async (node: NodeSpec): Promise<string | null> => {
    const [s] = await q(node, 'SHOW SLAVE STATUS');
    return s
      ? `${stringOf(s.Master_Host)}:${stringOf(s.Master_Port)} io=${stringOf(s.Slave_IO_Running)}`
      : null;
  };
  /** Every reachable node that accepts writes: never more than one. */
  const writable = async (): Promise<string[]> => {
    const out: string[] = [];
    for (const node of spec.nodes) {
      const ro = await readOnly(node).catch(() => true);
      if (!ro) out.push(key(node));
    }
    return out;
  };
  /** One observation of the node by the monitor's probe. */
  const observe = async (node: NodeSpec): Promise<NodeObservation> => {
    const probe = mariadbReplicationEngine.openProbe(spec, node, { credentials: spec.credentials });
    try {
      return await probe.observe();
    } finally {
      await probe.close();
    }
  };
  const appWriteRefused = async (node: NodeSpec, id: number): Promise<void> => {
    const err = await withSql(appAt(node), (c) =>
      c.execute('INSERT INTO app.t VALUES (?, ?)', [id, 'nope']),
    ).then(
      () => assert.fail(`${key(node)} accepted a write`),
      (e: unknown) => e,
    );
    assert.equal(sqlErrno(err), 1290, String(err));
  };
  const waitRow = (node: NodeSpec, id: number) =>
    poll(`row ${id} on ${key(node)}`, ms(15_000), async () =>
      (await ids(node, id)).includes(id) ? true : undefined,
    );
  const waitReplicating = (node: NodeSpec, source: NodeSpec) =>
    poll(`${key(node)} replicating from ${key(source)}`, ms(30_000), async () =>
      (await sourceOf(node)) === `${key(source)} io=Yes` ? true : undefined,
    );

  before(async () => {
    lab = await createTestLab(3);
    spec = makeSpec(lab.inventory.hosts.map((h) => h.address));
    hosts = labHostAccess(lab.inventory);
    const r = mariadbReplicationEngine.recovery;
    assert.ok(r, 'mariadb-replication has recovery verbs');
    rec = r;
  });

  /** Connections a test opened by hand: closed at the end whatever happened (an open one keeps the process alive). */
  const opened: SqlClient[] = [];
  const connect = async (endpoint: SqlEndpoint): Promise<SqlClient> => {
    const c = await connectSql(endpoint);
    opened.push(c);
    return c;
  };

  afterEach((t) => {
    if ('passed' in t && t.passed === false) {
      failed = true;
      console.error(`${t.name} failed: ${String((t as { error?: unknown }).error)}`);
      console.error(lines.join('\n'));
    }
    lines.length = 0;
  });

  after(async () => {
    await Promise.all(opened.map((c) => c.close().catch(() => undefined)));
    await hosts?.close();
    await lab?.dispose(failed ? { keepLogsIn: LOGS } : {});
    if (failed) console.error(`host logs kept in ${LOGS}/${lab?.inventory.name}`);
  });

  test('deploys 3 semi-sync nodes with an application table and user', { timeout: ms(180_000) }, async () => {
    await mariadbReplicationEngine.deploy(labEngineContext(lab.inventory, spec, hosts));
    await withSql(adminEndpoint(spec, n(0)), async (c) => {
      await c.execute('CREATE DATABASE IF NOT EXISTS app');
      await c.execute('CREATE TABLE IF NOT EXISTS app.t (id INT PRIMARY KEY, v VARCHAR(20))');
      await c.execute(`CREATE USER IF NOT EXISTS 'app'@'%' IDENTIFIED BY 'app-secret-9'`);
      await c.execute(`GRANT SELECT, INSERT, UPDATE, DELETE ON app.* TO 'app'@'%'`);
      for (let i = 1; i <= 5; i++) await c.execute('INSERT INTO app.t VALUES (?, ?)', [i, 'seed']);
    });
    await waitRow(n(2), 5);
    assert.deepEqual(await writable(), [key(n(0))]);
  });

  test('readPosition: the primary and a caught-up replica agree', { timeout: ms(30_000) }, async () => {
    const primary = await rec.readPosition(ctx(), n(0), BOUND);
    assert.deepEqual(
      [primary.reachable, primary.role, primary.readOnly, primary.source],
      [true, 'primary', false, null],
    );
    const binlog = stringOf((await q(n(0), 'SELECT @@global.gtid_binlog_pos AS p'))[0]?.p);
    assert.equal(primary.receivedText, binlog);
    const replica = await poll('h2 caught up', ms(10_000), async () => {
      const p = await rec.readPosition(ctx(), n(1), BOUND);
      return p.appliedText === binlog ? p : undefined;
    });
    assert.deepEqual(
      [
        replica.role,
        replica.readOnly,
        replica.source,
        replica.linkUp,
        replica.applyBacklogSeconds,
        replica.received,
      ],
      ['replica', true, key(n(0)), true, 0, primary.received],
    );
    assert.equal(rec.errantTransactions(replica, primary.receivedText), 0);
  });

  test(
    'the probe reports semi-sync; ackState: synchronous, both replicas acknowledge',
    { timeout: ms(30_000) },
    async () => {
      const observations = new Map<string, NodeObservation>();
      for (const node of spec.nodes) observations.set(key(node), await observe(node));
      const p = observations.get(key(n(0)));
      assert.deepEqual(p?.mariadb?.semiSync, {
        masterEnabled: true,
        masterActive: true,
        clients: 2,
        slaveActive: false,
      });
      assert.equal(observations.get(key(n(1)))?.mariadb?.semiSync?.slaveActive, true);
      const ack = rec.ackState(spec, key(n(0)), observations);
      assert.equal(ack.mode, 'synchronous');
      assert.deepEqual([...ack.ackSet].sort(), [key(n(1)), key(n(2))].sort());
      assert.equal(ack.primaryPositionText, p?.mariadb?.gtidBinlogPos);
      const observed = rec.observedPosition(key(n(1)), observations.get(key(n(1))));
      assert.equal(observed.role, 'replica');
      assert.equal(observed.source, key(n(0)));
    },
  );

  test(
    'portCheck: up through an "Access denied" greeting; a crashed server is down, its host unknown',
    { timeout: ms(120_000) },
    async () => {
      // mariadb-admin ping exits 0 when the server answered at all: here with Access denied for a user that does
      // not exist.
      const raw = await hosts.executor(n(1).host).exec(portCheckArgv(n(0), 1000), { check: false });
      assert.equal(raw.exitCode, 0, raw.stderr);
      assert.match(raw.stderr, /Access denied/);
      const up = await timed(() => rec.portCheck(ctx(), n(1), n(0), BOUND));
      assert.equal(up.value, 'up');
      console.log(`portCheck up in ${up.elapsed} ms`);

      await labFault(lab.inventory.name, 'h3', 'crash');
      const down = await timed(() => rec.portCheck(ctx(), n(1), n(2), BOUND));
      assert.equal(down.value, 'down');
      assert.ok(down.elapsed <= BOUND + SLACK, `${down.elapsed} ms`);
      const from = await timed(() => rec.portCheck(ctx(), n(2), n(0), BOUND));
      assert.equal(from.value, 'unknown', 'a crashed host cannot run the check');
      assert.ok(from.elapsed <= BOUND + SLACK, `${from.elapsed} ms`);
      const pos = await rec.readPosition(ctx(), n(2), BOUND);
      assert.equal(pos.reachable, false);
      const fenced = await timed(() => rec.fence(ctx(), n(2), BOUND));
      assert.equal(fenced.value.fenced, false, fenced.value.how);
      assert.match(fenced.value.how, /^unreachable: /);
      assert.ok(fenced.elapsed <= BOUND + SLACK, `fence of a dead host took ${fenced.elapsed} ms`);
      console.log(
        `crashed: portCheck down in ${down.elapsed} ms, unknown in ${from.elapsed} ms, fence gave up in ${fenced.elapsed} ms`,
      );

      await labFault(lab.inventory.name, 'h3', 'restart');
      await startServer(hosts.executor(n(2).host), { readyTimeoutMs: ms(60_000) });
      await waitReplicating(n(2), n(0));
      assert.equal(await rec.portCheck(ctx(), n(1), n(2), BOUND), 'up');
    },
  );

  test(
    'portCheck and fence against a frozen host: down / unknown / not fenced, within the bound',
    { timeout: ms(120_000) },
    async () => {
      await labFault(lab.inventory.name, 'h3', 'freeze');
      try {
        const down = await timed(() => rec.portCheck(ctx(), n(1), n(2), BOUND));
        assert.equal(down.value, 'down', 'the kernel accepts TCP, the server never greets');
        assert.ok(down.elapsed <= BOUND + SLACK, `${down.elapsed} ms`);
        const from = await timed(() => rec.portCheck(ctx(), n(2), n(0), BOUND));
        assert.equal(from.value, 'unknown');
        assert.ok(from.elapsed <= BOUND + SLACK, `${from.elapsed} ms`);
        const read = await timed(() => rec.readPosition(ctx(), n(2), BOUND));
        assert.equal(read.value.reachable, false);
        assert.ok(read.elapsed <= BOUND + SLACK, `${read.elapsed} ms`);
        const fenced = await timed(() => rec.fence(ctx(), n(2), BOUND));
        assert.equal(fenced.value.fenced, false, fenced.value.how);
        assert.ok(fenced.elapsed <= BOUND + SLACK, `${fenced.elapsed} ms`);
        console.log(
          `frozen: portCheck down in ${down.elapsed} ms, unknown in ${from.elapsed} ms, readPosition ${read.elapsed} ms, fence ${fenced.elapsed} ms`,
        );
      } finally {
        await labFault(lab.inventory.name, 'h3', 'thaw');
      }
      await waitReplicating(n(2), n(0));
      // The fence gave up: nothing it started may act once the host answers again (it must not stop the server).
      await withSql(adminEndpoint(spec, n(0)), (c) =>
        c.execute('INSERT INTO app.t VALUES (6, ?)', ['thawed']),
      );
      await waitRow(n(2), 6);
      assert.equal(await serverRunning(hosts.executor(n(2).host)), true, 'the server runs after the thaw');
    },
  );

  test(
    'fence stops the server over SSH when its SQL port cannot be reached',
    { timeout: ms(120_000) },
    async () => {
      const ex = hosts.executor(n(2).host);
      const rule = [
        'INPUT',
        '-p',
        'tcp',
        '--dport',
        String(n(2).port),
        '-s',
        lab.inventory.controllerAddress,
        '-j',
        'DROP',
      ];
      await ex.exec(['iptables', '-w', '5', '-I', ...rule], { sudo: true });
      try {
        const fenced = await timed(() => rec.fence(ctx(), n(2), BOUND));
        assert.equal(fenced.value.fenced, true, fenced.value.how);
        assert.match(fenced.value.how, /server stopped over SSH/);
        assert.ok(fenced.elapsed <= BOUND + SLACK, `${fenced.elapsed} ms`);
        assert.equal(await serverRunning(ex), false);
        console.log(`fence over SSH in ${fenced.elapsed} ms: ${fenced.value.how}`);
      } finally {
        await ex.exec(['iptables', '-w', '5', '-D', ...rule], { sudo: true });
      }
      await startServer(ex, { readyTimeoutMs: ms(60_000) });
      await waitReplicating(n(2), n(0));
    },
  );

  test(
    'a manual failover made of the verbs: fence h1, promote h2, repoint h3',
    { timeout: ms(120_000) },
    async () => {
      // An application transaction open on h1 when it is fenced never commits.
      const app = await connect(appAt(n(0)));
      await app.execute('BEGIN');
      await app.execute('INSERT INTO app.t VALUES (100, ?)', ['open trx']);
      const fence = await timed(() => rec.fence(ctx(), n(0), BOUND));
      assert.equal(fence.value.fenced, true, fence.value.how);
      assert.match(fence.value.how, /^read_only=ON, [1-9]\d* client connection\(s\) killed/);
      await assert.rejects(app.execute('COMMIT'));
      await app.close();
      assert.equal(await readOnly(n(0)), true);
      assert.deepEqual(await ids(n(0), 100), [], 'the open transaction did not commit');
      await appWriteRefused(n(0), 101);

      const applied = await timed(() => rec.waitApplied(ctx(), n(1), BOUND));
      assert.equal(applied.value.applyBacklogSeconds, 0);
      const promoted = await timed(() => rec.promote(ctx(), n(1), [n(2)], BOUND));
      assert.deepEqual([promoted.value.role, promoted.value.readOnly], ['primary', false]);
      const repointed = await timed(() => rec.repoint(ctx(), n(2), n(1), BOUND));
      console.log(
        `failover verbs: fence ${fence.elapsed} ms (${fence.value.how}), waitApplied ${applied.elapsed} ms, promote ${promoted.elapsed} ms, repoint ${repointed.elapsed} ms`,
      );
      assert.equal(await sourceOf(n(2)), `${key(n(1))} io=Yes`);
      assert.deepEqual(await writable(), [key(n(1))], 'one writable node: the new primary');

      await withSql(appAt(n(1)), (c) => c.execute('INSERT INTO app.t VALUES (102, ?)', ['on h2']));
      await waitRow(n(2), 102);
      // The new primary waits for ACKs again (as a replica its semi-sync master side had switched itself off).
      const semi = (await observe(n(1))).mariadb?.semiSync;
      assert.deepEqual([semi?.masterEnabled, semi?.masterActive, semi?.clients], [true, true, 1]);
      await appWriteRefused(n(0), 103);
      assert.equal(await sourceOf(n(0)), null, 'the fenced old primary replicates from nobody yet');
      // Idempotent: a resumed failover runs the verbs again.
      assert.equal((await rec.promote(ctx(), n(1), [n(2)], BOUND)).readOnly, false);
      await rec.repoint(ctx(), n(2), n(1), BOUND);
    },
  );

  test(
    'the fenced old primary rejoins: its history is contained in the new primary',
    { timeout: ms(60_000) },
    async () => {
      const r = await timed(() => rec.rejoin(ctx(), n(0), n(1), BOUND));
      assert.equal(r.value.action, 'rejoined', r.value.reason);
      console.log(`rejoin in ${r.elapsed} ms: ${r.value.reason}`);
      assert.equal(await sourceOf(n(0)), `${key(n(1))} io=Yes`);
      await waitRow(n(0), 102);
      assert.equal(await readOnly(n(0)), true);
      assert.equal((await rec.rejoin(ctx(), n(0), n(1), BOUND)).action, 'rejoined', 'idempotent');
      const semi = (await observe(n(0))).mariadb?.semiSync;
      assert.deepEqual(
        [semi?.masterEnabled, semi?.slaveActive],
        [false, true],
        'a replica acknowledges, and waits for no ACK of its own',
      );
      assert.equal((await observe(n(1))).mariadb?.semiSync?.clients, 2);
      assert.deepEqual(await writable(), [key(n(1))]);
    },
  );

  test(
    'a crashed primary with a commit nobody acknowledged: restarted as a replica it truncates it and rejoins',
    { timeout: ms(240_000) },
    async () => {
      // h2 is the primary. Its replicas stop receiving (IO threads stopped), a commit waits for an ACK (it is
      // written and synced to the binlog first: AFTER_SYNC), and h2 crashes.
      const primaryLastSeen = await observe(n(1));
      assert.equal(primaryLastSeen.mariadb?.semiSync?.clients, 2);
      await q(n(1), 'SET GLOBAL rpl_semi_sync_master_timeout = 600000');
      for (const x of [n(0), n(2)]) await q(x, 'STOP SLAVE IO_THREAD');
      await poll('no semi-sync replica on h2', ms(10_000), async () => {
        const [r] = await q(n(1), "SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync_master_clients'");
        return stringOf(r?.Value) === '0' ? true : undefined;
      });
      const before = stringOf((await q(n(1), 'SELECT @@global.gtid_binlog_pos AS p'))[0]?.p);
      const writer = await connect(appAt(n(1)));
      const pending = writer.execute('INSERT INTO app.t VALUES (200, ?)', ['unacked']).then(
        () => 'acknowledged',
        () => 'failed',
      );
      const inBinlog = await poll('the commit in h2 binlog', ms(10_000), async () => {
        const p = stringOf((await q(n(1), 'SELECT @@global.gtid_binlog_pos AS p'))[0]?.p);
        return p !== before ? p : undefined;
      });
      await labFault(lab.inventory.name, 'h2', 'crash');
      assert.equal(await pending, 'failed', 'the client never got an acknowledgement');
      await writer.close().catch(() => undefined);
      console.log(`h2 crashed with ${inBinlog} in its binlog (was ${before}), not acknowledged`);

      // Fail over to h3. The replicas' latest observations (IO threads not connected) and h2's last good one:
      // both replicas may have acknowledged, and h3 provably holds whatever either received.
      assert.equal((await rec.fence(ctx(), n(1), BOUND)).fenced, false);
      const ack = rec.ackState(
        spec,
        key(n(1)),
        new Map([
          [key(n(1)), primaryLastSeen],
          [key(n(0)), await observe(n(0))],
          [key(n(2)), await observe(n(2))],
        ]),
      );
      assert.equal(ack.mode, 'synchronous');
      assert.deepEqual([...ack.ackSet].sort(), [key(n(0)), key(n(2))].sort());
      const positions = await Promise.all([n(0), n(2)].map((x) => rec.readPosition(ctx(), x, BOUND)));
      assert.deepEqual(
        positions.map((p) => p.receivedText),
        [before, before],
        'no replica received the unacknowledged commit',
      );
      const rpo = proveRpo({
        mode: ack.mode,
        candidate: key(n(2)),
        replicas: positions.map((p) => ({
          node: p.node,
          reachable: p.reachable,
          received: p.received,
          inAckSet: ack.ackSet.has(p.node),
        })),
        primaryLastPosition: ack.primaryPosition,
        unit: ack.unit,
      });
      assert.deepEqual([rpo.action, rpo.proven], ['promote', true], rpo.reason);
      await rec.waitApplied(ctx(), n(2), BOUND);
      await rec.promote(ctx(), n(2), [n(0)], BOUND);
      await rec.repoint(ctx(), n(0), n(2), BOUND);
      await withSql(appAt(n(2)), (c) => c.execute('INSERT INTO app.t VALUES (201, ?)', ['on h3']));
      await waitRow(n(0), 201);

      // h2's host comes back; rejoin starts its server as a replica.
      await labFault(lab.inventory.name, 'h2', 'restart');
      const r = await rec.rejoin(ctx(), n(1), n(2), ms(90_000));
      assert.equal(r.action, 'rejoined', r.reason);
      assert.match(r.reason, /its server was started/);
      await waitRow(n(1), 201);
      assert.deepEqual(await ids(n(1), 200), [201], 'the unacknowledged row is gone from h2');
      assert.deepEqual(await ids(n(2), 200), [201]);
      assert.equal(await sourceOf(n(1)), `${key(n(2))} io=Yes`);
      const log = await hosts
        .executor(n(1).host)
        .exec(['grep', '-i', 'truncat', '/var/log/mysql/error.log'], {
          sudo: true,
          check: false,
        });
      console.log(`h2 error log on recovery:\n${log.stdout.trim()}`);
      assert.match(log.stdout, /truncat/i);
      assert.deepEqual(await writable(), [key(n(2))]);
    },
  );

  test(
    'an errant write on a fenced node: rejoin says diverged and leaves it read-only',
    { timeout: ms(60_000) },
    async () => {
      assert.equal((await rec.fence(ctx(), n(1), BOUND)).fenced, true);
      await withSql(adminEndpoint(spec, n(1)), async (c) => {
        await c.execute('STOP SLAVE');
        await c.execute('SET GLOBAL read_only = OFF');
        await c.execute('INSERT INTO app.t VALUES (300, ?)', ['errant']);
        await c.execute('SET GLOBAL read_only = ON');
      });
      const primary = await rec.readPosition(ctx(), n(2), BOUND);
      const node = await rec.readPosition(ctx(), n(1), BOUND);
      assert.equal(rec.errantTransactions(node, primary.receivedText), 1);
      const r = await rec.rejoin(ctx(), n(1), n(2), BOUND);
      assert.equal(r.action, 'diverged', r.reason);
      assert.ok(r.reason.includes(`0-${serverId(n(1))}-`), r.reason);
      assert.equal(await readOnly(n(1)), true);
      assert.doesNotMatch((await sourceOf(n(1))) ?? '', /io=Yes/, 'it does not replicate');
      await assert.rejects(rec.repoint(ctx(), n(1), n(2), BOUND), (e) =>
        isNinesError(e, 'NINES_E_RECOVERY_FAILED'),
      );
      assert.deepEqual(await writable(), [key(n(2))]);
    },
  );

  test(
    'rebuild: the diverged node is copied from the primary and replicates again',
    { timeout: ms(240_000) },
    async () => {
      await rec.rebuild(ctx(), n(1), n(2));
      assert.equal(await sourceOf(n(1)), `${key(n(2))} io=Yes`);
      assert.deepEqual(await ids(n(1)), await ids(n(2)));
      assert.ok(!(await ids(n(1))).includes(300), 'the errant row is gone');
      assert.equal(await readOnly(n(1)), true);
      await withSql(appAt(n(2)), (c) => c.execute('INSERT INTO app.t VALUES (400, ?)', ['after rebuild']));
      await waitRow(n(1), 400);
      assert.equal((await rec.rejoin(ctx(), n(1), n(2), BOUND)).action, 'rejoined');
    },
  );

  test(
    'switchover under writes: demote h3, h1 catches up and is promoted, no acknowledged row lost',
    { timeout: ms(120_000) },
    async () => {
      const acked: number[] = [];
      let stop = false;
      const app = await connect(appAt(n(2)));
      const writer = (async () => {
        for (let id = 1000; !stop && id < 200_000; id++) {
          try {
            await app.execute('INSERT INTO app.t VALUES (?, ?)', [id, 'load']);
            acked.push(id);
          } catch {
            return;
          }
        }
      })();
      await poll('writes flowing', ms(10_000), () => Promise.resolve(acked.length >= 50 ? true : undefined));
      const demoted = await timed(() => rec.demote(ctx(), n(2), BOUND));
      stop = true;
      await writer;
      await app.close().catch(() => undefined);
      assert.equal(demoted.value.readOnly, true);
      assert.ok(demoted.value.receivedText);
      const caught = await timed(() =>
        rec.waitPosition(ctx(), n(0), demoted.value.receivedText ?? '', BOUND),
      );
      const promoted = await timed(() => rec.promote(ctx(), n(0), [n(1), n(2)], BOUND));
      await rec.repoint(ctx(), n(1), n(0), BOUND);
      const back = await rec.rejoin(ctx(), n(2), n(0), BOUND);
      assert.equal(back.action, 'rejoined', back.reason);
      console.log(
        `switchover: demote ${demoted.elapsed} ms (final ${demoted.value.receivedText}), waitPosition ${caught.elapsed} ms, promote ${promoted.elapsed} ms; ${acked.length} rows acknowledged`,
      );
      assert.deepEqual(await writable(), [key(n(0))]);
      const onNew = new Set(await ids(n(0), 1000));
      assert.deepEqual(
        acked.filter((id) => !onNew.has(id)),
        [],
        'every acknowledged row is on the new primary',
      );
      await withSql(appAt(n(0)), (c) => c.execute('INSERT INTO app.t VALUES (500, ?)', ['after switchover']));
      for (const x of [n(1), n(2)]) await waitRow(x, 500);
      const semi = (await observe(n(0))).mariadb?.semiSync;
      assert.deepEqual([semi?.masterActive, semi?.clients], [true, 2], 'the new primary waits for ACKs');
      assert.deepEqual(
        await ids(n(2)),
        await ids(n(0)),
        'the old primary holds exactly what the new one holds',
      );
      assert.deepEqual(await ids(n(1)), await ids(n(0)));
      await appWriteRefused(n(2), 501);
    },
  );
  test(
    'fence of a live primary with a commit waiting for an ACK: its server is killed, not the session (which would commit it); it rejoins with the commit rolled back',
    { timeout: ms(240_000) },
    async () => {
      // h1 is the primary (after the switchover). Its replicas stop receiving, a commit waits for an ACK — what a
      // thawed primary or one cut off from its replicas holds when nines fences it.
      await q(n(0), 'SET GLOBAL rpl_semi_sync_master_timeout = 600000');
      for (const x of [n(1), n(2)]) await q(x, 'STOP SLAVE IO_THREAD');
      await poll('no semi-sync replica on h1', ms(10_000), async () => {
        const [r] = await q(n(0), "SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync_master_clients'");
        return stringOf(r?.Value) === '0' ? true : undefined;
      });
      const writer = await connect(appAt(n(0)));
      const pending = writer.execute('INSERT INTO app.t VALUES (600, ?)', ['waiting']).then(
        () => 'acknowledged',
        () => 'failed',
      );
      await poll('the commit waits for an ACK on h1', ms(10_000), async () => {
        const rows = await q(
          n(0),
          "SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE STATE LIKE 'Waiting for semi-sync ACK%'",
        );
        return stringOf(rows[0]?.n) === '1' ? true : undefined;
      });
      const f = await rec.fence(ctx(), n(0), ms(5000));
      assert.equal(f.fenced, true, f.how);
      assert.match(f.how, /1 commit\(s\) waiting for a semi-sync ACK: server killed over SSH/);
      assert.equal(await pending, 'failed', 'the client never got an acknowledgement');
      await writer.close().catch(() => undefined);
      assert.equal(await serverRunning(hosts.executor(n(0).host)), false);

      // Fail over to h2, then h1 rejoins: started as a replica, its prepared commit is rolled back.
      await rec.waitApplied(ctx(), n(1), BOUND);
      await rec.promote(ctx(), n(1), [n(2)], BOUND);
      await rec.repoint(ctx(), n(2), n(1), BOUND);
      await withSql(appAt(n(1)), (c) => c.execute('INSERT INTO app.t VALUES (601, ?)', ['on h2']));
      const r = await rec.rejoin(ctx(), n(0), n(1), ms(90_000));
      assert.equal(r.action, 'rejoined', r.reason);
      await waitRow(n(0), 601);
      assert.deepEqual(
        (await ids(n(0), 600)).filter((id) => id < 1000),
        [601],
        'the unacknowledged row is gone from h1',
      );
      assert.deepEqual(await writable(), [key(n(1))]);
    },
  );
});
