// What a Galera node says about itself, read on the node (root over the socket, grastate.dat, --wsrep-recover):
// usable before any network user exists and while a node is down.
import { isNinesError } from '../../core/errors.ts';
import type { Executor } from '../../hosts/executor.ts';
import { PATHS } from '../mysql/config.ts';
import { serverRunning } from '../mysql/host.ts';
import { parseGaleraStatus, type GaleraState } from '../mysql/observe.ts';
import { rootSql, textVariables } from '../mysql/root-sql.ts';

export const ZERO_UUID = '00000000-0000-0000-0000-000000000000';

export interface Grastate {
  readonly uuid: string;
  /** -1 after a crash (unknown: recover it with --wsrep-recover). */
  readonly seqno: number;
  readonly safeToBootstrap: boolean;
}

/** Parses grastate.dat (undefined if it holds no state). */
export function parseGrastate(text: string): Grastate | undefined {
  const field = (name: string): string | undefined =>
    new RegExp(`^${name}:\\s*(\\S+)\\s*$`, 'm').exec(text)?.[1];
  const uuid = field('uuid');
  if (uuid === undefined) return undefined;
  return {
    uuid,
    seqno: Number(field('seqno') ?? '-1'),
    safeToBootstrap: field('safe_to_bootstrap') === '1',
  };
}

/** Parses "WSREP: Recovered position: uuid:seqno" (the last one) from a --wsrep-recover log. */
export function parseRecoveredPosition(log: string): { uuid: string; seqno: number } | undefined {
  const all = [...log.matchAll(/WSREP: Recovered position:\s*([0-9a-f-]{36}):(-?\d+)/g)];
  const last = all.at(-1);
  if (!last?.[1] || last[2] === undefined) return undefined;
  return { uuid: last[1], seqno: Number(last[2]) };
}

export async function readGrastate(executor: Executor): Promise<Grastate | undefined> {
  const r = await executor.exec(['cat', '--', PATHS.grastate], { check: false, sudo: true });
  return r.exitCode === 0 ? parseGrastate(r.stdout) : undefined;
}

/** The node's wsrep status, or undefined when its server does not run or does not answer yet (SST). */
export async function localGaleraState(
  executor: Executor,
  signal?: AbortSignal,
): Promise<GaleraState | undefined> {
  if (!(await serverRunning(executor))) return undefined;
  try {
    const rows = await rootSql(executor, "SHOW GLOBAL STATUS LIKE 'wsrep\\_%';\n", {
      signal,
      timeoutMs: 15_000,
    });
    return parseGaleraStatus(textVariables(rows));
  } catch (err) {
    if (isNinesError(err, 'NINES_E_DB_QUERY')) return undefined;
    throw err;
  }
}

/** Recovers the last committed position of a stopped node from InnoDB (mariadbd --wsrep-recover, ~0.5 s). */
export async function recoverPosition(
  executor: Executor,
  signal?: AbortSignal,
): Promise<{ uuid: string; seqno: number } | undefined> {
  const log = '/var/log/mysql/wsrep-recover.log';
  await executor.exec(['rm', '-f', '--', log], { sudo: true });
  await executor.exec(['mariadbd', '--user=mysql', '--wsrep-recover', `--log-error=${log}`], {
    sudo: true,
    check: false,
    timeoutMs: 120_000,
    signal,
  });
  const text = await executor.exec(['cat', '--', log], { sudo: true, check: false });
  return parseRecoveredPosition(text.stdout);
}

/** Marks the node safe to bootstrap (Galera refuses --wsrep-new-cluster otherwise after an unclean stop). */
export async function markSafeToBootstrap(executor: Executor): Promise<void> {
  await executor.exec(['sed', '-i', 's/^safe_to_bootstrap:.*/safe_to_bootstrap: 1/', '--', PATHS.grastate], {
    sudo: true,
    check: false,
  });
}
