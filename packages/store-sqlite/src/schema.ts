import { ConfigurationError, errorPrefix } from '@tollgate/core';
import type Database from 'better-sqlite3';

/** A step of the schema: SQL, or a function for changes SQL cannot express. */
type Migration = string | ((database: Database.Database) => void);

/**
 * Forward migrations, applied in order; the database records how many ran. Append, never edit:
 * a file written by this version must open in every later one.
 */
const MIGRATIONS: readonly Migration[] = [
  // 1: one row per identity holding all its counters (JSON: field -> { s: state, e: expiry }), so a
  //    decision reads and writes one row per identity; expires_at (the latest e) drives pruning.
  `CREATE TABLE tollgate_identities (
     key TEXT PRIMARY KEY,
     counters TEXT NOT NULL,
     expires_at INTEGER NOT NULL
   ) WITHOUT ROWID;
   CREATE INDEX tollgate_identities_expiry ON tollgate_identities (expires_at);`,
  // 2: log and window counters became one flat series `[key, amount, …, sum]` (core 0.2) instead
  //    of parallel arrays (`{ t, a, s }` and `{ i, a }`): rewrite the counters held in those shapes.
  (database) => {
    const rows = database.prepare<[], { key: string; counters: string }>('SELECT key, counters FROM tollgate_identities').all();
    const update = database.prepare<[string, string]>('UPDATE tollgate_identities SET counters = ? WHERE key = ?');
    for (const { key, counters } of rows) {
      const parsed = JSON.parse(counters) as Record<string, { s: unknown; e: number }>;
      let changed = false;
      for (const stored of Object.values(parsed)) {
        const series = toSeries(stored.s);
        if (series) {
          stored.s = series;
          changed = true;
        }
      }
      if (changed) update.run(JSON.stringify(parsed), key);
    }
  },
  // 3: an exact log keeps its oldest and newest entries in its identity's row (`{ n: sum, f: front,
  //    t: tail }`, and `b`: how many block rows it has) and the entries between them in block rows,
  //    so that a decision reads and writes a bounded part of a long log. Logs still in the series
  //    shape are read as they are and rewritten in this layout on their next change (see `headOf`).
  //    Deleting an identity (pruning, or its last counter expiring) deletes its logs' blocks too.
  `CREATE TABLE tollgate_log_blocks (
     key TEXT NOT NULL,
     field TEXT NOT NULL,
     start INTEGER NOT NULL,
     last INTEGER NOT NULL,
     total INTEGER NOT NULL,
     entries TEXT NOT NULL,
     PRIMARY KEY (key, field, start)
   ) WITHOUT ROWID;
   CREATE TRIGGER tollgate_identities_drop_blocks AFTER DELETE ON tollgate_identities BEGIN
     DELETE FROM tollgate_log_blocks WHERE key = old.key;
   END;`,
  // 4: an exact log's head stores its keys less its oldest (`o`), small integers rather than epoch
  //    milliseconds (see `LogHead`), and a concurrency counter's leases are a flat `[lease id,
  //    expiry, …]` rather than an object keyed by lease id (see `slotsOf`). Nothing to rewrite:
  //    the schema-3 forms are read as they are and rewritten on their next change; the version is
  //    raised so that an older store refuses the file.
  () => undefined,
  // 5: the identities become a rowid table. In a WITHOUT ROWID table a row keeps at most about a
  //    quarter of a page (some 1,000 bytes) in its leaf and the rest in overflow pages, which every
  //    update frees and allocates again; an identity with a few dozen leases in flight passes that,
  //    and each of its decisions wrote four pages instead of one. A rowid table keeps rows up to
  //    almost a page in the leaf. The trigger goes with the old table and is made again.
  `DROP TRIGGER tollgate_identities_drop_blocks;
   CREATE TABLE tollgate_identities_rowid (
     key TEXT PRIMARY KEY,
     counters TEXT NOT NULL,
     expires_at INTEGER NOT NULL
   );
   INSERT INTO tollgate_identities_rowid (key, counters, expires_at) SELECT key, counters, expires_at FROM tollgate_identities;
   DROP TABLE tollgate_identities;
   ALTER TABLE tollgate_identities_rowid RENAME TO tollgate_identities;
   CREATE INDEX tollgate_identities_expiry ON tollgate_identities (expires_at);
   CREATE TRIGGER tollgate_identities_drop_blocks AFTER DELETE ON tollgate_identities BEGIN
     DELETE FROM tollgate_log_blocks WHERE key = old.key;
   END;`,
];

/** A version-1 log (`{ t, a, s }`) or window (`{ i, a }`) state as a series; undefined for anything else. */
function toSeries(state: unknown): number[] | undefined {
  const old = state as { t?: unknown; i?: unknown; a?: unknown } | null;
  const keys = old?.t ?? old?.i;
  if (!Array.isArray(keys) || !Array.isArray(old!.a) || keys.length !== old!.a.length || keys.length === 0) return undefined;
  const amounts = old!.a as number[];
  const series: number[] = [];
  let sum = 0;
  keys.forEach((key: number, index) => {
    series.push(key, amounts[index]!);
    sum += amounts[index]!;
  });
  series.push(sum);
  return series;
}

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
          `${errorPrefix('store-sqlite')} the database was written by a newer @tollgate/store-sqlite (schema ${version}; this one knows up to ${SCHEMA_VERSION}): upgrade the package instead of opening it with this version`,
        );
      }
      for (let next = version; next < SCHEMA_VERSION; next++) {
        const migration = MIGRATIONS[next]!;
        if (typeof migration === 'string') database.exec(migration);
        else migration(database);
      }
      if (!row) database.prepare('INSERT INTO tollgate_schema (version) VALUES (?)').run(SCHEMA_VERSION);
      else if (version < SCHEMA_VERSION) database.prepare('UPDATE tollgate_schema SET version = ?').run(SCHEMA_VERSION);
    })
    .immediate();
}
