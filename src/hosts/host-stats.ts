// Operating-system figures of a database host over SSH, without an agent: one command per reading prints
// /proc/stat, /proc/meminfo, /proc/loadavg, /proc/net/dev and `df -P <data dir>` between section markers; the
// pure parsers (core/host-stats-parse.ts) turn it into HostStats. CPU busy % and network bytes/s are deltas
// between two readings: the caller keeps a HostStatsState per host and passes it to every read.
import { hostStatsFrom, SECTION_MARK, type HostCounters } from '../core/host-stats-parse.ts';
import type { HostStats } from '../core/monitor/observation.ts';
import type { Executor } from './executor.ts';

/** The previous reading of one host (CPU and network figures need two). Create one per host, keep it. */
export interface HostStatsState {
  previous?: HostCounters;
}

export function newHostStatsState(): HostStatsState {
  return {};
}

export interface HostStatsOptions {
  /** Filesystem to report (the node's data directory). */
  readonly dataDir: string;
  /** Previous reading of this host; updated in place. Without it, cpuPct and net rates are left out. */
  readonly state?: HostStatsState;
  /** Default 10 s. */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

/**
 * The argv of the one command: a fixed script, the data directory passed as $1 (never spliced into the script).
 * `df` may fail (directory missing): its section is then empty and diskPct is left out.
 */
export function hostStatsArgv(dataDir: string): string[] {
  const m = SECTION_MARK;
  const script = [
    `echo ${m}stat; cat /proc/stat`,
    `echo ${m}meminfo; cat /proc/meminfo`,
    `echo ${m}loadavg; cat /proc/loadavg`,
    `echo ${m}netdev; cat /proc/net/dev`,
    `echo ${m}df; df -P -- "$1" 2>/dev/null`,
    'exit 0',
  ].join('; ');
  return ['sh', '-c', script, 'nines-host-stats', dataDir];
}

/**
 * Reads the host's figures. Throws the executor's errors (NINES_E_HOST_UNREACHABLE, NINES_E_COMMAND_TIMEOUT,
 * NINES_E_COMMAND_ABORTED); a section the host does not provide only leaves its fields out.
 */
export async function readHostStats(executor: Executor, options: HostStatsOptions): Promise<HostStats> {
  const result = await executor.exec(hostStatsArgv(options.dataDir), {
    timeoutMs: options.timeoutMs ?? 10_000,
    check: true,
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const { stats, counters } = hostStatsFrom(result.stdout, Date.now(), options.state?.previous);
  if (options.state) options.state.previous = counters;
  return stats;
}
