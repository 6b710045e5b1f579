// Pure naming and addressing of a lab: everything here is derived from the lab's name and host count, so that
// `down` can find a lab's namespaces, links and cgroups even when its inventory file is gone.
import { createHash } from 'node:crypto';
import { NinesError } from '../core/errors.ts';

export const DEFAULT_LAB_NAME = 'nines';
export const MAX_HOSTS = 50;
/** Hosts get .11, .12, ... of the lab's /24; the controller (the bridge) gets .1. */
export const FIRST_HOST_OCTET = 11;
/** Labs take a /24 out of 10.77.0.0/16. */
export const SUBNET_PREFIX = '10.77';

const NAME_RE = /^[a-z0-9][a-z0-9-]{0,31}$/;
const SHORT_RE = /^[a-z0-9]{1,6}$/;

export function validateLabName(name: string): string {
  if (!NAME_RE.test(name)) {
    throw new NinesError('NINES_E_INVALID_ARGUMENT', `lab name '${name}'`, {
      hint: 'A lab name has 1-32 characters: lower-case letters, digits and "-", starting with a letter or digit.',
    });
  }
  return name;
}

export function validateHostCount(hosts: number): number {
  if (!Number.isInteger(hosts) || hosts < 1 || hosts > MAX_HOSTS) {
    throw new NinesError('NINES_E_INVALID_ARGUMENT', `--hosts ${String(hosts)}`, {
      hint: `A lab has 1 to ${MAX_HOSTS} hosts.`,
    });
  }
  return hosts;
}

function hashHex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** A short tag for interface names (Linux allows 15 characters): the name itself if short, else a hash. */
export function labTag(name: string): string {
  return SHORT_RE.test(name) ? name : hashHex(name).slice(0, 6);
}

export function bridgeName(name: string): string {
  return `n9-${labTag(name)}`;
}

/** Host-side end of a host's veth pair, e.g. n9-abc123-h12 (at most 13 characters). */
export function vethName(name: string, host: string): string {
  return `n9-${labTag(name)}-${host}`;
}

/** Network namespace names have no short length limit, so they carry the full lab name. */
export function netnsName(name: string, host: string): string {
  return `nines-${name}-${host}`;
}

/** The lab a namespace name belongs to, and the host, or undefined for namespaces that are not ours. */
export function parseNetnsName(netns: string): { lab: string; host: string } | undefined {
  const m = /^nines-(.+)-(h\d+)$/.exec(netns);
  if (!m?.[1] || !m[2]) return undefined;
  return { lab: m[1], host: m[2] };
}

export function hostNames(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `h${i + 1}`);
}

export function hostIndex(host: string): number | undefined {
  const m = /^h(\d+)$/.exec(host);
  return m?.[1] ? Number(m[1]) : undefined;
}

export interface LabAddresses {
  readonly subnet: string;
  readonly prefixLength: number;
  readonly controller: string;
  readonly hosts: readonly string[];
}

export function labAddresses(third: number, count: number): LabAddresses {
  const base = `${SUBNET_PREFIX}.${third}`;
  return {
    subnet: `${base}.0/24`,
    prefixLength: 24,
    controller: `${base}.1`,
    hosts: Array.from({ length: count }, (_, i) => `${base}.${FIRST_HOST_OCTET + i}`),
  };
}

/** Where the lab's /24 search starts: spread by name so that concurrent labs rarely race for the same one. */
export function subnetSeed(name: string): number {
  return parseInt(hashHex(name).slice(0, 2), 16);
}

// --- subnet choice ---

function ipToInt(ip: string): number | undefined {
  const parts = ip.split('.');
  if (parts.length !== 4) return undefined;
  let n = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) return undefined;
    n = n * 256 + Number(p);
  }
  return n;
}

/** [first, last] address of a CIDR ("10.0.0.0/8", "192.0.2.7" = /32), or undefined if not IPv4. */
export function cidrRange(cidr: string): [number, number] | undefined {
  const [ip = '', lenText] = cidr.split('/');
  const start = ipToInt(ip);
  const len = lenText === undefined ? 32 : Number(lenText);
  if (start === undefined || !Number.isInteger(len) || len < 0 || len > 32) return undefined;
  const size = 2 ** (32 - len);
  const first = Math.floor(start / size) * size;
  return [first, first + size - 1];
}

/**
 * The third octet X of a free 10.77.X.0/24: one that overlaps none of the used prefixes (routes and interface
 * addresses of the machine). Default routes (/0) are ignored. Scans from `seed` upwards, wrapping around.
 */
export function chooseSubnet(used: readonly string[], seed: number): number | undefined {
  const ranges = used
    .map(cidrRange)
    .filter((r): r is [number, number] => r !== undefined && !(r[0] === 0 && r[1] === 2 ** 32 - 1));
  for (let k = 0; k < 256; k++) {
    const third = (seed + k) % 256;
    const range = cidrRange(`${SUBNET_PREFIX}.${third}.0/24`);
    if (!range) continue;
    const [lo, hi] = range;
    if (!ranges.some(([a, b]) => a <= hi && lo <= b)) return third;
  }
  return undefined;
}
