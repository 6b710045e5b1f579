// Files only the controller's user may read (secret.key, the API's TLS key): a file that group or others can
// access is refused, not quietly fixed, because someone may already have read it.
import { statSync } from 'node:fs';
import { NinesError } from '../core/errors.ts';

export function assertPrivateFile(path: string): void {
  const mode = statSync(path).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    throw new NinesError(
      'NINES_E_FILE_PERMISSIONS',
      `${path} has mode ${mode.toString(8).padStart(4, '0')} (group or others have access); run: chmod 600 ${path}`,
      {
        hint: `Run: chmod 600 ${path} (then consider the file seen by others: rotate what it protects if needed) and start again.`,
        context: { path, mode },
      },
    );
  }
}
