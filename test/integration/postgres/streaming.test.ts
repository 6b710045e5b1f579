// postgres-streaming on real lab hosts: a deploy interrupted by a standby host crash and finished by a re-run,
// replication of a row, read-only standbys, quorum sync, discover, add/remove a node, wrong password on import,
// and no password nines generated (its own roles', the application user's) in any server log, even with
// log_statement = 'all'.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestLab, execInLabHost, labFault, sshAnswers, type TestLab } from '../../../src/lab/index.ts';
import { validateSpec, type ClusterSpec, type NodeSpec } from '../../../src/core/spec.ts';
import { isNinesError, NinesError } from '../../../src/core/errors.ts';
import type { EngineContext } from '../../../src/engines/engine.ts';
import { postgresEngine } from '../../../src/engines/postgres/index.ts';
import { connectSql, withSql, type SqlClient } from '../../../src/engines/postgres/sql.ts';
import { PG_USERS, scramVerifier, slotName } from '../../../src/engines/postgres/config.ts';
import { ensureAppUser } from '../../../src/engines/registry.ts';
import { labEngineContext, labHostAccess, TIMEOUT_SCALE } from '../../support/lab-engine.ts';
import { findSecrets, scannedFiles } from '../../support/secret-scan.ts';
import { poll } from '../../support/poll.ts';

const ms = (n: number): number => Math.round(n * TIMEOUT_SCALE);
const LOGS = join(tmpdir(), 'nines-test-logs');

function makeSpec(addresses: readonly string[], admin = 'admin-secret-1'): ClusterSpec {
  return validateSpec({
    name: 'pgit',
    type: 'postgres-streaming',
    nodes: addresses.map((host, i) => ({ host, ...(i === 0 ? { role: 'primary' } : {}) })),
    ssh: { key: 'unused' },
    credentials: { admin, replication: 'repl-secret-1', monitor: 'monitor-secret-1' },
    options: { synchronous: true },
  }).spec;
}

describe('postgres-streaming on lab hosts', { timeout: ms(600_000) }, () => {
  let lab: TestLab;
  let spec: ClusterSpec;
  let spec4: ClusterSpec;
  let hosts: ReturnType<typeof labHostAccess>;
  let failed = false;
  const ctxFor = (s: ClusterSpec): EngineContext & { lines: string[] } =>
    labEngineContext(lab.inventory, s, hosts);
  const admin = (node: NodeSpec, s: ClusterSpec = spec): Promise<SqlClient> =>
    connectSql({ host: node.host, port: node.port, user: PG_USERS.admin, password: s.credentials.admin });
  const node = (i: number): NodeSpec => {
    const n = spec4.nodes[i];
    assert.ok(n);
    return n;
  };
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
    lab = await createTestLab(4);
    const addresses = lab.inventory.hosts.map((h) => h.address);
    spec = makeSpec(addresses.slice(0, 3));
    spec4 = makeSpec(addresses);
    hosts = labHostAccess(lab.inventory);
  });

  after(async () => {
    await hosts?.close();
    await lab?.dispose(failed ? { keepLogsIn: LOGS } : {});
    if (failed) console.error(`host logs kept in ${LOGS}/${lab?.inventory.name}`);
  });

  it(
    'a deploy interrupted by a standby host crash fails clearly; a re-run finishes it',
    240_000,
    async () => {
      const h3 = lab.inventory.hosts[2];
      assert.ok(h3);
      const base = ctxFor(spec);
      // h3 crashes while pg_basebackup copies the primary to it (its slot is left active on the primary).
      let crash: Promise<void> | undefined;
      const crashing: EngineContext = {
        ...base,
        log(line) {
          base.log(line);
          if (line.startsWith(`${h3.address}:5432: cloning`))
            crash ??= labFault(lab.inventory.name, 'h3', 'crash');
        },
        step: (name, fn) => base.step(name, fn),
      };
      const err = await postgresEngine.deploy(crashing).then(
        () => assert.fail('deploy should fail with h3 crashed'),
        (e: unknown) => e,
      );
      assert.ok(crash, 'h3 was crashed during its clone');
      await crash;
      assert.ok(err instanceof NinesError, `a NinesError, got ${String(err)}`);
      base.log(`deploy failed as expected: ${err.code}: ${err.message}`);
      assert.match(err.message, new RegExp(h3.address.replaceAll('.', '\\.')), err.message);

      await labFault(lab.inventory.name, 'h3', 'restart');
      await poll('h3 ssh', ms(20_000), async () =>
        (await sshAnswers(h3.address, 22, 1000)) ? true : undefined,
      );
      const ctx = ctxFor(spec);
      const topology = await postgresEngine.deploy(ctx);
      assert.deepEqual(
        topology.nodes.map((n) => [n.host, n.role, n.source ?? '', n.state]),
        [
          [node(0).host, 'primary', '', 'running'],
          [node(1).host, 'replica', `${node(0).host}:5432`, 'streaming'],
          [node(2).host, 'replica', `${node(0).host}:5432`, 'streaming'],
        ],
      );
      // The re-run kept the primary and the healthy standby and re-cloned only what was missing.
      assert.ok(
        ctx.lines.some((l) => l.includes(`${node(1).host}:5432: already a standby`)),
        ctx.lines.join('\n'),
      );
    },
  );

  it('a row written on the primary is read on every standby; standbys refuse writes', 60_000, async () => {
    const primary = await admin(node(0));
    try {
      await primary.query('CREATE TABLE IF NOT EXISTS app_rows (id int PRIMARY KEY, v text)');
      await primary.query(
        "INSERT INTO app_rows VALUES (1, 'hello') ON CONFLICT (id) DO UPDATE SET v = 'hello'",
      );
    } finally {
      await primary.close();
    }
    for (const i of [1, 2]) {
      const c = await admin(node(i));
      try {
        const rows = await poll(`row on ${node(i).host}`, ms(10_000), async () => {
          const r = await c.query<{ v: string }>('SELECT v FROM app_rows WHERE id = 1');
          return r.length > 0 ? r : undefined;
        });
        assert.deepEqual(rows, [{ v: 'hello' }]);
        await assert.rejects(c.query("INSERT INTO app_rows VALUES (2, 'no')"), (e: unknown) => {
          assert.ok(isNinesError(e, 'NINES_E_DB_QUERY'), String(e));
          assert.equal(e.context.sqlState, '25006');
          assert.match(e.message, /cannot execute INSERT in a read-only transaction/);
          return true;
        });
      } finally {
        await c.close();
      }
    }
  });

  it('pg_stat_replication shows 2 streaming standbys in the quorum', 30_000, async () => {
    const rows = await withSql(
      { host: node(0).host, port: 5432, user: PG_USERS.admin, password: spec.credentials.admin },
      {},
      (c) =>
        c.query<{ state: string; sync_state: string }>(
          'SELECT state, sync_state FROM pg_stat_replication ORDER BY application_name',
        ),
    );
    assert.deepEqual(rows, [
      { state: 'streaming', sync_state: 'quorum' },
      { state: 'streaming', sync_state: 'quorum' },
    ]);
    const names = await withSql(
      { host: node(1).host, port: 5432, user: PG_USERS.admin, password: spec.credentials.admin },
      {},
      (c) => c.query<{ s: string }>('SHOW synchronous_standby_names'),
    );
    assert.match(Object.values(names[0] ?? {})[0] as string, /^ANY 1 \(/, 'a standby keeps the list too');
  });

  it('discover returns the deployed topology', 30_000, async () => {
    const topology = await postgresEngine.discover(ctxFor(spec));
    assert.deepEqual(
      topology.nodes.map((n) => [n.host, n.role, n.source ?? '', n.readOnly]),
      [
        [node(0).host, 'primary', '', false],
        [node(1).host, 'replica', `${node(0).host}:5432`, true],
        [node(2).host, 'replica', `${node(0).host}:5432`, true],
      ],
    );
  });

  it(
    'adds a 4th node, then removes it (slot dropped, pg_hba updated); refuses to remove the primary',
    180_000,
    async () => {
      const h4 = node(3);
      const added = await postgresEngine.addNode(ctxFor(spec4), h4);
      assert.deepEqual(added.nodes.find((n) => n.host === h4.host)?.state, 'streaming');
      const slots = async (): Promise<string[]> =>
        withSql(
          { host: node(0).host, port: 5432, user: PG_USERS.admin, password: spec.credentials.admin },
          {},
          (c) => c.query<{ slot_name: string }>('SELECT slot_name FROM pg_replication_slots ORDER BY 1'),
        ).then((r) => r.map((x) => x.slot_name));
      assert.ok((await slots()).includes(slotName(h4)));

      await assert.rejects(
        postgresEngine.removeNode(ctxFor(spec4), node(0), { force: false }),
        (e: unknown) => isNinesError(e, 'NINES_E_REMOVE_REFUSED'),
      );

      // A persistent (monitor-style) connection to h4 learns that its server went away.
      let broken: unknown;
      const probe = await connectSql(
        { host: h4.host, port: 5432, user: PG_USERS.admin, password: spec.credentials.admin },
        { onBroken: (e) => (broken = e) },
      );
      const removed = await postgresEngine.removeNode(ctxFor(spec4), h4, { force: false });
      await poll('onBroken', ms(10_000), () => Promise.resolve(broken === undefined ? undefined : true));
      assert.ok(isNinesError(broken, 'NINES_E_DB_UNREACHABLE'), String(broken));
      assert.ok(probe.closed);
      assert.equal(removed.nodes.length, 3);
      assert.ok(!(await slots()).includes(slotName(h4)), 'slot dropped');
      const hba = await execInLabHost(lab.inventory, 'h1', ['cat', '/etc/postgresql/15/main/pg_hba.conf']);
      assert.ok(!hba.stdout.includes(h4.host), 'h4 no longer in pg_hba.conf');
      await assert.rejects(
        connectSql(
          { host: h4.host, port: 5432, user: PG_USERS.admin, password: 'x' },
          { connectTimeoutMs: 2000 },
        ),
        (e: unknown) => isNinesError(e, 'NINES_E_DB_UNREACHABLE'),
        'h4 stopped',
      );
    },
  );

  it('import with a wrong admin password fails with NINES_E_DB_AUTH', 30_000, async () => {
    const wrong = makeSpec(
      spec.nodes.map((n) => n.host),
      'not-the-password',
    );
    await assert.rejects(postgresEngine.discover(ctxFor(wrong)), (e: unknown) => {
      assert.ok(isNinesError(e, 'NINES_E_DB_AUTH'), String(e));
      assert.ok(!e.message.includes('not-the-password'));
      return true;
    });
  });

  it('no password nines generated reaches a server log, even with log_statement = all', 60_000, async () => {
    const primary = node(0);
    const app = { user: 'pgapp', password: "pg-app-Secret'7", database: 'pgapp' };
    await withSql(
      { host: primary.host, port: primary.port, user: PG_USERS.admin, password: spec.credentials.admin },
      {},
      async (c) => {
        await c.query(`ALTER SYSTEM SET log_statement = 'all'`);
        await c.query('SELECT pg_reload_conf()');
      },
    );
    try {
      const topology = await postgresEngine.discover(ctxFor(spec));
      await ensureAppUser(hosts, spec, topology, app);
      // A second run alters the existing role (the ALTER ROLE ... PASSWORD path).
      await ensureAppUser(hosts, spec, topology, app);
      // The stored verifier is the one of the application password (pg_hba admits the app user only from
      // proxies, so it is checked by recomputing it with the stored salt).
      const [row] = await withSql(
        { host: primary.host, port: primary.port, user: PG_USERS.admin, password: spec.credentials.admin },
        {},
        (c) => c.query<{ v: string }>(`SELECT rolpassword AS v FROM pg_authid WHERE rolname = 'pgapp'`),
      );
      const salt = /^SCRAM-SHA-256\$4096:([^$]+)\$/.exec(row?.v ?? '')?.[1];
      assert.ok(salt, `a SCRAM verifier is stored: ${row?.v.slice(0, 20)}`);
      assert.equal(row?.v, scramVerifier(app.password, Buffer.from(salt, 'base64')));
    } finally {
      await withSql(
        { host: primary.host, port: primary.port, user: PG_USERS.admin, password: spec.credentials.admin },
        {},
        async (c) => {
          await c.query('ALTER SYSTEM RESET log_statement');
          await c.query('SELECT pg_reload_conf()');
        },
      );
    }
    const generated = [...Object.values(spec.credentials), app.password];
    for (const n of spec.nodes) {
      const ex = hosts.executor(n.host);
      const files = await scannedFiles(ex);
      assert.ok(
        files.some((f) => f.startsWith('/var/log/postgresql/')),
        `server log scanned: ${files.join(', ')}`,
      );
      assert.deepEqual(await findSecrets(ex, generated), [], `on ${n.host}`);
    }
    // The statements were logged (so the scan would have seen a clear password in them).
    const log = await hosts.executor(primary.host).exec(['sh', '-c', 'cat /var/log/postgresql/*.log'], {
      sudo: true,
    });
    assert.match(log.stdout, /statement: .*ALTER ROLE "pgapp" LOGIN PASSWORD 'SCRAM-SHA-256\$/);
  });
});
