import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import { quoteArg, quoteArgv, redact } from '../../../src/hosts/quote.ts';
import { isNinesError } from '../../../src/core/errors.ts';

// The real test of quoting: /bin/sh must split the quoted string back into exactly the original argv.
function shellSplit(command: string): string[] {
  const out = execFileSync('/bin/sh', ['-c', `for a in ${command}; do printf '%s\\0' "$a"; done`], {
    encoding: 'utf8',
  });
  return out.split('\0').slice(0, -1);
}

// `for a in WORDS` would glob and split unquoted words; quoteArgv must protect against both, so the loop is a
// faithful probe of what a shell does with the string.
const hostile = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }).map((s) => s.replaceAll('\0', '')),
  fc.constantFrom(
    "'",
    '"',
    '$(touch /tmp/pwned)',
    '`id`',
    '\n',
    'a b',
    '*',
    '~',
    '$HOME',
    '\\',
    "'\\''",
    '',
    ';',
    '|',
    '&&',
    '#',
    '-n',
    '--',
  ),
);

test('quoteArgv round-trips hostile argv through /bin/sh (property)', () => {
  fc.assert(
    fc.property(fc.array(hostile, { minLength: 1, maxLength: 6 }), (argv) => {
      assert.deepEqual(shellSplit(quoteArgv(argv)), argv);
    }),
    { numRuns: 300 },
  );
});

test('quoting never lets a command substitution run', () => {
  const argv = ['$(echo INJECTED)', '`echo INJECTED`', "'; echo INJECTED; '"];
  const out = execFileSync('/bin/sh', ['-c', `printf '%s|' ${quoteArgv(argv)}`], { encoding: 'utf8' });
  assert.equal(out, `${argv.join('|')}|`);
});

test('safe words stay readable; empty strings and spaces are quoted', () => {
  assert.equal(quoteArg('mariadbd'), 'mariadbd');
  assert.equal(quoteArg('--datadir=/var/lib/mysql'), '--datadir=/var/lib/mysql');
  assert.equal(quoteArg(''), "''");
  assert.equal(quoteArg('a b'), "'a b'");
  assert.equal(quoteArg("it's"), `'it'\\''s'`);
});

test('NUL bytes and empty argv are refused with a clear error', () => {
  assert.throws(
    () => quoteArg('a\0b'),
    (e) => isNinesError(e, 'NINES_E_INVALID_ARGUMENT') && /NUL/.test(e.message),
  );
  assert.throws(
    () => quoteArgv([]),
    (e) => isNinesError(e, 'NINES_E_INVALID_ARGUMENT'),
  );
});

test('redact hides every occurrence of each secret', () => {
  assert.equal(redact('pw=s3cr3t user=s3cr3t x', ['s3cr3t']), 'pw=*** user=*** x');
  assert.equal(redact('nothing', undefined), 'nothing');
  assert.equal(redact('keep', ['']), 'keep');
});
