// keepalived.conf words. Keepalived splits a line at whitespace, '{' and '}' delimit blocks, and '#' or '!'
// start a comment anywhere in a line (keepalived.conf(5)); its handling of quotes differs between keywords.
// The values nines writes (host names, addresses, interface names, an instance name) never need quoting, so
// instead of an escaping rule that holds for some keywords only, anything outside a safe set is refused.
import { NinesError } from '../../core/errors.ts';
import { escapeControlCharacters } from '../../core/validation.ts';

const SAFE = /^[A-Za-z0-9_.:/@-]+$/;

/** `value` as one keepalived.conf word, or NINES_E_CONFIG_VALUE naming `what`. */
export function keepalivedWord(value: string, what: string): string {
  if (SAFE.test(value)) return value;
  throw new NinesError(
    'NINES_E_CONFIG_VALUE',
    `keepalived.conf: ${what} must be letters, digits and . _ : / @ -, got '${escapeControlCharacters(value)}'`,
    { context: { file: 'keepalived.conf', field: what } },
  );
}

/** A comment line: the text stays on one line (control characters are shown escaped). */
export function keepalivedComment(text: string): string {
  return `# ${escapeControlCharacters(text)}`;
}
