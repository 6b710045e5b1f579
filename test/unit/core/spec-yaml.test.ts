// YAML aliases in spec text: bounded, resolved, acyclic; every failure is NINES_E_SPEC_PARSE with line and column.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isNinesError } from '../../../src/core/errors.ts';
import { parseSpecText } from '../../../src/core/spec.ts';
import { billionLaughs } from '../../support/yaml-bombs.ts';

function parseFails(text: string, message: RegExp): void {
  assert.throws(
    () => parseSpecText(text, 'spec.yaml'),
    (err: unknown) => {
      assert.ok(isNinesError(err, 'NINES_E_SPEC_PARSE'), String(err));
      assert.match(err.message, message);
      assert.equal(err.status, 400);
      return true;
    },
  );
}

test('a billion laughs is a parse error with a position, not an internal error', () => {
  parseFails(billionLaughs(), /spec\.yaml:2:\d+: aliases expand to too many nodes \(more than 100\)/);
});

test('an alias without an anchor, or inside its own anchor, is a parse error naming it', () => {
  parseFails(
    'name: x\nnodes: *missing\n',
    /spec\.yaml:2:8: alias \*missing has no anchor &missing before it/,
  );
  parseFails('a: *b\nb: &b 1\n', /spec\.yaml:1:4: alias \*b has no anchor &b before it/);
  parseFails('a: &x [1, *x]\n', /spec\.yaml:1:11: alias \*x refers to the anchor it is inside \(a cycle\)/);
});

test('ordinary anchors still work', () => {
  assert.deepEqual(parseSpecText('base: &b {port: 3306}\nnodes: [*b, *b]\n'), {
    base: { port: 3306 },
    nodes: [{ port: 3306 }, { port: 3306 }],
  });
});
