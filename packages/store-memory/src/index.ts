import { applyBatch, ConfigurationError, type CounterTable, type Store, type StoreBatch, type StoreCapabilities, type StoreResult } from '@tollgate/core';

/** Options of `MemoryStore`. */
export interface MemoryStoreOptions {
  /**
   * The time source (epoch ms). Inject one in tests to control windows.
   * @default Date.now
   */
  clock?: () => number;
  /**
   * How many tracked identities each decision checks for expiry, on top of two checks for every
   * identity the decision starts tracking. Sweeping is incremental (no timers), and because new
   * identities pay for twice their number of checks, even a flood of new callers is swept faster
   * than it arrives: expired state stays within about the size of the live state.
   * @default 1
   */
  sweepPerDecision?: number;
}

/** One identity's counters, and when the last of them expires. */
interface Entry {
  readonly key: string;
  readonly fields: Map<string, unknown>;
  expiresAt: number;
}

/**
 * The in-process store, and the reference semantics every other store is tested against. A decision
 * is one synchronous block, so it is atomic within the process; limits are per process.
 *
 * @example
 * const limiter = createLimiter({ store: new MemoryStore(), limits: [...] });
 */
export class MemoryStore implements Store {
  readonly capabilities: StoreCapabilities = { algorithms: ['log', 'window', 'bucket', 'calendar', 'slots'] };
  private readonly entries = new Map<string, Entry>();
  private readonly clock: () => number;
  private readonly sweepPerDecision: number;
  private sweepCursor: Iterator<Entry> | undefined;
  private lastKey: string | undefined;
  private lastEntry: Entry | undefined;
  /** Identities the current decision started tracking. */
  private created = 0;
  private readonly table: CounterTable;

  constructor(options: MemoryStoreOptions = {}) {
    const { clock = Date.now, sweepPerDecision = 1 } = options;
    if (typeof clock !== 'function') throw new ConfigurationError('[store-memory] clock must be a function returning epoch ms');
    if (!Number.isSafeInteger(sweepPerDecision) || sweepPerDecision < 1) {
      throw new ConfigurationError(`[store-memory] sweepPerDecision must be a whole number of at least 1, got ${sweepPerDecision}`);
    }
    this.clock = clock;
    this.sweepPerDecision = sweepPerDecision;
    this.table = {
      get: (key, field) => this.entry(key)?.fields.get(field),
      set: (key, field, state, expiresAt) => this.set(key, field, state, expiresAt),
    };
  }

  /** Atomic: one synchronous block evaluates and applies the whole batch. */
  apply(batch: StoreBatch): StoreResult {
    const now = this.clock();
    const result = applyBatch(this.table, batch, now);
    this.sweep(now, this.sweepPerDecision + 2 * this.created);
    this.created = 0;
    return result;
  }

  /** Identities with live counters (for tests and metrics). */
  get size(): number {
    return this.entries.size;
  }

  /** Reading a counter and writing it back look up the same key: remember the last one. */
  private entry(key: string): Entry | undefined {
    if (key !== this.lastKey) {
      this.lastKey = key;
      this.lastEntry = this.entries.get(key);
    }
    return this.lastEntry;
  }

  private set(key: string, field: string, state: unknown, expiresAt: number): void {
    let entry = this.entry(key);
    if (state === undefined) {
      if (!entry) return;
      entry.fields.delete(field);
      if (entry.fields.size === 0) this.forget(key);
      return;
    }
    if (!entry) {
      entry = { key, fields: new Map(), expiresAt };
      this.entries.set(key, entry);
      this.lastEntry = entry;
      this.created++;
    }
    entry.fields.set(field, state);
    if (expiresAt > entry.expiresAt) entry.expiresAt = expiresAt;
  }

  private forget(key: string): void {
    this.entries.delete(key);
    if (key === this.lastKey) this.lastKey = this.lastEntry = undefined;
  }

  /**
   * Checks a few identities per call, round robin, and drops those whose counters have all expired.
   * An entry's `expiresAt` only grows, so it is an upper bound: an entry past it is certainly empty.
   */
  private sweep(now: number, checks: number): void {
    for (let checked = 0; checked < checks; checked++) {
      this.sweepCursor ??= this.entries.values();
      const next = this.sweepCursor.next();
      if (next.done) {
        this.sweepCursor = undefined;
        if (this.entries.size === 0) return;
        continue;
      }
      if (next.value.expiresAt <= now) this.forget(next.value.key);
    }
  }
}
