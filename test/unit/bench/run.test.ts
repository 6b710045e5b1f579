// `npm run bench` lists every benchmark with its description and runs one by name on the project's Node.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { listBenches, summaryOf } from '../../../bench/run.ts';

const ROOT = join(import.meta.dirname, '..', '..', '..');
const RUN = join(ROOT, 'bench', 'run.ts');

test('the list names every bench/*.ts with the first sentence of its header', () => {
  const files = readdirSync(join(ROOT, 'bench')).filter((f) => f.endsWith('.ts') && f !== 'run.ts');
  const benches = listBenches();
  assert.deepEqual(benches.map((b) => `${b.name}.ts`).sort(), files.sort());
  for (const b of benches) assert.ok(b.summary.length > 10, `${b.name} has a description: '${b.summary}'`);
  const out = spawnSync(process.execPath, [RUN], { encoding: 'utf8' });
  assert.equal(out.status, 0, out.stderr);
  for (const b of benches) assert.match(out.stdout, new RegExp(`^  ${b.name} +\\S`, 'm'));
});

test('the description stops at the usage line and at the first full stop', () => {
  const text = '// Wall time of a thing. More detail\n// here.\n//   npm run bench -- x [n]\nimport x;\n';
  assert.equal(summaryOf(text), 'Wall time of a thing.');
  assert.equal(summaryOf('// One line\n//   npm run bench -- y\n'), 'One line');
});

test('a bench runs by name on this Node, with its arguments and exit code; an unknown name exits 2', () => {
  const unknown = spawnSync(process.execPath, [RUN, 'no-such-bench'], { encoding: 'utf8' });
  assert.equal(unknown.status, 2);
  assert.match(unknown.stderr, /unknown benchmark 'no-such-bench'/);
  assert.match(unknown.stderr, /ssh-latency/, 'the list follows the error');
  // lab-up with 0 runs does nothing but parse its arguments and print its (empty) figures: it starts.
  const ran = spawnSync(process.execPath, [RUN, 'lab-up', '0', '1'], { encoding: 'utf8', cwd: ROOT });
  assert.equal(ran.status, 0, ran.stderr);
  assert.match(ran.stdout, new RegExp(`node ${process.version.replaceAll('.', '\\.')}\\b`), 'the same Node');
});
