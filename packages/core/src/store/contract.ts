/**
 * The contract between the limiter and a store. The limiter compiles a call into one `StoreBatch`
 * and a store applies it atomically in one round trip; the store never needs to know about
 * identities, tiers, prices or leases, only about counters.
 */

/** How one counter counts. All numbers are integers: requests, tokens or nano-dollars, and ms. */
export type CounterAlgorithm =
  /** Exact sliding window: every charge is kept (merged per ms) until `windowMs` after it. */
  | { readonly type: 'log'; readonly limit: number; readonly windowMs: number }
  /**
   * Sliding window over fixed segments of `segmentMs`: counts every segment that overlaps the
   * window, so it never admits more than `limit` in any `windowMs` (it may refuse for up to one
   * segment longer than the exact log would). State is one number per segment.
   */
  | { readonly type: 'window'; readonly limit: number; readonly windowMs: number; readonly segmentMs: number }
  /**
   * Token bucket (as GCRA): holds `burst`, refills `limit` per `windowMs`. State is one timestamp,
   * the theoretical arrival time.
   */
  | { readonly type: 'bucket'; readonly limit: number; readonly windowMs: number; readonly burst: number }
  /**
   * Calendar periods (a day in a time zone): `periods` are consecutive period starts around the
   * limiter's clock (period i is `[periods[i], periods[i+1])`); the store picks the one holding its
   * own time, so skewed app clocks still agree on the period.
   */
  | { readonly type: 'calendar'; readonly limit: number; readonly periods: readonly number[] }
  /** Leases in flight: each holds a slot until released or until `ttlMs` after its last touch. */
  | { readonly type: 'slots'; readonly limit: number; readonly ttlMs: number };

export type AlgorithmType = CounterAlgorithm['type'];

/** Where one identity's counters live; every counter of the identity shares it. */
export interface IdentityKey {
  /**
   * `<prefix>:{<scope>:<encoded value>}`, one Redis Cluster hash tag per identity. Safe to use
   * verbatim: no whitespace, exactly one `{…}` pair.
   */
  readonly key: string;
  /** `<prefix>:<scope>`: with `id`, the same identity for stores that index in two levels. */
  readonly namespace: string;
  /** The encoded identity value (`global` for the global scope); never contains `:`, `{` or `}`. */
  readonly id: string;
}

/** One counter of one identity. */
export interface Counter {
  readonly identity: IdentityKey;
  /** Which counter of that identity (limit name and algorithm fingerprint). */
  readonly field: string;
  readonly algorithm: CounterAlgorithm;
}

/** A checked charge: part of the batch's all-or-nothing decision. */
export interface Charge {
  readonly counter: Counter;
  /**
   * Units to charge (0 reads the counter). A charge needs room for at least one unit, so an exhausted
   * budget refuses even a zero-amount demand. Slot charges are always 1 and carry `leaseId`.
   */
  readonly amount: number;
  readonly leaseId?: string;
}

/** An unconditional change, applied only when every charge of the batch passes. */
export type Adjustment =
  /** Charge usage that already happened (a lease's overrun): may push a counter past its limit. */
  | { readonly type: 'add'; readonly counter: Counter; readonly amount: number }
  /** Give back up to `amount` of a charge made at store time `at`, if it still counts. */
  | { readonly type: 'refund'; readonly counter: Counter; readonly amount: number; readonly at: number }
  /** Free a lease's slot. */
  | { readonly type: 'release'; readonly counter: Counter; readonly leaseId: string }
  /** Extend a live lease's slot to `ttlMs` from now. */
  | { readonly type: 'touch'; readonly counter: Counter; readonly leaseId: string }
  /** Forget the counter (admin reset). */
  | { readonly type: 'reset'; readonly counter: Counter };

export interface StoreBatch {
  /** Checked charges: if any refuses, nothing in the batch is written. */
  readonly charges: readonly Charge[];
  /** Evaluate the charges and write nothing. */
  readonly dryRun: boolean;
  readonly adjustments: readonly Adjustment[];
}

/** What the store saw on one charged counter. */
export interface CounterReading {
  /** Units in use before this batch. */
  readonly used: number;
  /** Store time at which everything in use now will have expired. */
  readonly resetAt: number;
  /**
   * Store time at which this counter alone would admit the charge, absent other traffic: `now` when
   * it admits, `Infinity` when the amount exceeds what the counter can ever hold.
   */
  readonly retryAt: number;
}

export interface StoreResult {
  /** The store's time for this batch (Redis `TIME`, or the injected clock). */
  readonly now: number;
  readonly allowed: boolean;
  /** One reading per charge, in order. */
  readonly readings: readonly CounterReading[];
  /**
   * A refusal replayed from the store's in-process deny cache (see `DenyCache`): no round trip was
   * made, and the readings are those of the refusal it remembers.
   */
  readonly cached?: boolean;
}

/**
 * Every counter algorithm the reference engine implements: what a store that runs it (or a port of
 * it, as the Redis engine is) declares in its capabilities.
 */
export const ALL_ALGORITHMS: readonly AlgorithmType[] = ['log', 'window', 'bucket', 'calendar', 'slots'];

/** What a store can enforce, so the limiter can refuse a policy the store would mis-enforce. */
export interface StoreCapabilities {
  /** Counter algorithms the store implements. */
  readonly algorithms: readonly AlgorithmType[];
}

/** A place where counters live. Implement this to add a store; run `@tollgate/store-test-suite` on it. */
export interface Store {
  readonly capabilities: StoreCapabilities;
  /**
   * Atomic: evaluates every charge against the state as it stands, and either applies all charges
   * and adjustments or (when any charge refuses, or on `dryRun`) writes nothing. One round trip.
   */
  apply(batch: StoreBatch): StoreResult | Promise<StoreResult>;
}
