// fast-check arbitraries for the values a user could put in a spec: any Unicode text without the control
// characters spec validation refuses, biased towards the characters each config format treats specially.
import fc from 'fast-check';
import { controlCharacterIndex } from '../../src/core/validation.ts';

/** Characters with a meaning in at least one of the formats nines renders. */
export const SPECIAL_CHARACTERS = [
  '"',
  "'",
  '\\',
  '#',
  '!',
  ' ',
  '$',
  '{',
  '}',
  ':',
  ',',
  '=',
  ';',
  '`',
  '%',
  '@',
  '/',
  '*',
  '[',
  ']',
  '\u00a0', // no-break space (a space in latin1)
  'é',
  'à', // UTF-8 C3 A0: ends with the latin1 no-break space byte
  '😀',
] as const;

const anyCharacter = fc
  .string({ unit: 'binary', minLength: 1, maxLength: 1 })
  .filter((c) => controlCharacterIndex(c) < 0);

export const hostileCharacter = fc.oneof(fc.constantFrom(...SPECIAL_CHARACTERS), anyCharacter);

/** Arbitrary text without control characters (what spec validation lets through). */
export function hostileString(
  constraints: { minLength?: number; maxLength?: number } = {},
): fc.Arbitrary<string> {
  return fc.string({ unit: hostileCharacter, maxLength: 40, ...constraints });
}

/** Hostile values every renderer must round-trip, for the example-based tests and the real tools. */
export const HOSTILE_VALUES = [
  'pa ss#word',
  'with"double"quotes',
  "with'single'quotes",
  'back\\slash\\',
  '$HOME${PATH}$',
  'colon:comma,semi;',
  '# leading hash',
  ' leading and trailing spaces ',
  '!bang {brace} }',
  'nbsp\u00a0à😀',
  '\\"\\\'\\n\\t',
] as const;
