// Every string of the spec is refused when it holds a control character (they could add lines to the files
// nines renders: haproxy.cfg, my.cnf, pg_hba.conf, ...), hosts are a host name or an IP address and nothing
// else, and no message echoes a password.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isNinesError } from '../../../src/core/errors.ts';
import { validateSpec } from '../../../src/core/spec.ts';
import { formatPath } from '../../../src/core/validation.ts';

/** A spec using every string field there is (galera: gcacheSize; endpoint with a VIP; every ssh field). */
function fullSpec(): Record<string, unknown> {
  return {
    name: 'prod-1',
    type: 'galera',
    version: '10.11',
    nodes: [
      { host: 'db1.example.com', datacenter: 'dc1', role: 'replica' },
      { host: '10.0.0.2', datacenter: 'dc2' },
      { host: 'fd00::3' },
    ],
    ssh: { user: 'deploy', key: 'deploy-key' },
    credentials: { admin: 'admin-pass-1', replication: 'repl-pass-1', monitor: 'mon-pass-1' },
    options: { sstMethod: 'rsync', gcacheSize: '512M' },
    endpoint: { proxies: ['px1', 'px2'], virtualIp: '10.0.0.20' },
  };
}

function problems(input: unknown): string[] {
  try {
    validateSpec(input);
  } catch (err) {
    assert.ok(isNinesError(err, 'NINES_E_SPEC_INVALID'), String(err));
    assert.equal(err.message.includes('\n'), false, 'a message never holds a raw line break');
    return err.context.problems as string[];
  }
  assert.fail('expected NINES_E_SPEC_INVALID');
}

/** Paths of every string in a JSON value. */
function stringPaths(value: unknown, path: (string | number)[] = []): (string | number)[][] {
  if (typeof value === 'string') return [path];
  if (Array.isArray(value)) return value.flatMap((v, i) => stringPaths(v, [...path, i]));
  if (value && typeof value === 'object')
    return Object.entries(value).flatMap(([k, v]) => stringPaths(v, [...path, k]));
  return [];
}

function withValue(spec: unknown, path: readonly (string | number)[], value: string): unknown {
  const copy = structuredClone(spec) as Record<string | number, unknown>;
  let at = copy;
  for (const seg of path.slice(0, -1)) at = at[seg] as Record<string | number, unknown>;
  at[path[path.length - 1] as string | number] = value;
  return copy;
}

test('the full spec used below is valid', () => {
  assert.ok(validateSpec(fullSpec()).spec);
});

const CONTROLS: readonly [string, string][] = [
  ['\n', '\\n'],
  ['\r', '\\r'],
  ['\0', '\\0'],
  ['\t', '\\t'],
  ['\u001b', '\\u001b'],
  ['\u007f', '\\u007f'],
  ['\u0085', '\\u0085'],
  ['\u2028', '\\u2028'],
];

test('a control character in any string of the spec is refused, naming the path and the position', () => {
  const spec = fullSpec();
  const paths = stringPaths(spec).filter((p) => !['type', 'role', 'sstMethod'].includes(String(p.at(-1))));
  assert.ok(paths.length >= 15, `every string field is covered (${paths.length})`);
  for (const path of paths) {
    const original = String(path.reduce<unknown>((v, k) => (v as Record<string, unknown>)[k], spec));
    for (const [ch, shown] of CONTROLS) {
      const value = `${original.slice(0, 2)}${ch}${original.slice(2)}`;
      const got = problems(withValue(spec, path, value));
      const where = formatPath(path);
      assert.ok(
        got.some(
          (p) =>
            p ===
            `${where}: expected no control characters (CR, LF, NUL, TAB or other C0/C1), got "${shown}" at position 3`,
        ) ||
          (where === 'version' && got.length === 1 && got[0]?.startsWith('version: expected')),
        `${where} with ${shown}: ${JSON.stringify(got)}`,
      );
    }
  }
});

test('the monitor password of the haproxy.cfg injection is refused by path, and the password is not echoed', () => {
  const password = 'letmein1\n    external-check command /bin/touch';
  const spec = { ...fullSpec(), credentials: { monitor: password } };
  assert.deepEqual(problems(spec), [
    'credentials.monitor: expected no control characters (CR, LF, NUL, TAB or other C0/C1), got "\\n" at position 9',
  ]);
});

test('no problem about a password echoes it', () => {
  for (const password of ['short', 'x'.repeat(200), 'sh\nort', 'secret-with-\u0000-nul']) {
    for (const name of ['admin', 'replication', 'monitor']) {
      const got = problems({ ...fullSpec(), credentials: { [name]: password } });
      assert.equal(got.length, 1);
      assert.match(got[0] ?? '', new RegExp(`^credentials\\.${name}: expected `));
      assert.equal(got[0]?.includes(password.slice(0, 4)), false, got[0]);
    }
  }
});

const GOOD_HOSTS = ['db1', 'DB-1.example.com', '10.0.0.1', '255.255.255.255', '::1', 'fe80::1', 'a1.b2'];
const BAD_HOSTS: readonly [string, string][] = [
  ['1.2.3.4:22', 'without a port (ports have their own field)'],
  ['db1:3306', 'without a port (ports have their own field)'],
  ['[::1]:22', 'without a port (ports have their own field)'],
  ['a b', "(letters, digits, '.' and '-', or an IPv4/IPv6 address)"],
  ['-oProxyCommand=x', "(letters, digits, '.' and '-', or an IPv4/IPv6 address)"],
  ['db-', "(letters, digits, '.' and '-', or an IPv4/IPv6 address)"],
  ['a;b', "(letters, digits, '.' and '-', or an IPv4/IPv6 address)"],
  ['a..b', "(letters, digits, '.' and '-', or an IPv4/IPv6 address)"],
  ['host.', "(letters, digits, '.' and '-', or an IPv4/IPv6 address)"],
  ['a_b', "(letters, digits, '.' and '-', or an IPv4/IPv6 address)"],
  ['300.1.1.1', "(letters, digits, '.' and '-', or an IPv4/IPv6 address)"],
  ['01.2.3.4', "(letters, digits, '.' and '-', or an IPv4/IPv6 address)"],
  ['x'.repeat(64), "(letters, digits, '.' and '-', or an IPv4/IPv6 address)"],
  ['', "(letters, digits, '.' and '-', or an IPv4/IPv6 address)"],
  ['"db1"', "(letters, digits, '.' and '-', or an IPv4/IPv6 address)"],
];

test('hosts: a host name or an IP address, never a port, a space, a quote or a leading -', () => {
  for (const host of GOOD_HOSTS) {
    const spec = { ...fullSpec(), nodes: [{ host }], endpoint: { proxies: [host] } };
    assert.ok(validateSpec(spec), host);
  }
  for (const [host, expected] of BAD_HOSTS) {
    const shown = host.length > 60 ? `${host.slice(0, 57)}...` : host;
    assert.deepEqual(
      problems({ ...fullSpec(), nodes: [{ host }], endpoint: { proxies: ['px1', host] } }),
      [
        `nodes[0].host: expected a host name or IP address ${expected}, got '${shown}'`,
        `endpoint.proxies[1]: expected a host name or IP address ${expected}, got '${shown}'`,
      ],
      host,
    );
  }
});

test('ssh.user is a login name', () => {
  for (const user of ['root', 'deploy', 'svc_nines', 'a.b-c']) {
    assert.ok(validateSpec({ ...fullSpec(), ssh: { user, key: 'k' } }));
  }
  for (const user of ['-oProxyCommand=x', 'a b', '', '1abc', 'x'.repeat(33), 'a;b']) {
    const got = problems({ ...fullSpec(), ssh: { user, key: 'k' } });
    assert.equal(got.length, 1, user);
    assert.match(got[0] ?? '', /^ssh\.user: expected a user name \(/);
  }
});
