// Parsers for what a host tells about itself over SSH (/proc/stat, /proc/meminfo, /proc/loadavg, /proc/net/dev,
// `df -P`), and the figures computed from two readings (CPU busy %, network bytes/s). Pure and tolerant: a missing
// or garbled section leaves its fields out instead of failing the whole reading.
import { counterRate, round, sharePct } from './counter-rate.ts';
import type { HostStats } from './monitor/observation.ts';

/** The section markers of the one command hosts/host-stats.ts runs. */
export const SECTION_MARK = '@@nines:';
export const SECTIONS = ['stat', 'meminfo', 'loadavg', 'netdev', 'df'] as const;
export type Section = (typeof SECTIONS)[number];

/** Splits the command's output into its sections (lines after "@@nines:<name>"). */
export function splitSections(output: string): Partial<Record<Section, string>> {
  const out: Partial<Record<Section, string>> = {};
  let current: Section | undefined;
  let lines: string[] = [];
  const flush = (): void => {
    if (current) out[current] = lines.join('\n');
  };
  for (const line of output.split('\n')) {
    if (line.startsWith(SECTION_MARK)) {
      flush();
      const name = line.slice(SECTION_MARK.length).trim();
      current = (SECTIONS as readonly string[]).includes(name) ? (name as Section) : undefined;
      lines = [];
    } else if (current) {
      lines.push(line);
    }
  }
  flush();
  return out;
}

export interface CpuTimes {
  /** Jiffies spent doing anything but idle and iowait, summed over CPUs. */
  readonly busy: number;
  readonly total: number;
  readonly cpus: number;
}

/** The aggregate "cpu" line of /proc/stat (user nice system idle iowait irq softirq steal ...). */
export function parseProcStat(text: string): CpuTimes | undefined {
  const lines = text.split('\n');
  const cpu = lines.find((l) => /^cpu\s/.test(l));
  if (!cpu) return undefined;
  const fields = cpu.trim().split(/\s+/).slice(1).map(Number);
  if (fields.length < 4 || fields.some((n) => !Number.isFinite(n))) return undefined;
  // guest and guest_nice (fields 9, 10) are already counted in user and nice.
  const counted = fields.slice(0, 8);
  const total = counted.reduce((a, b) => a + b, 0);
  const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
  return { busy: total - idle, total, cpus: lines.filter((l) => /^cpu\d+\s/.test(l)).length };
}

/** MemTotal and MemAvailable of /proc/meminfo, in bytes. */
export function parseMeminfo(text: string): { totalBytes: number; availableBytes: number } | undefined {
  const kb = (name: string): number | undefined => {
    const m = new RegExp(`^${name}:\\s+(\\d+)\\s*kB`, 'm').exec(text);
    return m?.[1] === undefined ? undefined : Number(m[1]) * 1024;
  };
  const totalBytes = kb('MemTotal');
  const availableBytes = kb('MemAvailable');
  if (totalBytes === undefined || availableBytes === undefined || totalBytes <= 0) return undefined;
  return { totalBytes, availableBytes };
}

export function parseLoadavg(text: string): { load1: number; load5: number; load15: number } | undefined {
  const [a, b, c] = text.trim().split(/\s+/).map(Number);
  if (a === undefined || b === undefined || c === undefined || [a, b, c].some((n) => !Number.isFinite(n))) {
    return undefined;
  }
  return { load1: a, load5: b, load15: c };
}

/** Received and sent bytes summed over every interface but lo (/proc/net/dev). */
export function parseNetDev(text: string): { rxBytes: number; txBytes: number } | undefined {
  let rxBytes = 0;
  let txBytes = 0;
  let seen = false;
  for (const line of text.split('\n')) {
    const m = /^\s*([^:\s]+):\s*(.*)$/.exec(line);
    if (!m?.[1] || m[2] === undefined || m[1] === 'lo') continue;
    const fields = m[2].trim().split(/\s+/).map(Number);
    const rx = fields[0];
    const tx = fields[8];
    if (rx === undefined || tx === undefined || !Number.isFinite(rx) || !Number.isFinite(tx)) continue;
    rxBytes += rx;
    txBytes += tx;
    seen = true;
  }
  return seen ? { rxBytes, txBytes } : undefined;
}

/** `df -P <path>`: the filesystem's size and use (1024-byte blocks), the last line being the filesystem. */
export function parseDf(
  text: string,
): { totalBytes: number; usedBytes: number; usedPct: number } | undefined {
  const lines = text.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('Filesystem'));
  const last = lines.at(-1);
  if (!last) return undefined;
  // The filesystem name may contain spaces: read the numeric columns from the end.
  const m = /\s(\d+)\s+(\d+)\s+(\d+)\s+(\d+)%\s+\S.*$/.exec(last);
  if (!m) return undefined;
  const total = Number(m[1]) * 1024;
  const used = Number(m[2]) * 1024;
  const available = Number(m[3]) * 1024;
  // As df computes Capacity: used / (used + available), rounded; we keep two decimals.
  const usedPct = used + available > 0 ? round((used / (used + available)) * 100) : 0;
  return { totalBytes: total, usedBytes: used, usedPct };
}

/** The counters of one reading, kept until the next (CPU and network figures need two). */
export interface HostCounters {
  readonly time: number;
  readonly cpu?: CpuTimes;
  readonly net?: { readonly rxBytes: number; readonly txBytes: number };
}

function cpuStats(cpu: CpuTimes | undefined, prev: HostCounters | undefined): HostStats {
  if (!cpu) return {};
  const pct = sharePct(prev?.cpu && { part: prev.cpu.busy, total: prev.cpu.total }, {
    part: cpu.busy,
    total: cpu.total,
  });
  return {
    ...(pct === undefined ? {} : { cpuPct: round(pct, 1) }),
    ...(cpu.cpus > 0 ? { cpuCount: cpu.cpus } : {}),
  };
}

function memStats(mem: ReturnType<typeof parseMeminfo>): HostStats {
  if (!mem) return {};
  return {
    memPct: round(((mem.totalBytes - mem.availableBytes) / mem.totalBytes) * 100, 1),
    memTotalBytes: mem.totalBytes,
    memAvailableBytes: mem.availableBytes,
  };
}

function netStats(net: HostCounters['net'], time: number, prev: HostCounters | undefined): HostStats {
  if (!net || !prev?.net) return {};
  const rx = counterRate({ value: prev.net.rxBytes, time: prev.time }, { value: net.rxBytes, time });
  const tx = counterRate({ value: prev.net.txBytes, time: prev.time }, { value: net.txBytes, time });
  return {
    ...(rx === undefined ? {} : { netRxBytesPerSecond: Math.round(rx) }),
    ...(tx === undefined ? {} : { netTxBytesPerSecond: Math.round(tx) }),
  };
}

/** Pure: one command output (and the counters of the previous reading of the same host) -> stats + counters. */
export function hostStatsFrom(
  output: string,
  time: number,
  prev: HostCounters | undefined,
): { stats: HostStats; counters: HostCounters } {
  const s = splitSections(output);
  const cpu = parseProcStat(s.stat ?? '');
  const net = parseNetDev(s.netdev ?? '');
  const df = parseDf(s.df ?? '');
  const stats: HostStats = {
    ...cpuStats(cpu, prev),
    ...memStats(parseMeminfo(s.meminfo ?? '')),
    ...(df
      ? { diskPct: round(df.usedPct, 1), diskTotalBytes: df.totalBytes, diskUsedBytes: df.usedBytes }
      : {}),
    ...(parseLoadavg(s.loadavg ?? '') ?? {}),
    ...netStats(net, time, prev),
  };
  return { stats, counters: { time, ...(cpu ? { cpu } : {}), ...(net ? { net } : {}) } };
}
