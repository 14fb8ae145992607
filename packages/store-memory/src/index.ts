/**
 * The in-process store, and the reference semantics every other store is tested against.
 *
 * @module @tollgate/store-memory
 */
import {
  ALL_ALGORITHMS,
  applyBatch,
  ConfigurationError,
  errorPrefix,
  type Counter,
  type CounterTable,
  type IdentityKey,
  type Store,
  type StoreBatch,
  type StoreCapabilities,
  type StoreResult,
} from '@tollgate/core';

const PREFIX = errorPrefix('store-memory');

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

/** One identity's counters. When they expire is kept apart, in the store's `expiries`. */
interface Entry {
  readonly identities: Map<string, Entry>;
  readonly id: string;
  /**
   * `[field, state, field, state, …]`: an identity has a handful of counters, and a short array
   * searched by field is cheaper to reach and to scan than a Map of its own. A counter that empties
   * (a lease refunding its whole reservation) keeps its field with an `undefined` state, so the
   * next charge refills the slot instead of growing the array again.
   */
  readonly fields: unknown[];
  /** Where the entry sits in the store's list of entries (and its expiry in `expiries`). */
  slot: number;
}

/**
 * The in-process store, and the reference semantics every other store is tested against. A decision
 * is one synchronous block, so it is atomic within the process; limits are per process.
 *
 * @example
 * const limiter = createLimiter({ store: new MemoryStore(), limits: [...] });
 */
export class MemoryStore implements Store {
  readonly capabilities: StoreCapabilities = { algorithms: ALL_ALGORITHMS };
  /**
   * Namespace (`<prefix>:<scope>`) → encoded identity value → counters. Two levels, so a lookup
   * hashes the short identity value instead of building and hashing a whole key.
   */
  private readonly namespaces = new Map<string, Map<string, Entry>>();
  /** Every entry, in no particular order; the sweep walks it with a cursor. */
  private readonly entries: Entry[] = [];
  /**
   * When each entry's last counter expires, by slot: an upper bound, since it only grows. Kept out
   * of the entries so that the sweep reads consecutive memory instead of one cold entry per check.
   */
  private expiries = new Float64Array(1024);
  private cursor = 0;
  private readonly clock: () => number;
  private readonly sweepPerDecision: number;
  private readonly table: CounterTable;
  /** Reading a counter and writing it back look up the same identity: remember the last one. */
  private lastIdentity: IdentityKey | undefined;
  private lastEntry: Entry | undefined;
  /** Identities the current decision started tracking. */
  private created = 0;

  constructor(options: MemoryStoreOptions = {}) {
    const { clock = Date.now, sweepPerDecision = 1 } = options;
    if (typeof clock !== 'function') throw new ConfigurationError(`${PREFIX} clock must be a function returning epoch ms`);
    if (!Number.isSafeInteger(sweepPerDecision) || sweepPerDecision < 1) {
      throw new ConfigurationError(`${PREFIX} sweepPerDecision must be a whole number of at least 1, got ${sweepPerDecision}`);
    }
    this.clock = clock;
    this.sweepPerDecision = sweepPerDecision;
    this.table = {
      get: (counter) => {
        const entry = this.entry(counter.identity);
        if (!entry) return undefined;
        const at = fieldIndex(entry.fields, counter.field);
        return at < 0 ? undefined : entry.fields[at + 1];
      },
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
    return this.entries.length;
  }

  private entry(identity: IdentityKey): Entry | undefined {
    if (identity !== this.lastIdentity) {
      this.lastIdentity = identity;
      this.lastEntry = this.namespaces.get(identity.namespace)?.get(identity.id);
    }
    return this.lastEntry;
  }

  private set({ identity, field }: Counter, state: unknown, expiresAt: number): void {
    const entry = this.entry(identity);
    if (!entry) {
      if (state !== undefined) this.track(identity, field, state, expiresAt);
      return;
    }
    const { fields } = entry;
    const at = fieldIndex(fields, field);
    if (state === undefined) {
      if (at < 0) return;
      fields[at + 1] = undefined;
      if (allEmpty(fields)) this.forget(entry);
      return;
    }
    if (at < 0) fields.push(field, state);
    else fields[at + 1] = state;
    if (expiresAt > this.expiries[entry.slot]!) this.expiries[entry.slot] = expiresAt;
  }

  private track(identity: IdentityKey, field: string, state: unknown, expiresAt: number): void {
    let identities = this.namespaces.get(identity.namespace);
    if (!identities) this.namespaces.set(identity.namespace, (identities = new Map()));
    const slot = this.entries.length;
    const entry: Entry = { identities, id: identity.id, fields: [field, state], slot };
    identities.set(identity.id, entry);
    this.entries.push(entry);
    if (slot === this.expiries.length) {
      const grown = new Float64Array(slot * 2);
      grown.set(this.expiries);
      this.expiries = grown;
    }
    this.expiries[slot] = expiresAt;
    this.lastEntry = entry;
    this.created++;
  }

  private forget(entry: Entry): void {
    entry.identities.delete(entry.id);
    // The last entry moves into the freed slot, so removal is O(1).
    const last = this.entries.pop()!;
    if (last !== entry) {
      this.entries[entry.slot] = last;
      this.expiries[entry.slot] = this.expiries[last.slot]!;
      last.slot = entry.slot;
    }
    if (entry === this.lastEntry) this.lastIdentity = this.lastEntry = undefined;
  }

  /**
   * Checks a few identities per call, round robin, and drops those whose counters have all expired.
   * An entry's expiry only grows, so it is an upper bound: an entry past it is certainly empty.
   */
  private sweep(now: number, checks: number): void {
    const { entries, expiries } = this;
    // One full pass at most per decision.
    for (let left = Math.min(checks, entries.length); left > 0; left--) {
      if (this.cursor >= entries.length) this.cursor = 0;
      // Forgetting moves another entry into this slot: it is checked next.
      if (expiries[this.cursor]! <= now) this.forget(entries[this.cursor]!);
      else this.cursor++;
    }
  }
}

/** Where `field` sits in an entry's `[field, state, …]` list, or -1. */
function fieldIndex(fields: readonly unknown[], field: string): number {
  for (let i = 0; i < fields.length; i += 2) if (fields[i] === field) return i;
  return -1;
}

/** Whether every counter of an entry has emptied. */
function allEmpty(fields: readonly unknown[]): boolean {
  for (let i = 1; i < fields.length; i += 2) if (fields[i] !== undefined) return false;
  return true;
}
