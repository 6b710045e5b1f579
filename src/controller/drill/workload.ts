// What the drill runs while it breaks the primary: a write workload through the endpoint that logs every write
// (sent, acknowledged or failed), and a poller that asks every node directly, about every 100 ms, whether it
// accepts writes. Both are open loops on timers: a write or a poll that hangs never delays the next one, and both
// are bounded (at most a few connections in flight, each call within its timeout).
import { toNinesError } from '../../core/errors.ts';
import type { AckRecord, WritabilitySample } from '../../core/recovery/drill.ts';
import type { ClusterSpec, NodeSpec } from '../../core/spec.ts';
import type { AppUser } from '../../engines/registry.ts';
import type { AdminConnection, AppConnection, DrillSql } from './sql.ts';

interface MutableAck {
  id: number;
  sentAt: number;
  ackedAt?: number;
  error?: string;
}

export interface WorkloadOptions {
  readonly sql: DrillSql;
  readonly target: { readonly host: string; readonly port: number };
  readonly app: AppUser;
  /** Writes per second. */
  readonly rate: number;
  /** Bound on one write, connect included. */
  readonly writeTimeoutMs: number;
  /** The first id to write; ids go up by one. */
  readonly firstId: number;
  /** Called with each write error (code and message, no secret), at most once per distinct message. */
  readonly onError?: (message: string) => void;
}

/**
 * An INSERT of the next id every 1/rate s on an idle connection (a new one when none is idle, and after any
 * error the failed connection is dropped). At most `maxInFlight` writes at once; a tick with that many in
 * flight sends nothing (the log then shows the gap).
 */
export class Workload {
  readonly #o: WorkloadOptions;
  readonly #log: MutableAck[] = [];
  readonly #idle: AppConnection[] = [];
  readonly #inFlight = new Set<Promise<void>>();
  readonly #maxInFlight: number;
  readonly #seenErrors = new Set<string>();
  #nextId: number;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(o: WorkloadOptions) {
    this.#o = o;
    this.#nextId = o.firstId;
    this.#maxInFlight = Math.min(64, Math.max(4, Math.ceil((o.rate * o.writeTimeoutMs) / 1000) + 2));
  }

  start(): void {
    const interval = 1000 / this.#o.rate;
    let next = Date.now();
    const tick = (): void => {
      if (this.#stopped) return;
      this.#send();
      next += interval;
      const now = Date.now();
      if (next < now) next = now; // late (a busy event loop): skip the missed ticks, do not burst
      this.#timer = setTimeout(tick, next - now);
    };
    tick();
  }

  /** The log so far, as records (a copy). */
  acks(): AckRecord[] {
    return this.#log.map((a) => ({ ...a }));
  }

  /** The last id sent so far (firstId - 1 before the first write). */
  get lastId(): number {
    return this.#nextId - 1;
  }

  /** Acknowledged writes so far, and the time of the last one (0 when none). */
  progress(): { readonly acknowledged: number; readonly lastAckAt: number } {
    let acknowledged = 0;
    let lastAckAt = 0;
    for (const a of this.#log) {
      if (a.ackedAt === undefined) continue;
      acknowledged += 1;
      lastAckAt = Math.max(lastAckAt, a.ackedAt);
    }
    return { acknowledged, lastAckAt };
  }

  /** The first acknowledgement of a write sent after `t`, if any yet. */
  firstAckAfter(t: number): number | undefined {
    let first: number | undefined;
    for (const a of this.#log) {
      if (a.ackedAt !== undefined && a.sentAt > t && (first === undefined || a.ackedAt < first))
        first = a.ackedAt;
    }
    return first;
  }

  /** Stops sending, waits for the writes in flight (each bounded), closes every connection. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await Promise.allSettled([...this.#inFlight]);
    for (const c of this.#idle.splice(0)) c.close();
  }

  get inFlight(): number {
    return this.#inFlight.size;
  }

  #send(): void {
    if (this.#inFlight.size >= this.#maxInFlight) return;
    const record: MutableAck = { id: this.#nextId, sentAt: Date.now() };
    this.#nextId += 1;
    this.#log.push(record);
    const p = this.#write(record).finally(() => this.#inFlight.delete(p));
    this.#inFlight.add(p);
  }

  async #write(record: MutableAck): Promise<void> {
    const deadline = record.sentAt + this.#o.writeTimeoutMs;
    let conn: AppConnection | undefined;
    try {
      conn = this.#takeIdle();
      conn ??= await this.#o.sql.openApp(this.#o.target, this.#o.app, this.#o.writeTimeoutMs);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no acknowledgement within ${this.#o.writeTimeoutMs} ms (connect)`);
      await conn.insert(record.id, left);
      record.ackedAt = Date.now();
      if (this.#stopped) conn.close();
      else this.#idle.push(conn);
    } catch (err) {
      conn?.close();
      const e = toNinesError(err);
      record.error = e.code;
      // One line per kind of error, not per write: the same timeout with another figure is the same error.
      const kind = `${e.code}: ${e.message.replace(/\d+/g, 'N')}`;
      if (!this.#seenErrors.has(kind) && this.#seenErrors.size < 20) {
        this.#seenErrors.add(kind);
        this.#o.onError?.(`${e.code}: ${e.message}`);
      }
    }
  }

  #takeIdle(): AppConnection | undefined {
    for (;;) {
      const c = this.#idle.pop();
      if (c === undefined) return undefined;
      if (c.usable) return c;
      c.close();
    }
  }
}

export interface PollerOptions {
  readonly sql: DrillSql;
  readonly spec: ClusterSpec;
  readonly nodes: readonly NodeSpec[];
  /** Time between polls of a node. */
  readonly intervalMs: number;
  /** A poll without an answer within this bound is recorded as unknown (connect and query each). */
  readonly boundMs: number;
}

interface NodeState {
  readonly node: NodeSpec;
  readonly key: string;
  conn: AdminConnection | undefined;
  /** A poll in flight since this time (at most one per node). */
  busySince: number | undefined;
}

/**
 * Asks every node, directly as the admin user, whether it accepts writes. One poll per node in flight at most:
 * while a poll hangs (a frozen host), each interval that passes beyond the bound records `unknown` instead of
 * opening more connections.
 */
export class WritabilityPollers {
  readonly #o: PollerOptions;
  readonly #states: NodeState[];
  readonly #samples: WritabilitySample[] = [];
  readonly #pending = new Set<Promise<void>>();
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(o: PollerOptions) {
    this.#o = o;
    this.#states = o.nodes.map((node) => ({
      node,
      key: `${node.host}:${node.port}`,
      conn: undefined,
      busySince: undefined,
    }));
  }

  start(): void {
    const tick = (): void => {
      if (this.#stopped) return;
      const now = Date.now();
      for (const s of this.#states) this.#poll(s, now);
      this.#timer = setTimeout(tick, this.#o.intervalMs);
    };
    tick();
  }

  samples(): WritabilitySample[] {
    return [...this.#samples];
  }

  /** The latest sample of each node (host:port), if any. */
  latest(): Map<string, WritabilitySample> {
    const out = new Map<string, WritabilitySample>();
    for (const s of this.#samples) out.set(s.node, s);
    return out;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await Promise.allSettled([...this.#pending]);
    for (const s of this.#states) {
      s.conn?.close();
      s.conn = undefined;
    }
  }

  #poll(s: NodeState, now: number): void {
    if (s.busySince !== undefined) {
      if (now - s.busySince >= this.#o.boundMs)
        this.#samples.push({ time: now, node: s.key, state: 'unknown' });
      return;
    }
    s.busySince = now;
    const p = this.#sample(s).finally(() => {
      s.busySince = undefined;
      this.#pending.delete(p);
    });
    this.#pending.add(p);
  }

  async #sample(s: NodeState): Promise<void> {
    try {
      if (!s.conn?.usable) {
        s.conn?.close();
        s.conn = await this.#o.sql.openAdmin(this.#o.spec, s.node, this.#o.boundMs);
      }
      const writable = await s.conn.writable();
      if (this.#stopped) return;
      this.#samples.push({ time: Date.now(), node: s.key, state: writable ? 'writable' : 'read-only' });
    } catch {
      s.conn?.close();
      s.conn = undefined;
      if (!this.#stopped) this.#samples.push({ time: Date.now(), node: s.key, state: 'unknown' });
    }
  }
}
