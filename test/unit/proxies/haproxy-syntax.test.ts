// haproxy.cfg quoting: every value parses back to itself (a tokenizer written from the HAProxy 2.6
// configuration manual, section 2.2, and HAProxy itself through `haproxy -c` and `.notice`), a hostile value
// changes nothing but its own words, and the stats page never carries the monitor password.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { isNinesError } from '../../../src/core/errors.ts';
import type { ClusterSpec } from '../../../src/core/spec.ts';
import type { Topology } from '../../../src/core/topology.ts';
import {
  haproxyStatsPassword,
  haproxyWord,
  renderHaproxyConfig,
  serverName,
} from '../../../src/proxies/index.ts';
import { HOSTILE_VALUES, hostileString } from '../../support/hostile-strings.ts';
import * as f from './fixtures.ts';

const ESCAPES: Readonly<Record<string, string>> = {
  ' ': ' ',
  '#': '#',
  '\\': '\\',
  "'": "'",
  '"': '"',
  n: '\n',
  r: '\r',
  t: '\t',
};

/** The character a backslash escape stands for (manual 2.2; \$ only inside weak quotes). */
function unescape(next: string, quote: string | undefined, line: string): string {
  const escaped = next === '$' && quote === '"' ? '$' : ESCAPES[next];
  if (escaped === undefined) throw new Error(`unknown escape \\${next} in ${line}`);
  return escaped;
}

interface Tokenizer {
  readonly words: string[];
  word: string | undefined;
  quote: '"' | "'" | undefined;
  done: boolean;
}

/** One character outside strong quotes; returns how many characters it used. */
function step(t: Tokenizer, line: string, i: number): number {
  const c = line.charAt(i);
  if (t.quote === undefined && (c === ' ' || c === '\t' || c === '#')) {
    if (t.word !== undefined) t.words.push(t.word);
    t.word = undefined;
    t.done = c === '#';
    return 1;
  }
  t.word ??= '';
  if (c === '\\') {
    t.word += unescape(line.charAt(i + 1), t.quote, line);
    return 2;
  }
  if (c === '"') t.quote = t.quote === '"' ? undefined : '"';
  else if (c === "'" && t.quote === undefined) t.quote = "'";
  else if (c === '$' && t.quote === '"') throw new Error(`unescaped $ (an environment variable) in ${line}`);
  else t.word += c;
  return 1;
}

/** One haproxy.cfg line as HAProxy splits it into words (manual 2.2: escapes, weak and strong quotes, #). */
export function haproxyWords(line: string): string[] {
  const t: Tokenizer = { words: [], word: undefined, quote: undefined, done: false };
  for (let i = 0; i < line.length && !t.done;) {
    if (t.quote === "'") {
      if (line.charAt(i) === "'") t.quote = undefined;
      else t.word += line.charAt(i);
      i++;
    } else i += step(t, line, i);
  }
  if (t.quote !== undefined) throw new Error(`unterminated quote in ${line}`);
  if (t.word !== undefined) t.words.push(t.word);
  return t.words;
}

function haproxyAvailable(): boolean {
  return spawnSync('haproxy', ['-v']).status === 0;
}

describe('haproxyWord', () => {
  test('any text without control characters parses back to one word equal to it', () => {
    fc.assert(
      fc.property(hostileString(), (value) => {
        const word = haproxyWord(value, 'test');
        assert.deepEqual(haproxyWords(`    stats auth ${word} check`), ['stats', 'auth', value, 'check']);
      }),
      { numRuns: 2000 },
    );
    for (const value of HOSTILE_VALUES) assert.deepEqual(haproxyWords(haproxyWord(value, 'test')), [value]);
  });

  test('plain values stay plain; a control character is refused with NINES_E_CONFIG_VALUE', () => {
    assert.equal(haproxyWord('10.0.0.1:3306', 'x'), '10.0.0.1:3306');
    assert.equal(haproxyWord('a b', 'x'), '"a b"');
    for (const bad of ['a\nb', 'a\rb', 'a\0b', '\u0085']) {
      assert.throws(
        () => haproxyWord(bad, 'stats auth'),
        (err) => isNinesError(err, 'NINES_E_CONFIG_VALUE') && err.message.includes('stats auth'),
      );
    }
  });

  test('HAProxy itself reads every word back (haproxy -c, .notice)', { skip: !haproxyAvailable() }, () => {
    const values = [...HOSTILE_VALUES, ...fc.sample(hostileString({ minLength: 1 }), 300)];
    const dir = mkdtempSync(join(tmpdir(), 'nines-haproxy-'));
    try {
      const file = join(dir, 'words.cfg');
      const notices = values.map((v) => `.notice ${haproxyWord(v, 'test')}`);
      writeFileSync(file, ['global', ...notices, 'defaults', '    mode tcp', ''].join('\n'));
      const run = spawnSync('haproxy', ['-c', '-f', file], { encoding: 'utf8' });
      const got = [...run.stderr.matchAll(/parsing \[[^\]]*:(\d+)\]: '(.*)'\.$/gmu)].map((m) => m[2]);
      assert.equal(run.status, 2, run.stderr); // 2 = valid, but no listener
      assert.deepEqual(got, values);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** The spec and topology of the mariadb fixture with other node hosts (unvalidated: the renderer's own guard). */
function withHosts(hosts: readonly string[]): { spec: ClusterSpec; topology: Topology } {
  const base = f.mariadbSpec();
  const spec: ClusterSpec = {
    ...base,
    nodes: base.nodes.map((n, i) => ({ ...n, host: hosts[i] ?? n.host })),
  };
  const topology: Topology = {
    type: 'mariadb-replication',
    nodes: [
      { host: hosts[0] ?? '', port: 3306, role: 'primary' },
      { host: hosts[1] ?? '', port: 3306, role: 'replica', source: `${hosts[0]}:3306` },
      { host: hosts[2] ?? '', port: 3306, role: 'replica', source: `${hosts[0]}:3306` },
    ],
  };
  return { spec, topology };
}

describe('renderHaproxyConfig with hostile values', () => {
  test('a hostile node host changes only its server addresses (and comments), which parse back', () => {
    const plainHosts = ['10.0.0.11', '10.0.0.12', '10.0.0.13'];
    const plain = withHosts(plainHosts);
    const plainLines = renderHaproxyConfig(plain.spec, plain.topology).split('\n');
    fc.assert(
      fc.property(
        fc.uniqueArray(hostileString({ minLength: 1 }), { minLength: 3, maxLength: 3 }),
        (hosts) => {
          const { spec, topology } = withHosts(hosts);
          const lines = renderHaproxyConfig(spec, topology).split('\n');
          assert.equal(lines.length, plainLines.length);
          lines.forEach((line, i) => {
            const before = plainLines[i] ?? '';
            if (line === before) return;
            if (before.startsWith('#')) return assert.ok(line.startsWith('# '), line);
            const words = haproxyWords(line);
            const expected = haproxyWords(before);
            const host = hosts[plainHosts.findIndex((h) => expected[2] === `${h}:3306`)];
            assert.equal(words[2], `${host}:3306`, line);
            assert.equal(words[1], serverName({ host: host ?? '', port: 3306 }), line);
            assert.deepEqual([words[0], ...words.slice(3)], [expected[0], ...expected.slice(3)], line);
          });
        },
      ),
      { numRuns: 300 },
    );
  });

  test('a monitor password with #, spaces and quotes: only the stats auth line changes, and it holds a derived password', () => {
    const plainSpec = f.mariadbSpec();
    const plain = renderHaproxyConfig(plainSpec, f.mariadbTopology).split('\n');
    for (const monitor of [...HOSTILE_VALUES, 'x"\n    external-check command /bin/touch']) {
      const spec: ClusterSpec = { ...plainSpec, credentials: { ...plainSpec.credentials, monitor } };
      const text = renderHaproxyConfig(spec, f.mariadbTopology);
      const lines = text.split('\n');
      assert.equal(lines.length, plain.length);
      const changed = lines.flatMap((l, i) => (l === plain[i] ? [] : [l]));
      assert.equal(changed.length, 1, `${monitor}: ${changed.join(' | ')}`);
      assert.deepEqual(haproxyWords(changed[0] ?? ''), [
        'stats',
        'auth',
        `nines:${haproxyStatsPassword(spec)}`,
      ]);
      assert.match(haproxyStatsPassword(spec), /^[A-Za-z0-9_-]{24}$/);
      assert.equal(text.includes(monitor), false, 'the monitor password is not in haproxy.cfg');
    }
    assert.notEqual(haproxyStatsPassword(plainSpec), plainSpec.credentials.monitor);
  });

  test('a control character in a host never reaches the file', () => {
    const { spec, topology } = withHosts([
      '10.0.0.11',
      'db\n    external-check command /bin/touch',
      '10.0.0.13',
    ]);
    assert.throws(() => renderHaproxyConfig(spec, topology), /NINES_E_CONFIG_VALUE|control character/);
  });

  test(
    'HAProxy accepts the rendered file with hostile hosts (haproxy -c)',
    { skip: !haproxyAvailable() },
    () => {
      const dir = mkdtempSync(join(tmpdir(), 'nines-haproxy-'));
      try {
        const { spec, topology } = withHosts(['db 1#x', 'db"2\'', 'db\\3$x']);
        const file = join(dir, 'haproxy.cfg');
        writeFileSync(file, renderHaproxyConfig(spec, topology));
        const run = spawnSync('haproxy', ['-c', '-f', file], { encoding: 'utf8' });
        assert.equal(run.status, 0, run.stderr);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});
