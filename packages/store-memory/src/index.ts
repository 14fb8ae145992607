import {
  applyBatch,
  ConfigurationError,
  type Counter,
  type CounterTable,
  type IdentityKey,
  type Store,
  type StoreBatch,
  type StoreCapabilities,
  type StoreResult,
} from '@tollgate/core';

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
  readonly identities: Map<string, Entry>;
  readonly id: string;
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
  /**
   * Namespace (`<prefix>:<scope>`) → encoded identity value → counters. Two levels, so a lookup
   * hashes the short identity value instead of building and hashing a whole key.
   */
  private readonly namespaces = new Map<string, Map<string, Entry>>();
  private tracked = 0;
  private readonly clock: () => number;
  private readonly sweepPerDecision: number;
  private readonly table: CounterTable;
  /** Reading a counter and writing it back look up the same identity: remember the last one. */
  private lastIdentity: IdentityKey | undefined;
  private lastEntry: Entry | undefined;
  /** Identities the current decision started tracking. */
  private created = 0;
  private sweepNamespaces: Iterator<Map<string, Entry>> | undefined;
  private sweepEntries: Iterator<Entry> | undefined;

  constructor(options: MemoryStoreOptions = {}) {
    const { clock = Date.now, sweepPerDecision = 1 } = options;
    if (typeof clock !== 'function') throw new ConfigurationError('[store-memory] clock must be a function returning epoch ms');
    if (!Number.isSafeInteger(sweepPerDecision) || sweepPerDecision < 1) {
      throw new ConfigurationError(`[store-memory] sweepPerDecision must be a whole number of at least 1, got ${sweepPerDecision}`);
    }
    this.clock = clock;
    this.sweepPerDecision = sweepPerDecision;
    this.table = {
      get: (counter) => this.entry(counter.identity)?.fields.get(counter.field),
      set: (counter, state, expiresAt) => this.set(counter, state, expiresAt),
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
    return this.tracked;
  }

  private entry(identity: IdentityKey): Entry | undefined {
    if (identity !== this.lastIdentity) {
      this.lastIdentity = identity;
      this.lastEntry = this.namespaces.get(identity.namespace)?.get(identity.id);
    }
    return this.lastEntry;
  }

  private set({ identity, field }: Counter, state: unknown, expiresAt: number): void {
    let entry = this.entry(identity);
    if (state === undefined) {
      if (!entry) return;
      entry.fields.delete(field);
      if (entry.fields.size === 0) this.forget(entry);
      return;
    }
    if (!entry) {
      let identities = this.namespaces.get(identity.namespace);
      if (!identities) this.namespaces.set(identity.namespace, (identities = new Map()));
      entry = { identities, id: identity.id, fields: new Map(), expiresAt };
      identities.set(identity.id, entry);
      this.lastEntry = entry;
      this.tracked++;
      this.created++;
    }
    entry.fields.set(field, state);
    if (expiresAt > entry.expiresAt) entry.expiresAt = expiresAt;
  }

  private forget(entry: Entry): void {
    entry.identities.delete(entry.id);
    this.tracked--;
    if (entry === this.lastEntry) this.lastIdentity = this.lastEntry = undefined;
  }

  /**
   * Checks a few identities per call, round robin over every namespace, and drops those whose
   * counters have all expired. An entry's `expiresAt` only grows, so it is an upper bound: an entry
   * past it is certainly empty.
   */
  private sweep(now: number, checks: number): void {
    if (this.tracked === 0) return;
    for (let checked = 0; checked < checks; ) {
      if (!this.sweepEntries) {
        this.sweepNamespaces ??= this.namespaces.values();
        const namespace = this.sweepNamespaces.next();
        if (namespace.done) {
          this.sweepNamespaces = undefined;
          return; // one full pass at most per decision
        }
        this.sweepEntries = namespace.value.values();
      }
      const next = this.sweepEntries.next();
      if (next.done) {
        this.sweepEntries = undefined;
        continue;
      }
      checked++;
      if (next.value.expiresAt <= now) this.forget(next.value);
    }
  }
}
