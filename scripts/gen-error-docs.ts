// Regenerates the table in docs/errors.md from src/core/errors.ts (npm run docs:errors).
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderErrorTable } from '../test/support/error-docs.ts';

const file = join(import.meta.dirname, '..', 'docs', 'errors.md');
const text = readFileSync(file, 'utf8');
const start = text.indexOf('<!-- errors:start -->');
const end = text.indexOf('<!-- errors:end -->');
if (start < 0 || end < 0) throw new Error('docs/errors.md lacks the errors:start/errors:end markers');
const next = `${text.slice(0, start)}<!-- errors:start -->\n${renderErrorTable()}<!-- errors:end -->${text.slice(end + '<!-- errors:end -->'.length)}`;
writeFileSync(file, next);
console.log('docs/errors.md updated');
