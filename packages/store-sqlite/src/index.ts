/**
 * The embedded, durable store over better-sqlite3: limits that survive restarts, shared by every
 * process on the host.
 *
 * @module @tollgate/store-sqlite
 */
export { SqliteStore, type SqliteStoreOptions } from './sqlite-store.js';
export { groupedDecisions, type GroupedSqliteStore } from './grouped.js';
