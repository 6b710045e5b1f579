import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isNinesError } from '../../../src/core/errors.ts';
import { loadSpec, parseSpecText, redactSpec, specJsonSchema, validateSpec } from '../../../src/core/spec.ts';

const base = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
  name: 'prod-1',
  type: 'mariadb-replication',
  nodes: [{ host: '10.0.0.1' }, { host: '10.0.0.2' }, { host: '10.0.0.3' }],
  ssh: { key: 'prod-deploy' },
  ...over,
});

function problems(input: unknown): string[] {
  try {
    validateSpec(input);
  } catch (err) {
    assert.ok(isNinesError(err, 'NINES_E_SPEC_INVALID'), String(err));
    return err.context.problems as string[];
  }
  assert.fail('expected NINES_E_SPEC_INVALID');
}

test('defaults are applied per type and the result is frozen', () => {
  const { spec, generated, warnings } = validateSpec(base(), { generateSecret: () => 'generated-secret' });
  assert.equal(spec.version, '10.11');
  assert.deepEqual(spec.nodes[0], { host: '10.0.0.1', port: 3306, datacenter: 'default', priority: 100 });
  assert.deepEqual(spec.ssh, { user: 'root', key: 'prod-deploy', port: 22 });
  assert.deepEqual(spec.options, { maxLagSeconds: 30, semiSync: false });
  assert.deepEqual(generated, ['admin', 'replication', 'monitor']);
  assert.equal(spec.credentials.admin, 'generated-secret');
  assert.deepEqual(warnings, []);
  assert.ok(Object.isFrozen(spec) && Object.isFrozen(spec.nodes[0]) && Object.isFrozen(spec.credentials));

  const pg = validateSpec(base({ type: 'postgres-streaming' })).spec;
  assert.equal(pg.version, '15');
  assert.equal(pg.nodes[0]?.port, 5432);
  assert.deepEqual(pg.options, { maxLagSeconds: 30, synchronous: false });

  const galera = validateSpec(
    base({ type: 'galera', endpoint: { proxies: ['p1', 'p2'], virtualIp: '10.0.0.100' } }),
  ).spec;
  assert.deepEqual(galera.options, { maxLagSeconds: 30, sstMethod: 'rsync', gcacheSize: '1G' });
  assert.deepEqual(galera.endpoint, {
    proxies: ['p1', 'p2'],
    virtualIp: '10.0.0.100',
    writePort: 3307,
    readPort: 3308,
  });
});

test('generated secrets are random and given credentials are kept', () => {
  const a = validateSpec(base()).spec.credentials;
  const b = validateSpec(base()).spec.credentials;
  assert.notEqual(a.admin, b.admin);
  assert.ok(a.admin.length >= 20);
  const given = validateSpec(base({ credentials: { admin: 'admin-password-1' } }));
  assert.equal(given.spec.credentials.admin, 'admin-password-1');
  assert.deepEqual(given.generated, ['replication', 'monitor']);
});

test('YAML version numbers are read as strings', () => {
  assert.equal(
    loadSpec('name: a\ntype: galera\nversion: 10.6\nnodes: [{host: a}]\nssh: {key: k}\n').spec.version,
    '10.6',
  );
  assert.equal(
    loadSpec('name: a\ntype: postgres-streaming\nversion: 16\nnodes: [{host: a}]\nssh: {key: k}\n').spec
      .version,
    '16',
  );
});

const INVALID: readonly [string, Record<string, unknown>, string[]][] = [
  [
    'port out of range',
    base({ nodes: [{ host: 'a' }, { host: 'b' }, { host: 'c', port: 70000 }] }),
    ['nodes[2].port: expected 1-65535, got 70000'],
  ],
  [
    'port not a number',
    base({ nodes: [{ host: 'a', port: '3306' }] }),
    ["nodes[0].port: expected a number, got '3306'"],
  ],
  [
    'unknown key in a node',
    base({ nodes: [{ host: 'a', hots: 'b' }] }),
    ["nodes[0].hots: expected one of host, port, role, datacenter, priority, got unknown key 'hots'"],
  ],
  [
    'unknown top-level key',
    base({ replicas: 2 }),
    [
      "replicas: expected one of name, type, version, nodes, ssh, credentials, options, endpoint, got unknown key 'replicas'",
    ],
  ],
  [
    'bad name',
    base({ name: 'Prod_1' }),
    [
      "name: expected a DNS label (lowercase letters, digits and -, 1-63 characters, starting with a letter), got 'Prod_1'",
    ],
  ],
  [
    'bad type',
    base({ type: 'mysql' }),
    ["type: expected one of mariadb-replication|galera|postgres-streaming, got 'mysql'"],
  ],
  ['missing ssh', base({ ssh: undefined }), ['ssh: expected an object, got nothing']],
  ['no nodes', base({ nodes: [] }), ['nodes: expected at least 1 node, got a list of 0']],
  [
    'short password',
    base({ credentials: { admin: 'short' } }),
    ['credentials.admin: expected at least 8 characters, got 5'],
  ],
  [
    'duplicate node address (default port)',
    base({ nodes: [{ host: 'a' }, { host: 'b' }, { host: 'a', port: 3306 }] }),
    ['nodes[2]: expected a unique host:port, got a:3306 (already used by nodes[0])'],
  ],
  [
    'two primaries',
    base({
      nodes: [
        { host: 'a', role: 'primary' },
        { host: 'b', role: 'primary' },
      ],
    }),
    ['nodes[1].role: expected at most one primary, got a second one (nodes[0] is primary)'],
  ],
  [
    'virtual IP with one proxy',
    base({ endpoint: { proxies: ['p1'], virtualIp: '10.0.0.9' } }),
    ['endpoint.virtualIp: expected at least 2 endpoint.proxies to float a virtual IP, got 1'],
  ],
  [
    'option of another type',
    base({ options: { sstMethod: 'rsync' } }),
    ['options.sstMethod: expected only for galera, got it for mariadb-replication'],
  ],
  [
    'unsupported version',
    base({ version: '5.7' }),
    ["version: expected one of 10.6|10.11|11.4 for mariadb-replication, got '5.7'"],
  ],
  [
    'same write and read port',
    base({ endpoint: { proxies: ['p1'], writePort: 6000, readPort: 6000 } }),
    ['endpoint.readPort: expected a port different from endpoint.writePort, got 6000'],
  ],
  [
    'several problems at once',
    base({ name: 7, nodes: [{ host: 'a', port: 0 }], ssh: { key: 'k', port: 99999, extra: 1 } }),
    [
      'name: expected a string, got 7',
      'nodes[0].port: expected 1-65535, got 0',
      'ssh.port: expected 1-65535, got 99999',
      "ssh.extra: expected one of user, key, port, got unknown key 'extra'",
    ],
  ],
];

for (const [name, input, expected] of INVALID) {
  test(`invalid spec: ${name}`, () => {
    assert.deepEqual(problems(input), expected);
  });
}

test('the error message names every problem and the hint says how to check', () => {
  try {
    validateSpec(base({ nodes: [{ host: 'a' }, { host: 'b' }, { host: 'c', port: 70000 }] }));
    assert.fail('expected an error');
  } catch (err) {
    assert.ok(isNinesError(err, 'NINES_E_SPEC_INVALID'));
    assert.equal(err.message, 'The cluster spec is invalid: nodes[2].port: expected 1-65535, got 70000');
    assert.match(err.hint, /nines spec validate/);
  }
});

test('warnings: Galera with fewer than 3 nodes', () => {
  const { warnings } = validateSpec(base({ type: 'galera', nodes: [{ host: 'a' }, { host: 'b' }] }));
  assert.deepEqual(warnings, [
    'nodes: a Galera cluster of 2 node(s) loses quorum when one node fails; use 3 or more',
  ]);
});

test('syntax errors carry file, line and column', () => {
  const cases: [string, string][] = [
    ['name: a\nnodes:\n  - host: a\n   port: 1\n', 'spec.yaml:4:1'],
    ['{"name": "a",\n "name": "b"}', 'spec.yaml:2:2'],
    ["name: 'unterminated\n", 'spec.yaml:2:1'],
  ];
  for (const [text, where] of cases) {
    try {
      parseSpecText(text, 'spec.yaml');
      assert.fail(`expected a parse error for ${JSON.stringify(text)}`);
    } catch (err) {
      assert.ok(isNinesError(err, 'NINES_E_SPEC_PARSE'), String(err));
      assert.ok(err.message.includes(where), `${err.message} should name ${where}`);
      assert.equal(typeof err.context.line, 'number');
    }
  }
});

test('redactSpec hides every credential', () => {
  const spec = validateSpec(base({ credentials: { admin: 'admin-password-1' } })).spec;
  const red = redactSpec(spec);
  assert.deepEqual(red.credentials, { admin: '***', replication: '***', monitor: '***' });
  assert.ok(!JSON.stringify(red).includes('admin-password-1'));
});

test('JSON Schema export describes the input', () => {
  const schema = specJsonSchema() as {
    properties: Record<string, unknown>;
    additionalProperties: boolean;
    required: string[];
  };
  assert.deepEqual(Object.keys(schema.properties), [
    'name',
    'type',
    'version',
    'nodes',
    'ssh',
    'credentials',
    'options',
    'endpoint',
  ]);
  assert.equal(schema.additionalProperties, false);
  assert.deepEqual(schema.required.sort(), ['name', 'nodes', 'ssh', 'type']);
});

test('ssh.keyFile and ssh.knownHostsFile are refused with the way to a registered key (no path is read)', () => {
  for (const ssh of [
    { keyFile: '/etc/shadow' },
    { key: 'k', knownHostsFile: '/var/lib/nines/secret.key' },
    { keyFile: '/nonexistent/id_rsa', knownHostsFile: '/tmp/x' },
  ]) {
    try {
      validateSpec(base({ ssh }));
      assert.fail('expected NINES_E_SSH_KEY_PATH');
    } catch (err) {
      assert.ok(isNinesError(err, 'NINES_E_SSH_KEY_PATH'), String(err));
      assert.match(err.message, /ssh\.(keyFile|knownHostsFile)/);
      assert.match(err.hint, /nines key add NAME --file PATH/);
      assert.match(err.hint, /ssh: \{key: NAME\}/);
      // The same answer whether the file exists or not: the path is never used.
      assert.ok(!err.message.includes('ENOENT') && !err.message.includes('/'), err.message);
    }
  }
});

test('ssh.key must be a key name, not a path', () => {
  assert.deepEqual(problems(base({ ssh: { key: '../../etc/shadow' } })), [
    "ssh.key: expected a key name of lowercase letters, digits, - _ . (1-63 characters), got '../../etc/shadow'",
  ]);
  assert.deepEqual(problems(base({ ssh: {} })), ['ssh.key: expected a string, got nothing']);
});
