import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import {
  ALL_ALGORITHMS,
  ConfigurationError,
  errorPrefix,
  StoreError,
  TollgateError,
  type Store,
  type StoreBatch,
  type StoreCapabilities,
  type StoreResult,
} from '@tollgate/core';
import Database from 'better-sqlite3';
import { BlockRows } from './blocks.js';
import { decide } from './decide.js';
import { IdentityRows } from './identities.js';
import { migrate } from './schema.js';

const PREFIX = errorPrefix('store-sqlite');

type Connection = Database.Database;

/** Options of `SqliteStore`. */
export interface SqliteStoreOptions {
  /**
   * A better-sqlite3 `Database` your app already has, or a file path for the store to open (and
   * close, with `close()`). Several processes may share one file.
   */
  database: Connection | string;
  /**
   * Prepended to every key, so several apps can share one database file.
   * @default ''
   */
  prefix?: string;
  /**
   * How long a decision waits for another process's write transaction before it fails (SQLite's
   * `busy_timeout`). Keep it at or below the limiter's `timeoutMs`: SQLite waits synchronously.
   * @default 1000
   */
  busyTimeoutMs?: number;
  /**
   * Expired identities deleted per write (in batches every 16 writes), so the file follows live
   * state rather than traffic.
   * @default 8
   */
  prunePerWrite?: number;
  /**
   * Identities whose rows stay parsed in memory between decisions (the most recently used), for as
   * long as no other connection writes to the file: a decision on one of them reads nothing from the
   * file before writing. Another process's write, a failed decision, or a decision inside a
   * transaction of your own (on a shared connection) drops them all. 0 reads every row from the file.
   * A few dozen hold the identities every request shares (a global limit, a busy IP or user); many
   * more cost traffic spread over many identities more than they save, in garbage collection.
   * @default 64
   */
  cachedIdentities?: number;
  /**
   * The time source (epoch ms). Processes sharing a file should share a clock source (they do on
   * one host).
   * @default Date.now
   */
  clock?: () => number;
}

/**
 * The embedded, durable store: counters live in a SQLite file (WAL mode), so limits and budgets
 * survive restarts, and every process on the host that opens the file shares them. A decision is
 * one `BEGIN IMMEDIATE` transaction over the same engine as the memory store; a lease record or
 * release is one too. An exact log keeps its newest and oldest entries in its identity's row and
 * the rest in block rows, so a decision costs the same whatever the log's length.
 *
 * @example
 * const limiter = createLimiter({ store: new SqliteStore({ database: './data/limits.db' }), limits });
 */
export class SqliteStore implements Store {
  readonly capabilities: StoreCapabilities = { algorithms: ALL_ALGORITHMS };
  /** The connection the store uses. */
  readonly database: Connection;
  private readonly owned: boolean;
  private readonly clock: () => number;
  private readonly transaction: (batches: readonly StoreBatch[]) => StoreResult[];
  private readonly rows: IdentityRows;

  constructor(options: SqliteStoreOptions) {
    const { database, prefix = '', busyTimeoutMs = 1000, prunePerWrite = 8, cachedIdentities = 64, clock = Date.now } = options ?? {};
    if (typeof prefix !== 'string') throw new ConfigurationError(`${PREFIX} prefix must be a string`);
    if (!Number.isSafeInteger(busyTimeoutMs) || busyTimeoutMs < 0) throw new ConfigurationError(`${PREFIX} busyTimeoutMs must be a whole number of ms`);
    if (!Number.isSafeInteger(prunePerWrite) || prunePerWrite < 0) throw new ConfigurationError(`${PREFIX} prunePerWrite must be a whole number`);
    if (!Number.isSafeInteger(cachedIdentities) || cachedIdentities < 0) throw new ConfigurationError(`${PREFIX} cachedIdentities must be a whole number`);
    if (typeof clock !== 'function') throw new ConfigurationError(`${PREFIX} clock must be a function returning epoch ms`);
    this.owned = typeof database === 'string';
    this.database = open(database);
    this.clock = clock;
    try {
      this.database.pragma(`busy_timeout = ${busyTimeoutMs}`);
      // WAL: readers never block the writer; NORMAL sync: a committed transaction survives a crash of
      // the process (not of the machine's power), at a fraction of FULL's cost.
      this.database.pragma('journal_mode = WAL');
      this.database.pragma('synchronous = NORMAL');
      migrate(this.database);
    } catch (error) {
      if (this.owned) this.database.close();
      if (error instanceof TollgateError) throw error;
      throw new StoreError(`${PREFIX} cannot use the database: ${(error as Error).message}`, { cause: error });
    }

    const rows = new IdentityRows(this.database, prefix, new BlockRows(this.database), cachedIdentities);
    let writes = 0;
    this.rows = rows;
    // Decisions in one transaction are made in order on the rows as the earlier ones left them, at
    // one instant, and each row they changed is written once.
    const transaction = this.database.transaction((batches: readonly StoreBatch[], keep: boolean) => {
      const now = this.clock();
      rows.begin(keep);
      const results = batches.map((batch) => decide(batch, now, rows));
      // Pruning is batched: every 16th write deletes up to 16 writes' worth of expired rows.
      if (rows.flush(now) && prunePerWrite > 0 && ++writes % 16 === 0) rows.prune(now, 16 * prunePerWrite);
      return results;
    });
    // A write takes the lock up front (IMMEDIATE), so two processes cannot both read the same count
    // and then both write: the second waits (busy_timeout) and reads what the first committed. A pure
    // read (check, usage) reads a WAL snapshot and never waits for writers.
    // Inside a transaction of the app's (one connection, shared), which may yet roll back, the rows
    // read are not kept.
    const reads = (batch: StoreBatch) => batch.dryRun && batch.adjustments.length === 0;
    this.transaction = (batches) => {
      const keep = !this.database.inTransaction;
      return batches.every(reads) ? transaction.deferred(batches, keep) : transaction.immediate(batches, keep);
    };
  }

  /** Atomic: one `BEGIN IMMEDIATE` transaction evaluates every charge and writes all or nothing. */
  apply(batch: StoreBatch): StoreResult {
    return this.applyAll([batch])[0]!;
  }

  /**
   * Several decisions in one transaction, made in order at one instant, each on what the earlier
   * ones left, as it would be made alone: each row they change is written once, and the file is
   * committed once. All or nothing: if one fails, none is written, and its error is thrown. What
   * `groupedDecisions` does with the decisions of a turn of the event loop.
   */
  applyAll(batches: readonly StoreBatch[]): StoreResult[] {
    try {
      return this.transaction(batches);
    } catch (error) {
      // Rolled back: the rows kept parsed may hold what was never committed.
      this.rows.forget();
      if (error instanceof TollgateError) throw error;
      const busy = (error as { code?: string }).code === 'SQLITE_BUSY';
      throw new StoreError(
        `${PREFIX} ${busy ? 'the database stayed locked by another process beyond busyTimeoutMs' : (error as Error).message}`,
        { cause: error },
      );
    }
  }

  /** Closes the database, if the store opened it from a path. */
  close(): void {
    if (this.owned) this.database.close();
  }
}

function open(database: Connection | string): Connection {
  if (typeof database !== 'string') {
    if (typeof (database as Connection | undefined)?.prepare !== 'function') {
      throw new ConfigurationError(`${PREFIX} database must be a better-sqlite3 Database or a file path`);
    }
    return database;
  }
  try {
    // A path such as './data/limits.db' in a fresh checkout: SQLite creates the file, not its folder.
    if (database !== ':memory:' && database !== '') mkdirSync(dirname(database), { recursive: true });
    return new Database(database, { fileMustExist: false });
  } catch (error) {
    throw new StoreError(`${PREFIX} cannot open ${JSON.stringify(database)}: ${(error as Error).message}`, { cause: error });
  }
}
