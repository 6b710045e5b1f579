// Runs the test suite with node's test runner.
//   node scripts/run-tests.ts [unit|integration|e2e ...]
// Narrow a run with environment variables:
//   NINES_TEST_AREAS=lab,hosts   only these integration areas (folder names under test/integration)
//   ENGINES=postgres,galera       only these engine areas (others areas still run unless NINES_TEST_AREAS is set)
//   NINES_TIMEOUT_SCALE=2         multiply every integration timeout (slow machines)
//   NINES_TEST_CONCURRENCY=1      test files run at once (default 2)
import { readdirSync, statSync, existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';

const ENGINE_AREAS = new Set(['mariadb', 'galera', 'postgres']);
const root = join(import.meta.dirname, '..');
const tiers = process.argv.slice(2);
const wanted = tiers.length > 0 ? tiers : ['unit', 'integration', 'e2e'];
const areas = csv(process.env.NINES_TEST_AREAS);
const engines = csv(process.env.ENGINES);

function csv(value: string | undefined): Set<string> | undefined {
  const items = (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  return items.length > 0 ? new Set(items) : undefined;
}

function walk(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const full = join(dir, name);
      return statSync(full).isDirectory() ? walk(full) : name.endsWith('.test.ts') ? [full] : [];
    });
}

function selected(tier: string, file: string): boolean {
  if (tier === 'unit') return true;
  const area = relative(join(root, 'test', tier), file).split('/')[0] ?? '';
  if (areas && !areas.has(area)) return false;
  if (engines && ENGINE_AREAS.has(area) && !engines.has(area)) return false;
  return true;
}

const files = wanted.flatMap((tier) => walk(join(root, 'test', tier)).filter((f) => selected(tier, f)));
if (files.length === 0) {
  console.error(`no test files selected (tiers: ${wanted.join(',')})`);
  process.exit(1);
}
const concurrency = process.env.NINES_TEST_CONCURRENCY ?? '2';
const args = [
  '--disable-warning=ExperimentalWarning',
  '--test',
  `--test-concurrency=${concurrency}`,
  '--test-reporter=spec',
  ...files.map((f) => relative(root, f)),
];
console.log(`node ${args.join(' ')}`);
const result = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
process.exit(result.status ?? 1);
