// Host steps of the MariaDB engines against a scripted executor: packages, port, datadir, root SQL on stdin.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isNinesError } from '../../../src/core/errors.ts';
import { checkPort, ensurePackages, initDatadir } from '../../../src/engines/mysql/host.ts';
import { rootSql } from '../../../src/engines/mysql/root-sql.ts';
import { FakeExecutor } from '../../support/fake-executor.ts';

function host(service: 'running' | 'stopped'): FakeExecutor {
  return new FakeExecutor('db1')
    .on((argv) => argv.join(' ').includes('/run/systemd/system'), { stdout: 'direct\n' })
    .on((argv) => argv.includes('nines-status'), {
      stdout: service === 'running' ? 'running 4242\n' : 'stopped none\n',
    });
}

test('missing packages without apt-get: NINES_E_PACKAGE_MISSING names them', async () => {
  const fake = host('stopped')
    .on(['dpkg-query'], { exitCode: 1, stdout: 'mariadb-server install ok installed\n' })
    .on(['sh', '-c', 'command -v apt-get'], { exitCode: 1 });
  await assert.rejects(
    ensurePackages(fake, ['mariadb-server', 'galera-4'], () => undefined),
    (e) => {
      assert.ok(isNinesError(e, 'NINES_E_PACKAGE_MISSING'));
      assert.match(e.message, /db1: galera-4$/);
      assert.deepEqual(e.context.packages, ['galera-4']);
      return true;
    },
  );
});

test('missing packages with apt-get: installed non-interactively, then checked again', async () => {
  let installed = false;
  const fake = host('stopped')
    .on(['dpkg-query'], () => ({
      stdout: `mariadb-server install ok installed\n${installed ? 'galera-4 install ok installed\n' : ''}`,
    }))
    .on(['sh', '-c', 'command -v apt-get'], { stdout: '/usr/bin/apt-get\n' })
    .on(['apt-get', 'install'], () => {
      installed = true;
      return {};
    });
  const lines: string[] = [];
  await ensurePackages(fake, ['mariadb-server', 'galera-4'], (l) => lines.push(l));
  assert.ok(fake.commands().includes('apt-get install -y --no-install-recommends galera-4'));
  const call = fake.calls.find((c) => c.argv[0] === 'apt-get');
  assert.equal(call?.options.env?.DEBIAN_FRONTEND, 'noninteractive');
  assert.deepEqual(lines, ['db1: installing galera-4 with apt-get']);
});

test('port used by another program: NINES_E_PORT_IN_USE with its name', async () => {
  const fake = host('stopped').on(['ss'], {
    stdout: 'LISTEN 0 80 0.0.0.0:3306 0.0.0.0:* users:(("mysqld",pid=77,fd=21))\n',
  });
  await assert.rejects(checkPort(fake, 3306), (e) => {
    assert.ok(isNinesError(e, 'NINES_E_PORT_IN_USE'));
    assert.match(e.message, /db1:3306 is used by mysqld/);
    return true;
  });
  assert.ok(fake.commands().includes('ss -Hltnp sport = :3306'));
});

test('port free: false; our own mariadbd already running: true without looking at the port', async () => {
  assert.equal(await checkPort(host('stopped').on(['ss'], { stdout: '' }), 3306), false);
  const ours = host('running');
  assert.equal(await checkPort(ours, 3306), true);
  assert.ok(!ours.commands().some((c) => c.startsWith('ss ')));
});

test('datadir: initialised only when the system tables are missing', async () => {
  const fresh = host('stopped').on(['test', '-d'], { exitCode: 1 }).on(['mariadb-install-db'], {
    stdout: "Installing MariaDB/MySQL system tables in '/var/lib/mysql' ...\nOK\n",
  });
  assert.equal(await initDatadir(fresh), true);
  assert.ok(
    fresh
      .commands()
      .includes(
        'mariadb-install-db --user=mysql --datadir=/var/lib/mysql --skip-test-db --auth-root-authentication-method=socket',
      ),
  );
  const done = host('stopped').on(['test', '-d'], { exitCode: 0 });
  assert.equal(await initDatadir(done), false);
  assert.ok(!done.commands().some((c) => c.startsWith('mariadb-install-db')));
});

test('root SQL travels on stdin (never argv); failures keep only the ERROR line, redacted', async () => {
  const fake = new FakeExecutor('db1').on(['mariadb'], {
    exitCode: 1,
    stderr:
      "--------------\nALTER USER 'x'@'y' IDENTIFIED BY 's3cret-pw'\n--------------\n\nERROR 1064 (42000) at line 1: near 's3cret-pw'\n",
  });
  await assert.rejects(
    rootSql(fake, "ALTER USER 'x'@'y' IDENTIFIED BY 's3cret-pw';\n", { secrets: ['s3cret-pw'] }),
    (e) => {
      assert.ok(isNinesError(e, 'NINES_E_DB_QUERY'));
      assert.equal(e.context.errno, 1064);
      assert.ok(!e.message.includes('s3cret-pw'), e.message);
      assert.match(e.message, /ERROR 1064 \(42000\) at line 1: near '\*\*\*'/);
      return true;
    },
  );
  const call = fake.calls[0];
  assert.deepEqual(call?.argv, [
    'mariadb',
    '--no-defaults',
    '--socket=/run/mysqld/mysqld.sock',
    '--user=root',
    '--batch',
  ]);
  assert.equal(call?.options.stdin, "ALTER USER 'x'@'y' IDENTIFIED BY 's3cret-pw';\n");
});
