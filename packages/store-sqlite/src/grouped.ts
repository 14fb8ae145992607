import { StoreError, type Store, type StoreBatch, type StoreResult } from '@tollgate/core';
import type { SqliteStore } from './sqlite-store.js';

/** A decision asked for in this turn of the event loop, made at its end. */
interface Pending {
  readonly batch: StoreBatch;
  resolve(result: StoreResult): void;
  reject(error: unknown): void;
}

/** `groupedDecisions`' store: closing it makes the decisions still waiting first. */
export interface GroupedSqliteStore extends Store {
  /** Makes the decisions of this turn, then closes the SQLite store (see `SqliteStore.close`). */
  close(): void;
}

/**
 * `store` with the decisions asked for in one turn of the event loop made at its end, in order, in
 * one transaction (`applyAll`): a busy server then writes each identity its requests share (a
 * global limit, a user, a key) and commits the file once per turn rather than once per decision.
 * Each is decided as it would be alone at that instant, and answered with a promise. A decision
 * asked for inside a transaction of your own (on a shared connection) is made at once, in it. If a
 * turn's transaction fails, its decisions are made again one by one, so that only the one at fault
 * fails; if another process kept the file locked beyond `busyTimeoutMs`, they all fail at once.
 *
 * @example
 * const store = groupedDecisions(new SqliteStore({ database: './data/limits.db' }));
 * const limiter = createLimiter({ store, limits });
 */
export function groupedDecisions(store: SqliteStore): GroupedSqliteStore {
  let pending: Pending[] = [];

  const decidePending = (): void => {
    const turn = pending;
    if (turn.length === 0) return;
    pending = [];
    let results: StoreResult[];
    try {
      results = store.applyAll(turn.map(({ batch }) => batch));
    } catch (error) {
      // A file another process keeps locked would keep each decision alone waiting as long.
      if (turn.length === 1 || lockedOut(error)) return turn.forEach(({ reject }) => reject(error));
      for (const { batch, resolve, reject } of turn) {
        try {
          resolve(store.apply(batch));
        } catch (alone) {
          reject(alone);
        }
      }
      return;
    }
    turn.forEach(({ resolve }, i) => resolve(results[i]!));
  };

  return {
    capabilities: store.capabilities,
    apply(batch) {
      if (store.database.inTransaction) return store.apply(batch);
      return new Promise((resolve, reject) => {
        // setImmediate runs after the I/O callbacks of this turn: every request they started is in.
        if (pending.push({ batch, resolve, reject }) === 1) setImmediate(decidePending);
      });
    },
    close() {
      decidePending();
      store.close();
    },
  };
}

/** Whether a decision failed waiting for another process's lock beyond `busyTimeoutMs`. */
function lockedOut(error: unknown): boolean {
  return error instanceof StoreError && (error.cause as { code?: unknown } | undefined)?.code === 'SQLITE_BUSY';
}
