// What the application endpoint should route, decided from the spec and an observed topology. Pure: the
// HAProxy config, the runtime commands and the docs all derive from this one view, so a restarted HAProxy
// (config file) and a running one (admin socket) route the same way.
import type { ClusterSpec } from '../core/spec.ts';
import type { Topology, TopologyNode } from '../core/topology.ts';

/** Backend names used in haproxy.cfg and in every runtime API command. */
export const WRITE_BACKEND = 'write';
export const READ_BACKEND = 'read';
export type BackendName = typeof WRITE_BACKEND | typeof READ_BACKEND;

/**
 * How one database node appears in the write backend:
 * - active: the writer, receives every write connection;
 * - backup: Galera only, a synced member HAProxy falls back to by itself when the writer's check fails;
 * - disabled: present (so the runtime API can enable it at failover) but in maintenance.
 */
export type WriteRole = 'active' | 'backup' | 'disabled';

export interface EndpointServer {
  /** HAProxy server name: the node address host:port (stable across topology changes). */
  readonly name: string;
  readonly host: string;
  readonly port: number;
  readonly write: WriteRole;
  /** In the read backend: balanced over (active) or in maintenance (disabled). */
  readonly read: 'active' | 'disabled';
}

export interface EndpointView {
  /** Server name of the writer; undefined when no node may take writes (the write port then refuses). */
  readonly writer: string | undefined;
  readonly servers: readonly EndpointServer[];
  /** One sentence on why the writer is the writer (for job logs and events). */
  readonly reason: string;
}

export interface EndpointViewOptions {
  /** Galera: the writer the proxies use now; kept while it stays usable so writes do not hop between nodes. */
  readonly currentWriter?: string | undefined;
  /** Node addresses (host:port) kept out of the read backend, e.g. replicas lagging beyond maxLagSeconds. */
  readonly lagging?: readonly string[];
}

export function serverName(node: { readonly host: string; readonly port: number }): string {
  // Spec hosts are host names or IP addresses ([A-Za-z0-9.:-]); HAProxy names allow letters, digits, '-', '_',
  // '.', ':'. Anything else (never expected), and '_' itself, becomes _XXXX (its UTF-16 code), so a name can
  // never break the config or a runtime API command, and two nodes never share a name.
  return `${node.host}:${node.port}`.replace(
    /[^A-Za-z0-9.:-]/g,
    (c) => `_${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/** Spec nodes first (in spec order, so server ids stay stable), then nodes only the topology knows. */
function allNodes(spec: ClusterSpec, topology: Topology): { host: string; port: number; priority: number }[] {
  const out = spec.nodes.map((n) => ({ host: n.host, port: n.port, priority: n.priority }));
  for (const t of topology.nodes) {
    if (!out.some((n) => n.host === t.host && n.port === t.port)) {
      out.push({ host: t.host, port: t.port, priority: 0 });
    }
  }
  return out;
}

function observed(topology: Topology, name: string): TopologyNode | undefined {
  return topology.nodes.find((n) => serverName(n) === name);
}

/** A Galera member may take traffic when it is a member and synced (or the engine reported no state). */
function galeraUsable(node: TopologyNode | undefined): boolean {
  if (!node || node.role === 'unknown') return false;
  return node.state === undefined || node.state.toLowerCase() === 'synced';
}

function chooseSinglePrimary(topology: Topology, current: string | undefined): [string | undefined, string] {
  const primaries = topology.nodes.filter((n) => n.role === 'primary').map(serverName);
  if (primaries.length === 1) return [primaries[0], `${primaries[0]} is the only primary`];
  if (primaries.length === 0) return [undefined, 'no node is primary: writes are refused'];
  if (current !== undefined && primaries.includes(current)) {
    return [current, `several primaries (${primaries.join(', ')}); keeping the current writer ${current}`];
  }
  return [undefined, `several primaries (${primaries.join(', ')}): writes are refused until one remains`];
}

function chooseGaleraWriter(
  nodes: readonly { name: string; priority: number }[],
  topology: Topology,
  current: string | undefined,
): [string | undefined, string] {
  const usable = nodes.filter((n) => galeraUsable(observed(topology, n.name)));
  if (current !== undefined && usable.some((n) => n.name === current)) {
    return [current, `${current} stays the writer (synced member)`];
  }
  // Highest spec priority first, then spec order: a deterministic total order.
  const best = [...usable].sort((a, b) => b.priority - a.priority)[0];
  if (!best) return [undefined, 'no synced Galera member: writes are refused'];
  return [best.name, `${best.name} is the synced member with the highest priority`];
}

function readActive(topology: Topology, name: string, writer: string | undefined, lagging: Set<string>) {
  if (name === writer || lagging.has(name)) return false;
  const node = observed(topology, name);
  if (topology.type === 'galera') return galeraUsable(node);
  return node?.role === 'replica';
}

export function endpointView(
  spec: ClusterSpec,
  topology: Topology,
  options: EndpointViewOptions = {},
): EndpointView {
  const nodes = allNodes(spec, topology).map((n) => ({ ...n, name: serverName(n) }));
  const galera = topology.type === 'galera';
  const [writer, reason] = galera
    ? chooseGaleraWriter(nodes, topology, options.currentWriter)
    : chooseSinglePrimary(topology, options.currentWriter);
  const lagging = new Set(options.lagging ?? []);
  const servers = nodes.map((n): EndpointServer => {
    let write: WriteRole = 'disabled';
    if (n.name === writer) write = 'active';
    else if (galera && galeraUsable(observed(topology, n.name))) write = 'backup';
    return {
      name: n.name,
      host: n.host,
      port: n.port,
      write,
      read: readActive(topology, n.name, writer, lagging) ? 'active' : 'disabled',
    };
  });
  return { writer, servers, reason };
}
