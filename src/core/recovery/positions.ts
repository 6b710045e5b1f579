// Replication positions and how they compare: MariaDB GTID positions (per replication domain, the last
// sequence number applied) and PostgreSQL LSNs. Pure: every failover decision that asks "who has more?" or
// "what could be lost?" reads these, never the raw strings.

/** One replication domain's last transaction: `domain-server-seq` in MariaDB's notation. */
export interface GtidEntry {
  readonly domain: number;
  readonly server: number;
  readonly seq: bigint;
}

/** A MariaDB GTID position (e.g. @@gtid_current_pos): at most one entry per domain. */
export type GtidPosition = ReadonlyMap<number, GtidEntry>;

const GTID_RE = /^(\d+)-(\d+)-(\d+)$/;

/**
 * Parses '0-1-5531,1-3-20' (spaces and newlines allowed, as SHOW SLAVE STATUS prints them). An empty string is
 * the empty position. Returns null for anything malformed or with a domain twice: a decision must never act on a
 * position it misread.
 */
export function parseGtidPosition(text: string): GtidPosition | null {
  const out = new Map<number, GtidEntry>();
  const trimmed = text.trim();
  if (trimmed === '') return out;
  for (const part of trimmed.split(',')) {
    const m = GTID_RE.exec(part.trim());
    if (!m) return null;
    const entry = { domain: Number(m[1]), server: Number(m[2]), seq: BigInt(m[3] ?? '0') };
    if (out.has(entry.domain)) return null;
    out.set(entry.domain, entry);
  }
  return out;
}

export function formatGtidPosition(pos: GtidPosition): string {
  return [...pos.values()]
    .sort((a, b) => a.domain - b.domain)
    .map((e) => `${e.domain}-${e.server}-${e.seq}`)
    .join(',');
}

/** True when `a` has everything `b` has: in every domain of `b`, a's sequence number is at least b's. */
export function gtidContains(a: GtidPosition, b: GtidPosition): boolean {
  for (const entry of b.values()) {
    // A domain a lacks counts as sequence 0 (MariaDB numbers from 1), the same rule gtidGap uses.
    if ((a.get(entry.domain)?.seq ?? 0n) < entry.seq) return false;
  }
  return true;
}

/**
 * Transactions `behind` lacks compared with `ahead`, summed over domains (0 when it lacks none). With one writer
 * per domain, sequence numbers are dense, so this is the number of transactions, not an estimate.
 */
export function gtidGap(ahead: GtidPosition, behind: GtidPosition): bigint {
  let gap = 0n;
  for (const entry of ahead.values()) {
    const mine = behind.get(entry.domain)?.seq ?? 0n;
    if (entry.seq > mine) gap += entry.seq - mine;
  }
  return gap;
}

/** A total "progress" key for ordering: the sum of sequence numbers (containment implies a key at least as large). */
export function gtidProgress(pos: GtidPosition): bigint {
  let sum = 0n;
  for (const entry of pos.values()) sum += entry.seq;
  return sum;
}

/**
 * Transactions in `pos` that did not come from a known writer: the domain's last GTID carries a server id that is
 * not one of `writers` (the server ids of the current and past primaries) and goes beyond what `reference` (the
 * old primary's last known position) has in that domain. Such a node holds writes nobody else has ("errant"):
 * promoting it, or re-pointing it under a new primary, would diverge the data.
 */
export function errantEntries(
  pos: GtidPosition,
  reference: GtidPosition,
  writers: ReadonlySet<number>,
): readonly GtidEntry[] {
  return [...pos.values()].filter((entry) => {
    if (writers.has(entry.server)) return false;
    const known = reference.get(entry.domain)?.seq ?? 0n;
    return entry.seq > known;
  });
}

const LSN_RE = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/;

/** Parses a PostgreSQL LSN ('16/B374D848') into a byte position; null when malformed. */
export function parseLsn(text: string | null | undefined): bigint | null {
  if (text === null || text === undefined) return null;
  const m = LSN_RE.exec(text.trim());
  if (!m) return null;
  return (BigInt(`0x${m[1] ?? '0'}`) << 32n) | BigInt(`0x${m[2] ?? '0'}`);
}

export function formatLsn(lsn: bigint): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`;
}
