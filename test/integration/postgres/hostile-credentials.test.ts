// postgres-streaming deployed on lab hosts with passwords holding every character the rendered files treat
// specially (spaces, #, quotes, \, $, :): the standby streams (the replication password went through .pgpass
// and primary_conninfo's passfile), and the admin and monitor users log in with their passwords as given.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestLab, type TestLab } from '../../../src/lab/index.ts';
import { validateSpec, type ClusterSpec } from '../../../src/core/spec.ts';
import { postgresEngine } from '../../../src/engines/postgres/index.ts';
import { withSql } from '../../../src/engines/postgres/sql.ts';
import { PG_USERS } from '../../../src/engines/postgres/config.ts';
import { labEngineContext, labHostAccess, TIMEOUT_SCALE } from '../../support/lab-engine.ts';
import { poll } from '../../support/poll.ts';

const ms = (n: number): number => Math.round(n * TIMEOUT_SCALE);
const LOGS = join(tmpdir(), 'nines-test-logs');
const CREDENTIALS = {
  admin: `adm'in "pa ss" #1 \\$HOME`,
  replication: `re:pl 'x' "y" #\\:\\\\ $PATH`,
  monitor: `mon:#'"\\ ${'$'}{x} é`,
};

describe('postgres-streaming with hostile passwords', { timeout: ms(300_000) }, () => {
  let lab: TestLab;
  let spec: ClusterSpec;
  let hosts: ReturnType<typeof labHostAccess>;
  let failed = false;
  const login = (host: string, user: string, password: string) =>
    withSql({ host, port: 5432, user, password }, {}, (c) =>
      c.query<{ u: string }>('SELECT current_user AS u'),
    );

  before(async () => {
    lab = await createTestLab(2);
    const addresses = lab.inventory.hosts.map((h) => h.address);
    spec = validateSpec({
      name: 'pghostile',
      type: 'postgres-streaming',
      nodes: addresses.map((host, i) => ({ host, ...(i === 0 ? { role: 'primary' } : {}) })),
      ssh: { key: 'unused' },
      credentials: CREDENTIALS,
    }).spec;
    hosts = labHostAccess(lab.inventory);
  });

  after(async () => {
    await hosts?.close();
    await lab?.dispose(failed ? { keepLogsIn: LOGS } : {});
    if (failed) console.error(`host logs kept in ${LOGS}/${lab?.inventory.name}`);
  });

  test(
    'deploys, the standby streams, every user logs in with its password',
    { timeout: ms(240_000) },
    async () => {
      try {
        const [primary, standby] = spec.nodes;
        assert.ok(primary && standby);
        const topology = await postgresEngine.deploy(labEngineContext(lab.inventory, spec, hosts));
        assert.deepEqual(
          topology.nodes.map((n) => [n.host, n.role, n.state]),
          [
            [primary.host, 'primary', 'running'],
            [standby.host, 'replica', 'streaming'],
          ],
        );
        const rows = await withSql(
          { host: primary.host, port: 5432, user: PG_USERS.admin, password: CREDENTIALS.admin },
          {},
          (c) => c.query<{ state: string }>('SELECT state FROM pg_stat_replication'),
        );
        assert.deepEqual(rows, [{ state: 'streaming' }]);
        await withSql(
          { host: primary.host, port: 5432, user: PG_USERS.admin, password: CREDENTIALS.admin },
          {},
          (c) =>
            c.query("CREATE TABLE IF NOT EXISTS hostile (v text); INSERT INTO hostile VALUES ('streamed')"),
        );
        await poll('the row reaches the standby', ms(20_000), async () => {
          const got = await withSql(
            { host: standby.host, port: 5432, user: PG_USERS.admin, password: CREDENTIALS.admin },
            {},
            (c) => c.query<{ v: string }>('SELECT v FROM hostile'),
          ).catch(() => []);
          return got.length === 1 ? got : undefined;
        });
        assert.deepEqual(await login(standby.host, PG_USERS.monitor, CREDENTIALS.monitor), [
          { u: 'nines_monitor' },
        ]);
        await assert.rejects(
          login(primary.host, PG_USERS.admin, 'adm'),
          /password authentication failed|NINES_E/,
        );
      } catch (err) {
        failed = true;
        throw err;
      }
    },
  );
});
