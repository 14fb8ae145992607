import type { Counter, CounterTable } from '@tollgate/core';
import type Database from 'better-sqlite3';
import type { BlockRows } from './blocks.js';
import { headOf, LogCounter, type LogAlgorithm } from './log.js';

/** One counter in an identity's row: its state, when it may be dropped, and a log's block rows. */
interface Stored {
  s: unknown;
  e: number;
  b?: number;
}

/** An identity's row as a decision holds it: its counters, and the logs it has loaded. */
interface Row {
  readonly counters: Record<string, Stored>;
  dirty: boolean;
  readonly logs: Map<string, { log: LogCounter; algorithm: LogAlgorithm }>;
}

/**
 * Which `IdentityRows` ran the latest transaction on each connection: `data_version` does not
 * change for a connection's own commits, so two stores sharing one connection must see each
 * other's.
 */
const lastOnConnection = new WeakMap<Database.Database, IdentityRows>();

/**
 * The identities' rows within one transaction: each read once, and written back once if changed.
 * A row holds all of an identity's counters as JSON (field → `{ s: state, e: expiry }`); an exact
 * log keeps its head there and its older entries in block rows.
 *
 * Rows stay parsed between transactions (the most recently used `keptRows`) for as long as no
 * other connection has written the file (SQLite's `data_version`): reading and parsing them again
 * was a fifth of a decision's CPU. What a transaction leaves in a kept row is what it wrote, or
 * what it read with expired entries dropped (a refusal and a dry run only prune), which decides
 * alike. A transaction that fails, or that runs inside one of the app's (which may roll back),
 * forgets them all.
 */
export class IdentityRows {
  /** The counters of every algorithm but the exact log, as core's engine reads and writes them. */
  readonly table: CounterTable;
  /** The rows this transaction has read. */
  private readonly rows = new Map<string, Row>();
  /** Rows parsed by earlier transactions, least recently used first. */
  private readonly kept = new Map<string, Row>();
  /** `data_version` when `kept` was last known to match the file. */
  private version: unknown = undefined;
  private keeping = false;
  private readonly versionStatement: Database.Statement<[], number>;
  private readonly selectStatement: Database.Statement<[string], string>;
  private readonly upsertStatement: Database.Statement<[string, string, number]>;
  private readonly removeStatement: Database.Statement<[string]>;
  private readonly pruneStatement: Database.Statement<[number, number]>;

  constructor(
    private readonly database: Database.Database,
    private readonly prefix: string,
    private readonly blocks: BlockRows,
    private readonly keptRows: number,
  ) {
    // Changes when another connection commits to the file, never for this one's own commits.
    this.versionStatement = database.prepare<[], number>('PRAGMA data_version').pluck();
    this.selectStatement = database.prepare<[string], string>('SELECT counters FROM tollgate_identities WHERE key = ?').pluck();
    this.upsertStatement = database.prepare(
      'INSERT INTO tollgate_identities (key, counters, expires_at) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET counters = excluded.counters, expires_at = excluded.expires_at',
    );
    this.removeStatement = database.prepare('DELETE FROM tollgate_identities WHERE key = ?');
    // Deleting an identity deletes its logs' block rows too (a trigger, see schema.ts).
    this.pruneStatement = database.prepare(
      'DELETE FROM tollgate_identities WHERE key IN (SELECT key FROM tollgate_identities WHERE expires_at <= ? LIMIT ?)',
    );
    this.table = {
      get: (counter) => {
        const state = this.row(counter).counters[counter.field]?.s;
        return counter.algorithm.type === 'slots' ? slotsOf(state) : state;
      },
      set: (counter, state, expiresAt) => {
        const row = this.row(counter);
        row.dirty = true;
        if (state === undefined) delete row.counters[counter.field];
        else row.counters[counter.field] = { s: counter.algorithm.type === 'slots' ? storedSlots(state as SlotsState) : state, e: expiresAt };
      },
    };
  }

  /**
   * Starts a transaction's reads (call inside it): keeps the rows parsed earlier if no other
   * connection has written since and `keep` allows (false inside a transaction of the app's).
   */
  begin(keep: boolean): void {
    this.rows.clear();
    const version = this.versionStatement.get();
    if (!keep || version !== this.version || lastOnConnection.get(this.database) !== this) this.kept.clear();
    lastOnConnection.set(this.database, this);
    this.version = version;
    this.keeping = keep && this.keptRows > 0;
  }

  /** Forgets every row kept between transactions (after a failed one, say). */
  forget(): void {
    this.kept.clear();
    this.version = undefined;
  }

  /** An exact log with what has expired by `now` dropped, loaded once per transaction. */
  log(counter: Counter, now: number): LogCounter {
    const row = this.row(counter);
    const loaded = row.logs.get(counter.field);
    if (loaded) return loaded.log;
    const algorithm = counter.algorithm as LogAlgorithm;
    const stored = row.counters[counter.field];
    const log = new LogCounter(this.blocks, this.keyOf(counter), counter.field, stored && headOf(stored.s), stored?.b ?? 0);
    log.prune(algorithm, now);
    row.logs.set(counter.field, { log, algorithm });
    return log;
  }

  /** Writes back every changed row; whether anything was written. */
  flush(now: number): boolean {
    let wrote = false;
    for (const [key, row] of this.rows) {
      this.settleLogs(row);
      if (!row.dirty) continue;
      wrote = true;
      const expiresAt = this.dropExpired(key, row.counters, now);
      if (expiresAt === 0) {
        this.removeStatement.run(key);
        this.kept.delete(key);
      } else {
        this.upsertStatement.run(key, JSON.stringify(row.counters), expiresAt);
      }
    }
    if (!this.keeping) this.kept.clear();
    return wrote;
  }

  /** Deletes up to `limit` identities whose every counter has expired by `now`. */
  prune(now: number, limit: number): void {
    if (this.pruneStatement.run(now, limit).changes > 0) this.kept.clear();
  }

  private keyOf(counter: Counter): string {
    return this.prefix + counter.identity.key;
  }

  private row(counter: Counter): Row {
    const key = this.keyOf(counter);
    let row = this.rows.get(key);
    if (row) return row;
    row = this.kept.get(key);
    if (row) {
      this.kept.delete(key); // to the end: most recently used
      row.dirty = false;
      row.logs.clear();
    } else {
      const found = this.selectStatement.get(key);
      row = { counters: found === undefined ? {} : (JSON.parse(found) as Record<string, Stored>), dirty: false, logs: new Map() };
      if (this.kept.size >= this.keptRows) this.kept.delete(this.kept.keys().next().value!);
    }
    this.kept.set(key, row);
    this.rows.set(key, row);
    return row;
  }

  /** Puts each changed log's head into its row. */
  private settleLogs(row: Row): void {
    for (const [field, { log, algorithm }] of row.logs) {
      if (!log.changed) continue;
      row.dirty = true;
      const head = log.settle();
      if (head === undefined) delete row.counters[field];
      else row.counters[field] = { s: head, e: log.lastKey + algorithm.windowMs, b: log.blockCount || undefined };
    }
  }

  /**
   * Drops the counters that expired meanwhile rather than let their neighbours keep them alive (a
   * log's block rows with them); returns when the last of the others expires, 0 if none is left.
   */
  private dropExpired(key: string, counters: Record<string, Stored>, now: number): number {
    let expiresAt = 0;
    for (const field in counters) {
      const stored = counters[field]!;
      if (stored.e > now) {
        expiresAt = Math.max(expiresAt, stored.e);
        continue;
      }
      delete counters[field];
      if (stored.b) this.blocks.removeThrough(key, field, Infinity);
    }
    return expiresAt;
  }
}

/** Lease id → when its slot expires: core's state of a concurrency counter. */
type SlotsState = Record<string, number>;

/**
 * A concurrency counter's state as the engine reads it, from its stored form: flat `[lease id,
 * expiry, …]` (schema 4), or an object as schema 3 stored it. Lease ids are random, so an object
 * parsed from JSON with them as keys gave V8 a new hidden class per lease on every decision; an
 * object without a prototype keeps its properties in a hash table from the start.
 */
function slotsOf(stored: unknown): SlotsState | undefined {
  if (!Array.isArray(stored)) return stored as SlotsState | undefined;
  const slots: SlotsState = Object.create(null) as SlotsState;
  for (let i = 0; i < stored.length; i += 2) slots[stored[i] as string] = stored[i + 1] as number;
  return slots;
}

/** The stored form of a concurrency counter's state: flat `[lease id, expiry, …]`. */
function storedSlots(slots: SlotsState): (string | number)[] {
  const stored: (string | number)[] = [];
  for (const id in slots) stored.push(id, slots[id]!);
  return stored;
}
