import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ERRORS, NinesError, isNinesError, toNinesError } from '../../../src/core/errors.ts';
import { renderErrorTable } from '../../support/error-docs.ts';

function normalizeTable(text: string): string {
  return text
    .trim()
    .split('\n')
    .map((line) =>
      line
        .split('|')
        .map((cell) => cell.trim().replace(/^-{3,}$/, '---'))
        .join('|'),
    )
    .join('\n');
}

const docs = readFileSync(join(import.meta.dirname, '..', '..', '..', 'docs', 'errors.md'), 'utf8');

test('docs/errors.md lists exactly the codes of the registry, with the same text', () => {
  const table = docs
    .slice(docs.indexOf('<!-- errors:start -->') + 21, docs.indexOf('<!-- errors:end -->'))
    .trim();
  // prettier pads the table's cells; compare the cells, not the padding.
  assert.equal(
    normalizeTable(table),
    normalizeTable(renderErrorTable()),
    'docs/errors.md is stale: run npm run docs:errors',
  );
  const documented = [...table.matchAll(/^\| `(NINES_E_[A-Z_]+)`/gm)].map((m) => m[1]);
  assert.deepEqual(documented, Object.keys(ERRORS));
});

test('every code is NINES_E_ upper snake case with a message, a hint and an HTTP status', () => {
  for (const [code, info] of Object.entries(ERRORS)) {
    assert.match(code, /^NINES_E_[A-Z0-9_]+$/);
    assert.ok(info.message.length > 5 && !info.message.endsWith('.'), code);
    assert.ok(info.hint.length > 10, code);
    assert.ok(info.status >= 400 && info.status < 600, code);
  }
});

test('NinesError carries code, detail, hint, context and cause', () => {
  const cause = new Error('ECONNREFUSED');
  const err = new NinesError('NINES_E_HOST_UNREACHABLE', '10.0.0.1:22 refused', {
    context: { host: 'h1' },
    cause,
  });
  assert.equal(err.code, 'NINES_E_HOST_UNREACHABLE');
  assert.equal(err.message, 'The host cannot be reached over SSH: 10.0.0.1:22 refused');
  assert.equal(err.hint, ERRORS.NINES_E_HOST_UNREACHABLE.hint);
  assert.equal(err.cause, cause);
  assert.deepEqual(err.toJSON(), { code: err.code, message: err.message, hint: err.hint });
  assert.ok(isNinesError(err, 'NINES_E_HOST_UNREACHABLE'));
  assert.ok(!isNinesError(err, 'NINES_E_SSH_AUTH'));
  assert.ok(!isNinesError(new Error('x')));
});

test('toNinesError keeps NinesErrors and wraps anything else as internal', () => {
  const own = new NinesError('NINES_E_SSH_AUTH');
  assert.equal(toNinesError(own), own);
  const wrapped = toNinesError(new TypeError('boom'));
  assert.equal(wrapped.code, 'NINES_E_INTERNAL');
  assert.match(wrapped.message, /boom/);
});
