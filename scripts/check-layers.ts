// Keeps imports pointing down the layers of ARCHITECTURE.md:
//   core <- hosts <- engines | proxies | lab <- controller <- api <- cli | web
// A file may import from its own folder or from a lower layer, never from a sibling or a higher one.
// core/ does no I/O, only hosts/ and engines/ talk to drivers (ssh2, mariadb, pg), and nothing in src/ imports
// from outside it (test doubles live under test/, where no production start can reach them).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve, dirname, sep } from 'node:path';

const RANK: Record<string, number> = {
  core: 0,
  hosts: 1,
  engines: 2,
  proxies: 2,
  lab: 2,
  controller: 3,
  api: 4,
  cli: 5,
  web: 5,
};
const IO_MODULES = [
  'node:fs',
  'node:fs/promises',
  'node:child_process',
  'node:net',
  'node:http',
  'node:https',
  'node:dgram',
  'node:dns',
  'node:tls',
  'node:sqlite',
];
const DRIVERS = ['ssh2', 'mariadb', 'pg'];
const DRIVER_LAYERS = new Set(['hosts', 'engines', 'proxies', 'lab']);

const root = resolve(import.meta.dirname, '..', 'src');

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = join(dir, name);
    if (statSync(full).isDirectory()) return name === 'dist' ? [] : walk(full);
    return /\.tsx?$/.test(name) ? [full] : [];
  });
}

function layerOf(file: string): string {
  return relative(root, file).split(sep)[0] ?? '';
}

const problems: string[] = [];
const importRe =
  /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;
for (const file of walk(root)) {
  const from = layerOf(file);
  const text = readFileSync(file, 'utf8');
  for (const match of text.matchAll(importRe)) {
    const spec = match[1] ?? match[2] ?? '';
    const where = `${relative(process.cwd(), file)}: imports '${spec}'`;
    if (spec.startsWith('.') && relative(root, resolve(dirname(file), spec)).startsWith('..')) {
      problems.push(`${where}: src/ never imports from outside src/ (test doubles live in test/)`);
    } else if (spec.startsWith('.')) {
      const to = layerOf(resolve(dirname(file), spec));
      const fromRank = RANK[from];
      const toRank = RANK[to];
      if (fromRank === undefined || toRank === undefined) {
        problems.push(`${where} (unknown layer '${from}' or '${to}')`);
      } else if (to !== from && toRank >= fromRank) {
        problems.push(`${where}: ${from}/ may not import ${to}/ (imports point down only)`);
      }
    } else if (from === 'core' && IO_MODULES.includes(spec)) {
      problems.push(`${where}: core/ does no I/O`);
    } else if (DRIVERS.includes(spec) && !DRIVER_LAYERS.has(from)) {
      problems.push(`${where}: only hosts/, engines/, proxies/ and lab/ use driver libraries`);
    }
  }
}
if (problems.length > 0) {
  console.error(`Layer check failed (${problems.length}):\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log(`layers ok (${walk(root).length} files)`);
