// Pure half of the HAProxy runtime API: parsing `show stat` and deciding which commands move a running HAProxy
// to an EndpointView. runtime.ts sends them over the admin socket.
import { READ_BACKEND, WRITE_BACKEND } from '../endpoint-view.ts';
import type { EndpointView } from '../endpoint-view.ts';

/** Administrative state as set by the runtime API (or `disabled` in the config, which is maintenance). */
export type AdminState = 'ready' | 'maint' | 'drain';

export interface BackendServerState {
  readonly backend: string;
  readonly server: string;
  /** host:port the server points at. */
  readonly address: string;
  readonly admin: AdminState;
  /** What the health check says: up, down, or unchecked (in maintenance, or no check configured). */
  readonly health: 'up' | 'down' | 'unchecked';
  /** HAProxy's status text as is: UP, DOWN, MAINT, DRAIN, "UP 1/2", "no check", ... */
  readonly status: string;
  readonly backup: boolean;
  /** Current sessions. */
  readonly sessions: number;
  readonly weight: number;
  /** Seconds since the last UP/DOWN change. */
  readonly lastChangeSeconds: number | undefined;
  /** Last check result, e.g. L4OK, L4CON, L4TOUT. */
  readonly checkStatus: string;
}

function num(value: string | undefined): number | undefined {
  if (value === undefined || value === '') return undefined;
  const n = Number(value);
  return Number.isFinite(n) ? n : undefined;
}

function adminOf(status: string): AdminState {
  if (status.startsWith('MAINT')) return 'maint';
  if (status.startsWith('DRAIN')) return 'drain';
  return 'ready';
}

function healthOf(status: string): BackendServerState['health'] {
  // "UP 1/2" is going down but still up; "DOWN 1/2" is going up but still down.
  if (status.startsWith('UP') || status === 'NOLB' || status === 'DRAIN') return 'up';
  if (status.startsWith('DOWN')) return 'down';
  return 'unchecked';
}

/** Parses the CSV of `show stat` (any field order: columns are taken from the "# pxname,..." header). */
export function parseShowStat(csv: string): BackendServerState[] {
  const lines = csv.split('\n').filter((l) => l.trim() !== '');
  const header = lines.find((l) => l.startsWith('# '));
  if (!header) return [];
  const columns = header.slice(2).split(',');
  const col = (fields: readonly string[], name: string): string | undefined => {
    const i = columns.indexOf(name);
    return i < 0 ? undefined : fields[i];
  };
  const out: BackendServerState[] = [];
  for (const line of lines) {
    if (line.startsWith('#')) continue;
    const f = line.split(',');
    const server = col(f, 'svname') ?? '';
    if (server === 'FRONTEND' || server === 'BACKEND' || server === '') continue;
    const status = col(f, 'status') ?? '';
    out.push({
      backend: col(f, 'pxname') ?? '',
      server,
      address: col(f, 'addr') ?? '',
      admin: adminOf(status),
      health: healthOf(status),
      status,
      backup: col(f, 'bck') === '1',
      sessions: num(col(f, 'scur')) ?? 0,
      weight: num(col(f, 'weight')) ?? 0,
      lastChangeSeconds: num(col(f, 'lastchg')),
      checkStatus: (col(f, 'check_status') ?? '').replace(/^\* /, ''),
    });
  }
  return out;
}

export function setStateCommand(backend: string, server: string, state: AdminState): string {
  return `set server ${backend}/${server} state ${state}`;
}

/**
 * The server the write backend sends new connections to now: a ready, up, non-backup server first, else the
 * first ready and up backup (what HAProxy picks with `balance first` and without `allbackups`).
 */
export function currentWriter(states: readonly BackendServerState[]): string | undefined {
  const write = states.filter(
    (s) => s.backend === WRITE_BACKEND && s.admin === 'ready' && s.health !== 'down',
  );
  return (write.find((s) => !s.backup) ?? write.find((s) => s.backup))?.server;
}

/**
 * Commands that make `writer` the only server taking new write connections, in the order that keeps the
 * window without a writer at zero: enable the new writer, then take the others out, then cut the sessions
 * still open on servers that were taking traffic. Backup servers (Galera) of the running config stay ready as
 * fallbacks while the writer is the config's main server; when the writer is itself a backup they are
 * drained, since HAProxy would otherwise send writes to whichever ready backup comes first. `usable` says
 * whether a server may serve as such a fallback (default: all).
 */
export function writerCommands(
  states: readonly BackendServerState[],
  writer: string | undefined,
  usable: (server: string) => boolean = () => true,
): string[] {
  const write = states.filter((s) => s.backend === WRITE_BACKEND);
  const target = write.find((s) => s.server === writer);
  const desired = (s: BackendServerState): AdminState => {
    if (s === target) return 'ready';
    if (!s.backup || !target || !usable(s.server)) return 'maint';
    return target.backup ? 'drain' : 'ready';
  };
  const enable: string[] = [];
  const disable: string[] = [];
  const shutdown: string[] = [];
  for (const s of write) {
    const want = desired(s);
    if (s.admin === want) continue;
    if (want === 'ready') {
      enable.push(setStateCommand(WRITE_BACKEND, s.server, want));
      continue;
    }
    disable.push(setStateCommand(WRITE_BACKEND, s.server, want));
    if (s.admin === 'ready') shutdown.push(`shutdown sessions server ${WRITE_BACKEND}/${s.server}`);
  }
  return [...enable, ...disable, ...shutdown];
}

/** Commands that make the read backend match the view (readers ready, others in maintenance). */
export function readerCommands(states: readonly BackendServerState[], view: EndpointView): string[] {
  const enable: string[] = [];
  const disable: string[] = [];
  for (const s of states.filter((x) => x.backend === READ_BACKEND)) {
    const wanted = view.servers.find((v) => v.name === s.server);
    const desired: AdminState = wanted?.read === 'active' ? 'ready' : 'maint';
    if (s.admin === desired) continue;
    (desired === 'ready' ? enable : disable).push(setStateCommand(READ_BACKEND, s.server, desired));
  }
  return [...enable, ...disable];
}

/** Every command that moves a running HAProxy (described by `show stat`) to the view; [] when it matches. */
export function runtimeCommands(states: readonly BackendServerState[], view: EndpointView): string[] {
  const usable = (server: string): boolean =>
    view.servers.find((v) => v.name === server)?.write !== 'disabled';
  return [...writerCommands(states, view.writer, usable), ...readerCommands(states, view)];
}

/** Does the running HAProxy know exactly the view's servers? If not, it needs the new config (a reload). */
export function sameServers(states: readonly BackendServerState[], view: EndpointView): boolean {
  const want = view.servers.map((s) => s.name).sort();
  for (const backend of [WRITE_BACKEND, READ_BACKEND]) {
    const have = states
      .filter((s) => s.backend === backend)
      .map((s) => s.server)
      .sort();
    if (have.length !== want.length || have.some((n, i) => n !== want[i])) return false;
  }
  return true;
}
