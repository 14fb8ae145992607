import type { CounterAlgorithm, CounterReading } from '@tollgate/core';
import type { BlockRows } from './blocks.js';

export type LogAlgorithm = Extract<CounterAlgorithm, { type: 'log' }>;

/** Entries in a block row when a log spills into one. */
const BLOCK_ENTRIES = 32;

/** Numbers in a full block: entries are flat `[key, amount, …]` pairs. */
const BLOCK_LENGTH = 2 * BLOCK_ENTRIES;

/**
 * What an exact log keeps in its identity's row, flat `[key, amount, …]` in ascending keys: the
 * sum of all its entries, its oldest entries (`f`, older than every block row's) and its newest
 * (`t`, newer than every block row's; empty only when the log is). The entries in between live in
 * block rows (see `BlockRows`), so the row stays the same size however long the log grows.
 *
 * Keys are stored less `o`, the head's oldest key: epoch milliseconds do not fit V8's small
 * integers, and reading and writing them as doubles was most of the cost of a decision's JSON.
 * A head written before `o` existed (schema 3) holds whole keys.
 */
export interface LogHead {
  n: number;
  o?: number;
  f: number[];
  t: number[];
}

/**
 * A stored log state as a head with whole keys, in new arrays the log may change: the current
 * shape, the shape of schema 3 (whole keys, no `o`), and the shape written before block rows
 * existed (one series `[key, amount, …, sum]`, whose long form marks expired entries with a
 * negative amount) with all its entries in the tail, for the next write to spill.
 */
export function headOf(state: unknown): LogHead {
  if (!Array.isArray(state)) {
    const { n, o = 0, f, t } = state as LogHead;
    return { n, f: shifted(f, o), t: shifted(t, o) };
  }
  const series = state as number[];
  const tail: number[] = [];
  for (let i = 0; i < series.length - 1; i += 2) {
    if (series[i + 1]! >= 0) tail.push(series[i]!, series[i + 1]!);
  }
  return { n: series[series.length - 1]!, f: [], t: tail };
}

/** A copy of flat `[key, amount, …]` entries with `by` added to every key. */
function shifted(entries: readonly number[], by: number): number[] {
  const copy = entries.slice();
  for (let i = 0; i < copy.length; i += 2) copy[i]! += by;
  return copy;
}

/** Where an entry is or belongs: the head's front or tail, or the block row starting at `start`. */
interface Segment {
  readonly entries: number[];
  readonly start?: number;
}

/**
 * One exact log during a decision: the semantics of core's sliding log (a charge at `t` counts
 * while `now < t + windowMs`; charges in one millisecond merge; a refund names its charge's time)
 * over the head and block rows, touching a bounded number of rows whatever the log's length.
 *
 * Amounts are integers, so a sum of whole rows equals the sum of their entries taken one by one,
 * and dropping or skipping a row by its total decides as the entry-by-entry reference does.
 *
 * Pruning only reads: rows it drops or moves into the front are deleted when the decision writes
 * (`beginWriting`), so a refused decision leaves the database as it was.
 */
export class LogCounter {
  /** Whether the decision changed the log, so that the store writes it back. */
  changed = false;
  private sum: number;
  private front: number[];
  private tail: number[];
  /** Rows the log has, not counting those pruning has taken. */
  private blocks: number;
  /** Pruning has taken the rows with a start up to this (`Infinity`: all of them). */
  private taken = -Infinity;

  constructor(
    private readonly rows: BlockRows,
    private readonly key: string,
    private readonly field: string,
    head: LogHead | undefined,
    blocks: number,
  ) {
    // `headOf` made the arrays: the stored head stays as it was unless this log is written back.
    this.sum = head?.n ?? 0;
    this.front = head ? head.f : [];
    this.tail = head ? head.t : [];
    this.blocks = blocks;
  }

  /** Block rows the log has once settled. */
  get blockCount(): number {
    return this.blocks;
  }

  /** The newest entry's key (call on a settled, non-empty log). */
  get lastKey(): number {
    return this.tail[this.tail.length - 2]!;
  }

  /** Drops the entries that no longer count at `now`. */
  prune({ windowMs }: LogAlgorithm, now: number): void {
    const bound = now - windowMs + 1;
    if (this.tail.length === 0) return;
    if (this.lastKey < bound) {
      this.clear();
      return;
    }
    this.sum -= dropBelow(this.front, bound);
    if (this.front.length === 0 && this.blocks > 0) this.advanceFront(bound);
    if (this.front.length === 0 && this.blocks === 0) this.sum -= dropBelow(this.tail, bound);
  }

  /** The counter as a charge needing `need` units finds it (as core's log model reads it). */
  reading({ limit, windowMs }: LogAlgorithm, need: number, now: number): CounterReading {
    if (this.isEmpty()) return { used: 0, resetAt: now, retryAt: need > limit ? Infinity : now };
    const excess = this.sum + need - limit;
    let retryAt = now;
    if (need > limit) retryAt = Infinity;
    else if (excess > 0) retryAt = this.keyFreeing(excess)! + windowMs;
    return { used: this.sum, resetAt: this.lastKey + windowMs, retryAt };
  }

  /** Charges `amount` at `now`. */
  add(amount: number, now: number): void {
    this.beginWriting();
    if (this.isEmpty()) {
      this.tail = [now, amount];
      this.sum = amount;
      return;
    }
    this.sum += amount;
    const segment = this.segmentOf(now);
    insertEntry(segment.entries, now, amount);
    this.saveSegment(segment);
  }

  /** Gives back up to `amount` of the charge made at `at`, if it still counts. */
  refund(amount: number, at: number): void {
    this.beginWriting();
    if (this.isEmpty()) return;
    const segment = this.segmentOf(at);
    const { entries } = segment;
    const index = indexOfKey(entries, at);
    if (index < 0) return;
    const taken = Math.min(amount, entries[index + 1]!);
    entries[index + 1]! -= taken;
    this.sum -= taken;
    if (entries[index + 1] === 0) entries.splice(index, 2);
    this.saveSegment(segment);
  }

  /** Forgets every entry (admin reset). */
  reset(): void {
    this.beginWriting();
    this.clear();
  }

  /**
   * Brings the log to its stored shape (the newest entries in the tail, overflow in block rows)
   * and returns its head, keys less its oldest; undefined once it is empty.
   */
  settle(): LogHead | undefined {
    this.beginWriting();
    if (this.isEmpty()) return undefined;
    if (this.tail.length === 0) this.refillTail();
    this.spillTail();
    this.spillFront();
    const oldest = this.front.length > 0 ? this.front[0]! : this.tail[0]!;
    return { n: this.sum, o: oldest, f: shifted(this.front, -oldest), t: shifted(this.tail, -oldest) };
  }

  private isEmpty(): boolean {
    return this.tail.length === 0 && this.front.length === 0 && this.blocks === 0;
  }

  private clear(): void {
    if (this.blocks > 0) this.taken = Infinity;
    this.sum = 0;
    this.front = [];
    this.tail = [];
    this.blocks = 0;
  }

  /** Marks the log changed and deletes the rows pruning took, before anything else is written. */
  private beginWriting(): void {
    this.changed = true;
    if (this.taken === -Infinity) return;
    this.rows.removeThrough(this.key, this.field, this.taken);
    this.taken = -Infinity;
  }

  /** Once the front is used up: drops the rows that expired whole, and makes the next one the front. */
  private advanceFront(bound: number): void {
    const expired = this.rows.expired(this.key, this.field, this.taken, bound);
    if (expired.count > 0) {
      this.sum -= expired.total;
      this.blocks -= expired.count;
      this.taken = expired.through;
    }
    if (this.blocks === 0) return;
    const next = this.rows.first(this.key, this.field, this.taken)!;
    this.taken = next.start;
    this.blocks--;
    this.front = next.entries;
    this.sum -= dropBelow(this.front, bound);
  }

  /**
   * The key at which the oldest entries, dropped in order, free at least `excess`; undefined if
   * they cannot. Whole rows are skipped by their totals, so only the row where it lands is read.
   */
  private keyFreeing(excess: number): number | undefined {
    const inFront = keyFreeingIn(this.front, excess);
    if (inFront.key !== undefined) return inFront.key;
    let left = inFront.left;
    if (this.blocks > 0) {
      let landing: number | undefined;
      for (const { start, total } of this.rows.totals(this.key, this.field, this.taken)) {
        if (left - total <= 0) {
          landing = start;
          break;
        }
        left -= total;
      }
      if (landing !== undefined) return keyFreeingIn(this.rows.entries(this.key, this.field, landing), left).key;
    }
    return keyFreeingIn(this.tail, left).key;
  }

  /** The head's tail or front, or the block row, that holds `key` or would. */
  private segmentOf(key: number): Segment {
    const inTail = this.tail.length > 0 ? key >= this.tail[0]! : this.front.length === 0 && this.blocks === 0;
    if (inTail) return { entries: this.tail };
    const row = this.blocks > 0 ? this.rows.containing(this.key, this.field, key) : undefined;
    return row ?? { entries: this.front };
  }

  /** Writes back a changed block row, splitting one grown past two blocks, deleting one emptied. */
  private saveSegment({ entries, start }: Segment): void {
    if (start === undefined) return;
    if (entries.length === 0) {
      this.rows.remove(this.key, this.field, start);
      this.blocks--;
      return;
    }
    const [first, ...rest] = chunks(entries, entries.length > 2 * BLOCK_LENGTH ? BLOCK_LENGTH : entries.length);
    this.rows.write(this.key, this.field, start, first!);
    this.writeBlocks(rest);
  }

  /** Inserts rows, each starting at its first key. */
  private writeBlocks(blocks: number[][]): void {
    for (const entries of blocks) this.rows.write(this.key, this.field, entries[0]!, entries);
    this.blocks += blocks.length;
  }

  /** The newest entries become the tail again: from the newest row, or from the front. */
  private refillTail(): void {
    const newest = this.blocks > 0 ? this.rows.last(this.key, this.field) : undefined;
    if (newest) {
      this.rows.remove(this.key, this.field, newest.start);
      this.blocks--;
      this.tail = newest.entries;
    } else {
      this.tail = this.front;
      this.front = [];
    }
  }

  /** Moves all but the newest block of the tail out: into the front if the log has none, else into rows. */
  private spillTail(): void {
    if (this.tail.length <= BLOCK_LENGTH) return;
    // Whole blocks, leaving at least the newest entry.
    const moved = Math.floor((this.tail.length - 2) / BLOCK_LENGTH) * BLOCK_LENGTH;
    const spilled = chunks(this.tail.splice(0, moved), BLOCK_LENGTH);
    if (this.front.length === 0 && this.blocks === 0) this.front = spilled.shift()!;
    this.writeBlocks(spilled);
  }

  /** Keeps one block in a front grown past two (by a clock that stepped back), the rest in rows. */
  private spillFront(): void {
    if (this.front.length <= 2 * BLOCK_LENGTH) return;
    this.writeBlocks(chunks(this.front.splice(BLOCK_LENGTH), BLOCK_LENGTH));
  }
}

/** Removes the leading entries with keys below `bound`; returns their sum. */
function dropBelow(entries: number[], bound: number): number {
  let end = 0;
  let dropped = 0;
  while (end < entries.length && entries[end]! < bound) {
    dropped += entries[end + 1]!;
    end += 2;
  }
  if (end > 0) entries.splice(0, end);
  return dropped;
}

/** Walks `entries` oldest first, taking each amount from `excess`: the key where it is freed, or what is left of it. */
function keyFreeingIn(entries: number[], excess: number): { key?: number; left: number } {
  let left = excess;
  for (let i = 0; i < entries.length; i += 2) {
    left -= entries[i + 1]!;
    if (left <= 0) return { key: entries[i]!, left };
  }
  return { left };
}

/** Adds `amount` at `key`, merging with an equal key and keeping keys ascending. */
function insertEntry(entries: number[], key: number, amount: number): void {
  let index = entries.length;
  while (index > 0 && entries[index - 2]! > key) index -= 2;
  if (index > 0 && entries[index - 2] === key) entries[index - 1]! += amount;
  else entries.splice(index, 0, key, amount);
}

/** The index of the entry with `key`, or -1. */
function indexOfKey(entries: number[], key: number): number {
  for (let i = 0; i < entries.length; i += 2) {
    if (entries[i] === key) return i;
    if (entries[i]! > key) break;
  }
  return -1;
}

/** `entries` cut into runs of `length` numbers (the last may be shorter). */
function chunks(entries: number[], length: number): number[][] {
  const runs: number[][] = [];
  for (let i = 0; i < entries.length; i += length) runs.push(entries.slice(i, i + length));
  return runs;
}
