import { ConfigurationError } from '@tollgate/core';
import type Database from 'better-sqlite3';

/**
 * Forward migrations, applied in order; the database records how many ran. Append, never edit:
 * a file written by this version must open in every later one.
 */
const MIGRATIONS: readonly string[] = [
  // 1: one row per identity holding all its counters (JSON: field -> { s: state, e: expiry }), so a
  //    decision reads and writes one row per identity; expires_at (the latest e) drives pruning.
  `CREATE TABLE tollgate_identities (
     key TEXT PRIMARY KEY,
     counters TEXT NOT NULL,
     expires_at INTEGER NOT NULL
   ) WITHOUT ROWID;
   CREATE INDEX tollgate_identities_expiry ON tollgate_identities (expires_at);`,
];

/** The schema version this code writes. */
export const SCHEMA_VERSION = MIGRATIONS.length;

/**
 * Brings the database to SCHEMA_VERSION in one transaction. A database written by a newer version
 * is refused rather than misread.
 */
export function migrate(database: Database.Database): void {
  database.exec('CREATE TABLE IF NOT EXISTS tollgate_schema (version INTEGER NOT NULL)');
  database
    .transaction(() => {
      const row = database.prepare<[], { version: number }>('SELECT version FROM tollgate_schema').get();
      const version = row?.version ?? 0;
      if (version > SCHEMA_VERSION) {
        throw new ConfigurationError(
          `[store-sqlite] the database was written by a newer @tollgate/store-sqlite (schema ${version}; this one knows up to ${SCHEMA_VERSION}): upgrade the package instead of opening it with this version`,
        );
      }
      for (let next = version; next < SCHEMA_VERSION; next++) database.exec(MIGRATIONS[next]!);
      if (!row) database.prepare('INSERT INTO tollgate_schema (version) VALUES (?)').run(SCHEMA_VERSION);
      else if (version < SCHEMA_VERSION) database.prepare('UPDATE tollgate_schema SET version = ?').run(SCHEMA_VERSION);
    })
    .immediate();
}
