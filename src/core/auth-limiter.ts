// Lockout after wrong API tokens: one token bucket per client address. Each wrong token takes one token; the
// bucket refills `limit` tokens per `windowMs`. An address with an empty bucket is refused (429) without its
// token being looked at, until one token has refilled. Pure: the caller passes the clock.

export interface AuthLimiterOptions {
  /** Wrong tokens an address may send in a burst. */
  readonly limit: number;
  /** Time in which a whole burst refills. */
  readonly windowMs: number;
  /** Addresses tracked at most (the fullest buckets are forgotten first; memory stays bounded). */
  readonly maxAddresses?: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

export type LimiterVerdict =
  { readonly allowed: true } | { readonly allowed: false; readonly retryAfterMs: number };

export class AuthLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly limit: number;
  private readonly perMs: number;
  private readonly maxAddresses: number;

  constructor(options: AuthLimiterOptions) {
    this.limit = options.limit;
    this.perMs = options.limit / options.windowMs;
    this.maxAddresses = options.maxAddresses ?? 10_000;
  }

  private level(address: string, now: number): Bucket | undefined {
    const b = this.buckets.get(address);
    if (!b) return undefined;
    b.tokens = Math.min(this.limit, b.tokens + (now - b.at) * this.perMs);
    b.at = now;
    if (b.tokens >= this.limit) {
      this.buckets.delete(address);
      return undefined;
    }
    return b;
  }

  /** May this address present a token now? */
  check(address: string, now: number): LimiterVerdict {
    const b = this.level(address, now);
    if (!b || b.tokens >= 1) return { allowed: true };
    return { allowed: false, retryAfterMs: Math.ceil((1 - b.tokens) / this.perMs) };
  }

  /** Records a wrong token; returns true when this failure emptied the bucket (the address is now locked out). */
  fail(address: string, now: number): boolean {
    let b = this.level(address, now);
    if (!b) {
      if (this.buckets.size >= this.maxAddresses) this.evict(now);
      b = { tokens: this.limit, at: now };
      this.buckets.set(address, b);
    }
    const before = b.tokens;
    b.tokens = Math.max(0, b.tokens - 1);
    return before >= 1 && b.tokens < 1;
  }

  /** Addresses currently tracked (tests, diagnostics). */
  get size(): number {
    return this.buckets.size;
  }

  private evict(now: number): void {
    // Refill everything; full buckets vanish. If still at the bound, drop the fullest (least suspicious) one.
    for (const address of [...this.buckets.keys()]) this.level(address, now);
    if (this.buckets.size < this.maxAddresses) return;
    let fullest: string | undefined;
    let most = -1;
    for (const [address, b] of this.buckets) {
      if (b.tokens > most) {
        most = b.tokens;
        fullest = address;
      }
    }
    if (fullest !== undefined) this.buckets.delete(fullest);
  }
}
