// PostgreSQL file formats (postgresql.conf drop-ins, pg_hba.conf, .pgpass, primary_conninfo): every value parses
// back to itself by each format's documented rules (parsers below) and, for postgresql.conf, by postgres -C
// itself; a hostile host or password changes nothing but its own values.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { isNinesError } from '../../../src/core/errors.ts';
import { validateSpec, type ClusterSpec } from '../../../src/core/spec.ts';
import {
  applicationName,
  renderHba,
  renderMainDropIn,
  renderPgpass,
  renderStandbyDropIn,
  slotName,
} from '../../../src/engines/postgres/config.ts';
import { confString, conninfoValue, hbaToken, pgpassField } from '../../../src/engines/postgres/syntax.ts';
import { HOSTILE_VALUES, hostileString } from '../../support/hostile-strings.ts';

const GUC_ESCAPES: Readonly<Record<string, string>> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };

/** postgresql.conf `name = value`: a '...' string ('' and \ escapes, GUC_scanstr) or a bare word; # comments. */
function confLine(line: string): [string, string] {
  const m = /^([A-Za-z0-9_.]+)\s*=?\s*(.*)$/s.exec(line);
  if (!m) throw new Error(`not a setting: ${line}`);
  const rest = m[2] ?? '';
  if (!rest.startsWith("'")) return [m[1] ?? '', rest.split('#')[0]!.trim()];
  let value = '';
  let i = 1;
  for (; i < rest.length; i++) {
    const c = rest.charAt(i);
    if (c === '\\') {
      const next = rest.charAt(++i);
      if (/[0-7]/.test(next)) throw new Error('octal escapes are never written');
      value += GUC_ESCAPES[next] ?? next;
    } else if (c === "'" && rest.charAt(i + 1) === "'") {
      value += "'";
      i++;
    } else if (c === "'") break;
    else value += c;
  }
  if (i >= rest.length) throw new Error(`unterminated string: ${line}`);
  if (!/^\s*(#.*)?$/s.test(rest.slice(i + 1))) throw new Error(`text after the value: ${line}`);
  return [m[1] ?? '', value];
}

function confSettings(text: string): [string, string][] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('#'))
    .map(confLine);
}

interface HbaToken {
  readonly text: string;
  readonly quoted: boolean;
}

const FIELD_END = new Set([' ', '\t', '#']);

/** pg_hba.conf fields of a line, each a list of tokens (hba.c next_token: blanks, commas, "quotes", #). */
function hbaFields(line: string): HbaToken[][] {
  const fields: HbaToken[][] = [];
  let field: HbaToken[] = [];
  let text = '';
  let quoted = false;
  let inQuote = false;
  let started = false;
  const endToken = (): void => {
    if (started) field.push({ text, quoted });
    [text, quoted, started] = ['', false, false];
  };
  for (let i = 0; i < line.length; i++) {
    const c = line.charAt(i);
    if (!inQuote && FIELD_END.has(c)) {
      endToken();
      if (field.length > 0) fields.push(field);
      field = [];
      if (c === '#') return fields;
    } else if (!inQuote && c === ',') endToken();
    else if (c === '"' && inQuote && line.charAt(i + 1) === '"') [text, i] = [`${text}"`, i + 1];
    else if (c === '"') [inQuote, quoted, started] = [!inQuote, true, true];
    else [text, started] = [text + c, true];
  }
  if (inQuote) throw new Error(`unterminated quote: ${line}`);
  endToken();
  if (field.length > 0) fields.push(field);
  return fields;
}

/** .pgpass fields (libpq: ':' separates, '\' escapes the next character). */
function pgpassFields(line: string): string[] {
  const out = [''];
  for (let i = 0; i < line.length; i++) {
    const c = line.charAt(i);
    if (c === '\\' && i + 1 < line.length) out[out.length - 1] += line.charAt(++i);
    else if (c === ':') out.push('');
    else out[out.length - 1] += c;
  }
  return out;
}

/** libpq conninfo_parse: key=value pairs split at whitespace; '...' values with \ escapes; bare values too. */
function conninfo(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  const isSpace = (c: string): boolean => /^[ \t\n\r\f\v]$/.test(c);
  while (i < text.length) {
    while (isSpace(text.charAt(i))) i++;
    if (i >= text.length) break;
    const eq = text.indexOf('=', i);
    if (eq < 0) throw new Error(`missing "=" in ${text}`);
    const key = text.slice(i, eq).trim();
    i = eq + 1;
    while (isSpace(text.charAt(i))) i++;
    let value = '';
    const quoted = text.charAt(i) === "'";
    if (quoted) i++;
    for (; i < text.length; i++) {
      const c = text.charAt(i);
      if (quoted && c === "'") break;
      if (!quoted && isSpace(c)) break;
      if (c === '\\') i++;
      value += text.charAt(i);
    }
    if (quoted && text.charAt(i) !== "'") throw new Error(`unterminated quote in ${text}`);
    i++;
    out[key] = value;
  }
  return out;
}

describe('PostgreSQL quoting helpers', () => {
  test('postgresql.conf strings parse back', () => {
    fc.assert(
      fc.property(hostileString(), (v) => {
        assert.deepEqual(confLine(`nines.x = ${confString(v)}  # comment`), ['nines.x', v]);
      }),
      { numRuns: 2000 },
    );
  });

  test('pg_hba.conf tokens parse back as one token each, never a keyword', () => {
    fc.assert(
      fc.property(fc.array(hostileString({ minLength: 1 }), { minLength: 1, maxLength: 3 }), (values) => {
        const line = `host all ${values.map((v) => hbaToken(v)).join(',')} 10.0.0.1/32 scram-sha-256`;
        const fields = hbaFields(line);
        assert.equal(fields.length, 5, line);
        assert.deepEqual(
          fields[2]?.map((t) => t.text),
          values,
        );
      }),
      { numRuns: 2000 },
    );
    for (const keyword of ['all', 'replication', 'samehost', 'samenet', 'sameuser', 'ALL']) {
      assert.deepEqual(hbaFields(`host all ${hbaToken(keyword)} x y`)[2], [{ text: keyword, quoted: true }]);
    }
    for (const special of ['+admins', '@users.txt']) {
      assert.deepEqual(hbaFields(`host all ${hbaToken(special)} x y`)[2], [{ text: special, quoted: true }]);
    }
  });

  test('.pgpass fields parse back', () => {
    fc.assert(
      fc.property(hostileString(), hostileString(), (user, password) => {
        assert.deepEqual(pgpassFields(`*:*:*:${pgpassField(user)}:${pgpassField(password)}`), [
          '*',
          '*',
          '*',
          user,
          password,
        ]);
      }),
      { numRuns: 2000 },
    );
  });

  test('conninfo values parse back, also inside a postgresql.conf string', () => {
    fc.assert(
      fc.property(hostileString(), hostileString(), (host, app) => {
        const info = `host=${conninfoValue(host)} port=5432 application_name=${conninfoValue(app)}`;
        assert.deepEqual(conninfo(info), { host, port: '5432', application_name: app });
        assert.deepEqual(conninfo(confLine(`primary_conninfo = ${confString(info)}`)[1]), {
          host,
          port: '5432',
          application_name: app,
        });
      }),
      { numRuns: 2000 },
    );
  });

  test('control characters are refused with NINES_E_CONFIG_VALUE', () => {
    for (const quote of [confString, hbaToken, pgpassField, conninfoValue]) {
      for (const bad of ['a\nb', 'a\rb', 'a\0b', '\u0085']) {
        assert.throws(
          () => quote(bad, 'credentials.replication'),
          (err) =>
            isNinesError(err, 'NINES_E_CONFIG_VALUE') && err.message.includes('credentials.replication'),
        );
      }
    }
  });
});

const PLAIN_HOSTS = ['pg1', 'pg2', 'pg3'];
function pgSpec(): ClusterSpec {
  return validateSpec({
    name: 'shop',
    type: 'postgres-streaming',
    nodes: PLAIN_HOSTS.map((host, i) => (i === 0 ? { host, role: 'primary' } : { host })),
    ssh: { key: 'k' },
    credentials: { admin: 'admin-pass', replication: 'repl-pass', monitor: 'mon-pass1' },
    options: { synchronous: true },
    endpoint: { proxies: ['px1'] },
  }).spec;
}

function withHosts(spec: ClusterSpec, hosts: readonly string[]): ClusterSpec {
  return { ...spec, nodes: spec.nodes.map((n, i) => ({ ...n, host: hosts[i] ?? n.host })) };
}

/** Hostile hosts pg_hba's cidr() leaves as they are (no ':' or IPv4 form, which get a /128 or /32). */
const hostileHosts = fc.uniqueArray(
  hostileString({ minLength: 1 }).filter((h) => !h.includes(':') && !/^\d+\.\d+\.\d+\.\d+$/.test(h)),
  { minLength: 3, maxLength: 3 },
);

describe('PostgreSQL files with hostile values', () => {
  test('hostile hosts change only the settings, hba addresses and conninfo values that hold them', () => {
    const base = pgSpec();
    const plainHba = renderHba(base, '10.9.9.9').split('\n').map(hbaFields);
    fc.assert(
      fc.property(hostileHosts, (hosts) => {
        const spec = withHosts(base, hosts);
        const [primary, standby] = [spec.nodes[0]!, spec.nodes[1]!];
        const main = Object.fromEntries(confSettings(renderMainDropIn(spec, standby)));
        const plainMain = Object.fromEntries(confSettings(renderMainDropIn(base, base.nodes[1]!)));
        assert.deepEqual(main, {
          ...plainMain,
          listen_addresses: `${hosts[1]},localhost`,
          synchronous_standby_names: `ANY 1 (${spec.nodes.map((n) => `"${applicationName(n)}"`).join(', ')})`,
        });

        const rename = (t: HbaToken): string => {
          const i = PLAIN_HOSTS.indexOf(t.text);
          return i < 0 ? t.text : (hosts[i] ?? '');
        };
        const hba = renderHba(spec, '10.9.9.9').split('\n').map(hbaFields);
        assert.deepEqual(
          hba.map((line) => line.map((field) => field.map((t) => t.text))),
          plainHba.map((line) => line.map((field) => field.map(rename))),
        );

        const settings = confSettings(renderStandbyDropIn(spec, standby, primary));
        assert.deepEqual(
          settings.map(([k]) => k),
          ['primary_conninfo', 'primary_slot_name'],
        );
        const info = conninfo(settings[0]?.[1] ?? '');
        assert.equal(info.host, hosts[0]);
        assert.equal(info.application_name, applicationName(standby));
        assert.deepEqual(Object.keys(info), [
          'host',
          'port',
          'user',
          'passfile',
          'application_name',
          'connect_timeout',
          'keepalives_idle',
          'keepalives_interval',
          'keepalives_count',
        ]);
        assert.equal(settings[1]?.[1], slotName(standby));
      }),
      { numRuns: 300 },
    );
  });

  test('a replication password with #, spaces, quotes, : and \\ round-trips in .pgpass', () => {
    const base = pgSpec();
    for (const replication of [...HOSTILE_VALUES, ...fc.sample(hostileString({ minLength: 8 }), 300)]) {
      const text = renderPgpass({ ...base, credentials: { ...base.credentials, replication } });
      assert.equal(text.split('\n').length, 2);
      assert.deepEqual(pgpassFields(text.slice(0, -1)), ['*', '*', '*', 'nines_repl', replication]);
    }
  });

  const postgres = '/usr/lib/postgresql/15/bin/postgres';
  const available = process.getuid?.() === 0 && spawnSync(postgres, ['--version']).status === 0;
  test('postgres -C reads hostile values back (strings and primary_conninfo)', { skip: !available }, () => {
    const dir = mkdtempSync(join(tmpdir(), 'nines-pgconf-'));
    try {
      chmodSync(dir, 0o755);
      const data = join(dir, 'data');
      mkdirSync(data, { mode: 0o700 });
      chownSync(data, Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout), 0);
      for (const f of ['hba', 'ident']) writeFileSync(join(dir, f), '', { mode: 0o644 });
      const read = (line: string, name: string): string => {
        const file = join(dir, 'test.conf');
        const paths = `data_directory = '${data}'\nhba_file = '${dir}/hba'\nident_file = '${dir}/ident'\n`;
        writeFileSync(file, `${paths}${line}\n`, { mode: 0o644 });
        const run = spawnSync(
          'runuser',
          ['-u', 'postgres', '--', postgres, `--config-file=${file}`, '-C', name],
          {
            encoding: 'utf8',
          },
        );
        assert.equal(run.status, 0, run.stderr);
        return run.stdout.replace(/\n$/, '');
      };
      for (const v of [...HOSTILE_VALUES, ...fc.sample(hostileString(), 15)]) {
        assert.equal(read(`nines.value = ${confString(v)}`, 'nines.value'), v);
      }
      const spec = withHosts(pgSpec(), ['pg 1#\'\\"', 'pg2', 'pg3']);
      const standby = renderStandbyDropIn(spec, spec.nodes[1]!, spec.nodes[0]!);
      const info = conninfo(read(standby, 'primary_conninfo'));
      assert.equal(info.host, 'pg 1#\'\\"');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
