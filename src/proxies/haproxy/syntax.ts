// haproxy.cfg quoting (HAProxy 2.6 configuration manual, section 2.2 "Quoting and escaping"): a line is split
// into words at spaces and tabs; '#' starts a comment; '\' escapes the next character; "weak quotes" keep
// spaces, '#' and single quotes but still interpret '\' escapes and "$VAR" environment variables (written \$);
// 'strong quotes' interpret nothing but cannot hold a single quote. Every value nines writes into the file goes
// through haproxyWord: plain when it has only safe characters, else double-quoted with \ " and $ escaped.
import { NinesError } from '../../core/errors.ts';
import { controlCharacterIndex, escapeControlCharacters } from '../../core/validation.ts';

/** Characters HAProxy never treats specially in a word. */
const PLAIN = /^[A-Za-z0-9_.:/@+,=-]+$/;

/**
 * One configuration word holding exactly `value`. Control characters are refused (a line break would end the
 * directive; spec validation refuses them first): `what` names the value in the error.
 */
export function haproxyWord(value: string, what: string): string {
  if (controlCharacterIndex(value) >= 0) {
    throw new NinesError('NINES_E_CONFIG_VALUE', `haproxy.cfg: ${what} holds a control character`, {
      context: { file: 'haproxy.cfg', field: what },
    });
  }
  if (PLAIN.test(value)) return value;
  return `"${value.replace(/[\\"$]/g, (c) => `\\${c}`)}"`;
}

/** A comment line: the text stays on one line (control characters are shown escaped). */
export function haproxyComment(text: string): string {
  return `# ${escapeControlCharacters(text)}`;
}
