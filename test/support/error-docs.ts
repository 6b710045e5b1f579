import { ERRORS, type ErrorInfo } from '../../src/core/errors.ts';

/** The markdown table of docs/errors.md, one row per code. */
export function renderErrorTable(): string {
  const rows = Object.entries(ERRORS as Record<string, ErrorInfo>).map(
    ([code, info]) => `| \`${code}\` | ${info.status} | ${info.message} | ${info.hint} |`,
  );
  return ['| Code | HTTP | What went wrong | How to solve |', '| --- | --- | --- | --- |', ...rows, ''].join(
    '\n',
  );
}
