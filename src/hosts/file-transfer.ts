// putFile/getFile for every executor, on top of execRaw: the content travels on stdin/stdout of `cat`, so the
// same code works over ssh and locally, with or without sudo. putFile is atomic: a temp file in the target's
// directory gets the content, mode and owner, then is renamed over the target, so readers see the old file
// or the new one, never a half-written one.
import { NinesError, isNinesError } from '../core/errors.ts';
import type { PutFileOptions } from './executor.ts';
import type { RawExecutor } from './exec-core.ts';
import { tail } from './output.ts';

/** Largest file getFile returns (a guard against reading a multi-GB log by mistake). */
export const MAX_GET_FILE_BYTES = 256 * 1024 * 1024;
const TRANSFER_TIMEOUT_MS = 120_000;

const PUT_SCRIPT = [
  'set -e',
  'dest=$1; mode=$2; owner=$3',
  'tmp=$(mktemp "$(dirname -- "$dest")/.nines-put.XXXXXX")',
  'trap \'rm -f -- "$tmp"\' EXIT',
  'cat > "$tmp"',
  'chmod -- "$mode" "$tmp"',
  'if [ -n "$owner" ]; then chown -- "$owner" "$tmp"; fi',
  'mv -f -- "$tmp" "$dest"',
  'trap - EXIT',
].join('\n');

export function putFileArgv(path: string, options: PutFileOptions = {}): string[] {
  const mode = options.mode ?? 0o644;
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) {
    throw new NinesError('NINES_E_INVALID_ARGUMENT', `invalid file mode ${mode}`);
  }
  if (!path.startsWith('/'))
    throw new NinesError('NINES_E_INVALID_ARGUMENT', `putFile needs an absolute path, got ${path}`);
  return ['sh', '-c', PUT_SCRIPT, 'nines-put', path, mode.toString(8).padStart(4, '0'), options.owner ?? ''];
}

function transferError(host: string, path: string, direction: 'put' | 'get', err: unknown): NinesError {
  if (isNinesError(err) && err.code !== 'NINES_E_COMMAND_FAILED') return err;
  const stderr = isNinesError(err) ? err.context.stderr : undefined;
  return new NinesError(
    'NINES_E_FILE_TRANSFER',
    `${direction} ${host}:${path}${typeof stderr === 'string' && stderr ? `: ${tail(stderr.trim(), 500)}` : ''}`,
    {
      cause: err,
      context: { host, path, direction, ...(typeof stderr === 'string' ? { stderr } : {}) },
    },
  );
}

export async function putFileViaExec(
  executor: RawExecutor,
  path: string,
  content: string | Buffer,
  options: PutFileOptions = {},
): Promise<void> {
  const argv = putFileArgv(path, options);
  try {
    await executor.execRaw(argv, {
      stdin: content,
      sudo: options.sudo ?? false,
      timeoutMs: TRANSFER_TIMEOUT_MS,
    });
  } catch (err) {
    throw transferError(executor.host, path, 'put', err);
  }
}

export async function getFileViaExec(
  executor: RawExecutor,
  path: string,
  options: { readonly sudo?: boolean } = {},
): Promise<Buffer> {
  let result;
  try {
    result = await executor.execRaw(['cat', '--', path], {
      sudo: options.sudo ?? false,
      timeoutMs: TRANSFER_TIMEOUT_MS,
      maxOutputBytes: MAX_GET_FILE_BYTES,
    });
  } catch (err) {
    throw transferError(executor.host, path, 'get', err);
  }
  if (result.stdoutTruncated) {
    throw new NinesError(
      'NINES_E_FILE_TRANSFER',
      `get ${executor.host}:${path}: larger than ${MAX_GET_FILE_BYTES} bytes`,
      {
        context: { host: executor.host, path, direction: 'get' },
        hint: 'Read large files in parts (tail, head) instead of whole.',
      },
    );
  }
  return result.stdout;
}
