// How far behind a PostgreSQL standby is, from what the standby itself reports in one query. Pure: the clock and
// the previous result are parameters.
//
// Lag is zero when the standby has replayed everything it received: no WAL gap, however long ago the last
// transaction was (an idle primary is not lag). Only while there is a gap (replayed < received) does time count,
// and then it is the shorter of
//   - the age of the last replayed transaction (now - pg_last_xact_replay_timestamp()): right under load, and
//   - how long the gap has lasted (since the first observation that saw it): right when the primary was idle
//     before the gap opened, where the age alone would count the idle time.
// On the first observation (controller start) with a gap, the gap's start is not known: lag is unknown (null) for
// that one reading, and the gap is dated back to the last replayed transaction, so a standby that is really
// behind reports its full age from the next reading on (never fresh), and a record in flight reports 0. Without a streaming WAL receiver the upstream's position
// is unknown: lag is unknown (null) unless the standby already holds WAL it has not replayed (like MariaDB's NULL
// Seconds_Behind_Master when the IO thread stops; replication-broken reports the receiver).
// Not used: pg_stat_wal_receiver.latest_end_lsn (the sender's WAL end). Measured on an idle lab primary, it stayed
// at the end of the WAL page (0/3006000) past the last complete record (0/30041B0) the standby had replayed: a
// gap that never closes, which would count idle time again. Received-but-not-replayed WAL is a gap that replay
// closes. (After a standby restart the received position restarts at the segment start, below the replayed one.)

/** 'X/Y' (pg_lsn as text) -> byte position; null when absent or malformed. */
export function parseLsn(lsn: string | null | undefined): bigint | null {
  const m = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(lsn ?? '');
  if (!m) return null;
  return (BigInt(`0x${m[1]}`) << 32n) + BigInt(`0x${m[2]}`);
}

export interface StandbyLagInput {
  /** When the standby answered (ms). */
  readonly time: number;
  /** pg_stat_wal_receiver.status; null = no WAL receiver. */
  readonly receiverStatus: string | null;
  /** pg_last_wal_receive_lsn() */
  readonly receivedLsn: string | null;
  /** pg_last_wal_replay_lsn() */
  readonly replayedLsn: string | null;
  /** now() - pg_last_xact_replay_timestamp() in seconds; null when no transaction was replayed since start. */
  readonly replayAgeSeconds: number | null;
}

/** What the next computation needs from this one. */
export interface StandbyLagState {
  /** When the current gap started (ms); null when there is no gap. */
  readonly behindSince: number | null;
}

export interface StandbyLag {
  /** WAL received and not replayed: received - replayed, bytes (0 when received is below); null when unknown. */
  readonly lagBytes: number | null;
  /** Seconds behind (see the file comment); 0 with no gap; null when unknown. */
  readonly lagSeconds: number | null;
  readonly state: StandbyLagState;
  /** Why, in one phrase. */
  readonly reason: string;
}

const round3 = (n: number): number => Math.round(n * 1000) / 1000;

export function standbyLag(input: StandbyLagInput, previous?: StandbyLagState): StandbyLag {
  const none: StandbyLagState = { behindSince: null };
  const replayed = parseLsn(input.replayedLsn);
  if (replayed === null) {
    return { lagBytes: null, lagSeconds: null, state: none, reason: 'nothing replayed yet' };
  }
  const streaming = input.receiverStatus === 'streaming';
  const target = parseLsn(input.receivedLsn);
  if (target === null) {
    return { lagBytes: null, lagSeconds: null, state: none, reason: 'nothing received: lag unknown' };
  }
  const gap = target > replayed ? target - replayed : 0n;
  const lagBytes = Number(gap);
  if (gap === 0n) {
    return streaming
      ? { lagBytes, lagSeconds: 0, state: none, reason: 'replayed everything received' }
      : { lagBytes, lagSeconds: null, state: none, reason: 'WAL receiver not streaming: lag unknown' };
  }
  const age = input.replayAgeSeconds === null ? null : Math.max(0, input.replayAgeSeconds);
  if (previous === undefined) {
    // First observation (controller start): a record in flight and a standby an hour behind look the same now.
    // Unknown for this one reading; the gap is dated back to the last replayed transaction, so if it lasts, the
    // next reading reports the full age, and if it closes, 0.
    const since = age === null ? input.time : input.time - age * 1000;
    return {
      lagBytes,
      lagSeconds: null,
      state: { behindSince: since },
      reason: `${lagBytes} bytes not replayed: lag unknown on the first reading`,
    };
  }
  const since = previous.behindSince ?? input.time;
  const elapsed = Math.max(0, (input.time - since) / 1000);
  const lagSeconds = round3(age === null ? elapsed : Math.min(age, elapsed));
  return {
    lagBytes,
    lagSeconds,
    state: { behindSince: since },
    reason: `${lagBytes} bytes not replayed for ${lagSeconds} s`,
  };
}
