// The one shell-quoting function of nines. Every argv that must cross a shell (ssh sends a command string)
// goes through here. POSIX single quotes make every byte literal except the single quote itself, which is
// written as '\'' . NUL cannot be passed in an argument at all, so it is refused.
import { NinesError } from '../core/errors.ts';
import { redactText } from '../core/redact.ts';

const SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;

export function quoteArg(arg: string): string {
  if (arg.includes('\0')) {
    throw new NinesError('NINES_E_INVALID_ARGUMENT', 'a command argument contains a NUL byte', {
      hint: 'NUL bytes cannot be passed to a program as an argument; pass such data on standard input or in a file.',
    });
  }
  if (arg.length > 0 && SAFE.test(arg)) return arg;
  return `'${arg.replaceAll("'", `'\\''`)}'`;
}

/** Joins argv into one string that a POSIX shell splits back into exactly the same argv. */
export function quoteArgv(argv: readonly string[]): string {
  if (argv.length === 0) throw new NinesError('NINES_E_INVALID_ARGUMENT', 'empty command');
  return argv.map(quoteArg).join(' ');
}

/** Replaces each secret in text by ***, for logs and error messages. */
export function redact(text: string, secrets: readonly string[] | undefined): string {
  return redactText(text, secrets);
}
