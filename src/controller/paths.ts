// Where the controller keeps its files (light module: the CLI imports it without loading the controller).
import { homedir } from 'node:os';
import { join } from 'node:path';

export const ADMIN_TOKEN_FILE = 'admin.token';
export const PID_FILE = 'controller.pid';

/** `$XDG_STATE_HOME/nines`, else `~/.local/state/nines`. */
export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  const state = env.XDG_STATE_HOME;
  return state ? join(state, 'nines') : join(homedir(), '.local', 'state', 'nines');
}
