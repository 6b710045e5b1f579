// MariaDB option file values (my.cnf, 90-nines.cnf, 91-nines-sst.cnf): every value parses back to itself, by
// the rules of MariaDB's mysys/my_default.c (written out below) and by my_print_defaults itself, and a hostile
// host or password changes nothing but its own values.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { isNinesError } from '../../../src/core/errors.ts';
import { validateSpec, type ClusterSpec } from '../../../src/core/spec.ts';
import { renderGaleraConfig } from '../../../src/engines/galera/config.ts';
import { renderReplicationConfig } from '../../../src/engines/mariadb/config.ts';
import { iniValue, serverId } from '../../../src/engines/mysql/config.ts';
import { HOSTILE_VALUES, hostileString } from '../../support/hostile-strings.ts';

const ESCAPES: Readonly<Record<string, string>> = {
  n: '\n',
  t: '\t',
  r: '\r',
  b: '\b',
  s: ' ',
  '"': '"',
  "'": "'",
  '\\': '\\',
};

/** Where a '#' outside quotes starts a comment (remove_end_comment), or the end. */
function commentStart(v: string): number {
  let quote = '';
  let escape = false;
  for (let i = 0; i < v.length; i++) {
    const c = v.charAt(i);
    if ((c === "'" || c === '"') && !escape) {
      if (quote === '') quote = c;
      else if (quote === c) quote = '';
    }
    if (quote === '' && c === '#') return i;
    escape = quote !== '' && c === '\\' && !escape;
  }
  return v.length;
}

/** The value after '=' as MariaDB reads it: spaces trimmed, comment cut, one pair of quotes off, escapes. */
export function optionValue(raw: string): string {
  let v = raw.replace(/^[ \t]+|[ \t]+$/g, '');
  v = v.slice(0, commentStart(v));
  if ((v.startsWith('"') || v.startsWith("'")) && v.length > 1 && v.endsWith(v.charAt(0))) v = v.slice(1, -1);
  let out = '';
  for (let i = 0; i < v.length; i++) {
    const c = v.charAt(i);
    if (c !== '\\' || i === v.length - 1) out += c;
    else {
      const next = v.charAt(++i);
      out += ESCAPES[next] ?? `\\${next}`; // an unknown escape keeps its backslash
    }
  }
  return out;
}

/** [section, key, value] of every option line of a file. */
function options(text: string): [string, string, string][] {
  let section = '';
  const out: [string, string, string][] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const s = /^\[(.*)\]$/.exec(line);
    if (s) {
      section = s[1] ?? '';
      continue;
    }
    const eq = line.indexOf('=');
    out.push([section, line.slice(0, eq).trim(), optionValue(line.slice(eq + 1))]);
  }
  return out;
}

describe('iniValue', () => {
  test('any text without control characters parses back to itself', () => {
    fc.assert(
      fc.property(hostileString(), (value) => {
        assert.deepEqual(options(`[mariadbd]\nkey = ${iniValue(value, 'key')}\n`), [
          ['mariadbd', 'key', value],
        ]);
      }),
      { numRuns: 2000 },
    );
  });

  test('a control character is refused with NINES_E_CONFIG_VALUE naming the option', () => {
    for (const bad of ['a\nb', 'a\rb', 'a\0b', '\u2028']) {
      assert.throws(
        () => iniValue(bad, 'wsrep_sst_auth'),
        (err) => isNinesError(err, 'NINES_E_CONFIG_VALUE') && err.message.includes('wsrep_sst_auth'),
      );
    }
  });

  const available = spawnSync('my_print_defaults', ['--help']).status === 0;
  test('my_print_defaults reads every value back', { skip: !available }, () => {
    const values = [...HOSTILE_VALUES, ...fc.sample(hostileString(), 300)];
    const dir = mkdtempSync(join(tmpdir(), 'nines-mycnf-'));
    try {
      const file = join(dir, 'test.cnf');
      writeFileSync(file, ['[mariadbd]', ...values.map((v, i) => `k${i} = ${iniValue(v)}`), ''].join('\n'));
      const run = spawnSync('my_print_defaults', [`--defaults-file=${file}`, 'mariadbd'], {
        encoding: 'utf8',
      });
      assert.equal(run.status, 0, run.stderr);
      assert.deepEqual(
        run.stdout.split('\n').slice(0, -1),
        values.map((v, i) => `--k${i}=${v}`),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

const PLAIN_HOSTS = ['10.0.0.11', '10.0.0.12', '10.0.0.13'];
function galera(): ClusterSpec {
  return validateSpec({
    name: 'shop',
    type: 'galera',
    nodes: PLAIN_HOSTS.map((host) => ({ host })),
    ssh: { key: 'k' },
    credentials: { admin: 'admin-secret-1', replication: 'repl-secret-1', monitor: 'monitor-secret-1' },
    options: { sstMethod: 'mariabackup' },
  }).spec;
}

/** The spec with other hosts, unvalidated (the renderer's own guarantee, whatever reaches it). */
function withHosts(spec: ClusterSpec, hosts: readonly string[]): ClusterSpec {
  return { ...spec, nodes: spec.nodes.map((n, i) => ({ ...n, host: hosts[i] ?? n.host })) };
}

const HOST_OPTIONS = new Set(['bind_address', 'report_host', 'wsrep_node_address', 'wsrep_node_name']);

describe('MariaDB option files with hostile values', () => {
  test('hostile hosts change only the options that hold them, which parse back', () => {
    for (const render of [renderGaleraConfig, renderReplicationConfig]) {
      const base = galera();
      const plain = options(render(base, base.nodes[1]!)[0]!.content);
      fc.assert(
        fc.property(
          fc.uniqueArray(hostileString({ minLength: 1 }), { minLength: 3, maxLength: 3 }),
          (hosts) => {
            const spec = withHosts(base, hosts);
            const node = spec.nodes[1]!;
            const got = options(render(spec, node)[0]!.content);
            const expected = plain.map(([section, key, value]): [string, string, string] => {
              if (HOST_OPTIONS.has(key)) return [section, key, hosts[1]!];
              if (key === 'server_id') return [section, key, String(serverId(node))];
              if (key === 'wsrep_cluster_address') return [section, key, `gcomm://${hosts.join(',')}`];
              return [section, key, value];
            });
            assert.deepEqual(got, expected);
          },
        ),
        { numRuns: 200 },
      );
    }
  });

  test('a replication password with #, spaces and quotes round-trips in wsrep_sst_auth, alone', () => {
    const base = galera();
    const plain = renderGaleraConfig(base, base.nodes[0]!)[1]!.content.split('\n');
    const passwords = [...HOSTILE_VALUES, ...fc.sample(hostileString({ minLength: 8 }), 300)];
    for (const replication of passwords) {
      const spec = { ...base, credentials: { ...base.credentials, replication } };
      const text = renderGaleraConfig(spec, spec.nodes[0]!)[1]!.content;
      const lines = text.split('\n');
      assert.equal(lines.length, plain.length);
      assert.deepEqual(
        lines.filter((l, i) => l !== plain[i]).map((l) => options(`[mariadbd]\n${l}`)),
        [[['mariadbd', 'wsrep_sst_auth', `nines_sst:${replication}`]]],
      );
    }
  });
});
