// The drill's parameters and the checks that decide whether a cluster may be drilled at all: only when every node
// and proxy host is a host of one lab on this machine (the drill breaks the primary's host on purpose), only a
// single-primary cluster with an endpoint. Pure: the caller gives the lab inventories and the inventory's roles.
import { z } from 'zod';
import { NinesError } from '../../core/errors.ts';
import type { ClusterSpec } from '../../core/spec.ts';

export const DRILL_FAULTS = ['crash', 'poweroff', 'partition', 'freeze'] as const;
export type DrillFault = (typeof DRILL_FAULTS)[number];

/** The lab fault that undoes each drill fault. */
export const REVERT: Readonly<Record<DrillFault, 'restart' | 'heal' | 'thaw'>> = {
  crash: 'restart',
  poweroff: 'restart',
  partition: 'heal',
  freeze: 'thaw',
};

export const DrillParams = z.strictObject({
  fault: z.enum(DRILL_FAULTS).describe('The fault injected on the primary host'),
  repeat: z
    .number('expected a number')
    .int('expected 1-100')
    .min(1, 'expected 1-100')
    .max(100, 'expected 1-100')
    .default(1),
  rate: z
    .number('expected writes per second')
    .int('expected 1-200')
    .min(1, 'expected 1-200')
    .max(200, 'expected 1-200')
    .default(20)
    .describe('Writes per second through the endpoint'),
  timeoutMs: z
    .number('expected milliseconds')
    .int('expected 1000-1800000')
    .min(1000, 'expected 1000-1800000')
    .max(1_800_000, 'expected 1000-1800000')
    .default(120_000)
    .describe('Bound on each repeat, from its start to the old primary back as a replica'),
});
export type DrillParams = z.infer<typeof DrillParams>;

/** What the lab match needs of a lab inventory. */
export interface LabView {
  readonly name: string;
  /** The lab's network exists on this machine (its subnet routes to its hosts). */
  readonly up: boolean;
  readonly hosts: readonly { readonly name: string; readonly address: string }[];
}

export interface LabMatch {
  readonly lab: string;
  /** Spec host (address) -> lab host name (h1, ...). */
  readonly hostNames: Readonly<Record<string, string>>;
}

/** Every host of a spec: nodes, then proxies, each once. */
export function drillHosts(spec: ClusterSpec): string[] {
  return [...new Set([...spec.nodes.map((n) => n.host), ...(spec.endpoint?.proxies ?? [])])];
}

/**
 * The one lab whose hosts are every node and proxy host of the spec; NINES_E_DRILL_NOT_LAB naming the hosts
 * that are not lab hosts (or the labs they are split over) otherwise.
 */
export function matchLab(spec: ClusterSpec, labs: readonly LabView[]): LabMatch {
  const hosts = drillHosts(spec);
  const owner = new Map<string, { lab: string; host: string }>();
  for (const lab of labs) {
    if (!lab.up) continue;
    for (const h of lab.hosts) owner.set(h.address, { lab: lab.name, host: h.name });
  }
  const outside = hosts.filter((h) => !owner.has(h));
  if (outside.length > 0) {
    throw new NinesError(
      'NINES_E_DRILL_NOT_LAB',
      `cluster ${spec.name}: ${outside.join(', ')} ${outside.length === 1 ? 'is not a host' : 'are not hosts'} of a lab on this machine`,
      { context: { cluster: spec.name, hosts: outside, labs: labs.map((l) => l.name) } },
    );
  }
  const names = [...new Set(hosts.map((h) => owner.get(h)?.lab ?? ''))];
  const lab = names[0];
  if (names.length !== 1 || lab === undefined) {
    throw new NinesError(
      'NINES_E_DRILL_NOT_LAB',
      `cluster ${spec.name}: its hosts are spread over labs ${names.sort().join(', ')}; the drill needs them in one lab`,
      { context: { cluster: spec.name, labs: names } },
    );
  }
  return {
    lab,
    hostNames: Object.fromEntries(hosts.map((h) => [h, owner.get(h)?.host ?? ''])),
  };
}

/** Where the drill's writes go: the virtual IP, else the first proxy, on the write port. */
export function writeEndpoint(spec: ClusterSpec): { readonly host: string; readonly port: number } {
  const ep = spec.endpoint;
  const host = ep?.virtualIp ?? ep?.proxies[0];
  if (!ep || host === undefined) {
    throw new NinesError(
      'NINES_E_DRILL_UNSUPPORTED',
      `cluster ${spec.name} has no endpoint: the drill writes through it`,
      {
        context: { cluster: spec.name },
      },
    );
  }
  return { host, port: ep.writePort };
}

/** The stored node roles the drill reads (inventory rows). */
export interface RoleView {
  readonly host: string;
  readonly port: number;
  readonly role: string | null;
}

/** host:port of every node the inventory names primary. */
export function primaries(nodes: readonly RoleView[]): string[] {
  return nodes.filter((n) => n.role === 'primary').map((n) => `${n.host}:${n.port}`);
}

/** The one primary of the inventory; NINES_E_DRILL_UNSUPPORTED when there is none or more than one. */
export function currentPrimary(cluster: string, nodes: readonly RoleView[]): string {
  const found = primaries(nodes);
  const only = found[0];
  if (found.length !== 1 || only === undefined) {
    throw new NinesError(
      'NINES_E_DRILL_UNSUPPORTED',
      `cluster ${cluster}: the inventory names ${found.length === 0 ? 'no primary' : `${found.length} primaries (${found.join(', ')})`}`,
      { context: { cluster, primaries: found } },
    );
  }
  return only;
}
