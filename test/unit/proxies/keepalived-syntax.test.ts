// keepalived.conf words: keepalived has no quoting that holds for every keyword, so a value is written only when
// it needs none (letters, digits and . _ : / @ -) and refused otherwise; the rendered file passes keepalived -t.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { isNinesError } from '../../../src/core/errors.ts';
import type { ClusterSpec } from '../../../src/core/spec.ts';
import { KEEPALIVED_CONFIG_PATH, renderKeepalivedConfig } from '../../../src/proxies/index.ts';
import { KEEPALIVED_CHECK_SCRIPT_PATH } from '../../../src/proxies/keepalived/config.ts';
import { keepalivedWord } from '../../../src/proxies/keepalived/syntax.ts';
import { HOSTILE_VALUES, hostileString } from '../../support/hostile-strings.ts';
import * as f from './fixtures.ts';

const SAFE = /^[A-Za-z0-9_.:/@-]+$/;
const safeWord = fc.string({ unit: fc.constantFrom(...'aZ09_.:/@-'), minLength: 1, maxLength: 30 });

/** keepalived.conf(5): words split at whitespace, '#' or '!' start a comment anywhere, '{' '}' are blocks. */
function keepalivedWords(line: string): string[] {
  const code = line.split(/[#!]/, 1)[0] ?? '';
  return code.split(/[\s{}]+/).filter((w) => w !== '');
}

const spec = f.mariadbSpec({ proxies: ['10.0.0.21', '10.0.0.22'], virtualIp: '10.0.0.200' });
const self = { host: '10.0.0.21', address: '10.0.0.21', interface: 'eth0', prefixLength: 24 };
const peer = { host: '10.0.0.22', address: '10.0.0.22', interface: 'eth0', prefixLength: 24 };

describe('keepalivedWord', () => {
  test('a safe value is one word equal to itself', () => {
    fc.assert(
      fc.property(safeWord, (value) => {
        assert.deepEqual(keepalivedWords(`    router_id ${keepalivedWord(value, 'test')}`), [
          'router_id',
          value,
        ]);
      }),
      { numRuns: 500 },
    );
  });

  test('anything else is refused with NINES_E_CONFIG_VALUE naming the field, never written', () => {
    const unsafe = hostileString({ minLength: 1 }).filter((v) => !SAFE.test(v));
    fc.assert(
      fc.property(unsafe, (value) => {
        assert.throws(
          () => keepalivedWord(value, 'router_id (proxy host)'),
          (err) =>
            isNinesError(err, 'NINES_E_CONFIG_VALUE') && err.message.includes('router_id (proxy host)'),
        );
      }),
      { numRuns: 500 },
    );
    for (const value of [...HOSTILE_VALUES, '', 'a\nb']) assert.throws(() => keepalivedWord(value, 'x'));
  });
});

describe('renderKeepalivedConfig with hostile values', () => {
  test('a hostile proxy host or interface name is refused', () => {
    const hostile: ClusterSpec = {
      ...spec,
      endpoint: { ...spec.endpoint!, proxies: ['px 1#', '10.0.0.22'] },
    };
    assert.throws(
      () => renderKeepalivedConfig(hostile, { ...self, host: 'px 1#' }, [peer]),
      (err) => isNinesError(err, 'NINES_E_CONFIG_VALUE'),
    );
    assert.throws(
      () => renderKeepalivedConfig(spec, { ...self, interface: 'eth0 }\n' }, [peer]),
      (err) => isNinesError(err, 'NINES_E_CONFIG_VALUE') && err.message.includes('interface'),
    );
  });

  const available = spawnSync('keepalived', ['-v']).status === 0 && process.getuid?.() === 0;
  test('keepalived -t accepts the rendered file (host names, IPv6 peers named)', { skip: !available }, () => {
    const dir = mkdtempSync(join(tmpdir(), 'nines-keepalived-'));
    try {
      const named = f.mariadbSpec({ proxies: ['px-1.example', 'fd00::22'], virtualIp: '10.0.0.200' });
      const script = join(dir, 'check.sh');
      writeFileSync(script, '#!/bin/sh\nexit 0\n', { mode: 0o755 });
      const text = renderKeepalivedConfig(named, { ...self, host: 'px-1.example' }, [
        { ...peer, host: 'fd00::22' },
      ]);
      const file = join(dir, KEEPALIVED_CONFIG_PATH.split('/').at(-1) ?? 'keepalived.conf');
      writeFileSync(file, text.replace(KEEPALIVED_CHECK_SCRIPT_PATH, script));
      const run = spawnSync('keepalived', ['-t', '-f', file], { encoding: 'utf8' });
      assert.equal(run.status, 0, run.stderr);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
