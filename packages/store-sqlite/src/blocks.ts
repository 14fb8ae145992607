import type Database from 'better-sqlite3';

/** A block row: a run of one log's entries, flat `[key, amount, …]` in ascending keys. */
export interface Block {
  readonly start: number;
  readonly entries: number[];
}

/** The rows of a log that expired whole: how many, their sum, and the last one's start. */
export interface ExpiredBlocks {
  readonly count: number;
  readonly total: number;
  readonly through: number;
}

interface BlockRow {
  start: number;
  entries: string;
}

/**
 * The statements over `tollgate_log_blocks`, where an exact log keeps the entries between its
 * oldest and its newest. The rows of one log (`key`, `field`) never overlap: `start` is at most
 * the row's first key and above every key of the row before, so it orders them; `last` and
 * `total` let a decision drop or skip a row without parsing its entries.
 *
 * `after` excludes the rows a decision has already taken (dropped or moved into the log's head)
 * but not yet deleted, since a decision writes only once it knows every charge passes.
 */
export class BlockRows {
  private readonly expiredStatement: Database.Statement<[string, string, number, number, number], ExpiredBlocks>;
  private readonly firstStatement: Database.Statement<[string, string, number], BlockRow>;
  private readonly lastStatement: Database.Statement<[string, string], BlockRow>;
  private readonly containingStatement: Database.Statement<[string, string, number], BlockRow>;
  private readonly totalsStatement: Database.Statement<[string, string, number], { start: number; total: number }>;
  private readonly entriesStatement: Database.Statement<[string, string, number], string>;
  private readonly writeStatement: Database.Statement<[string, string, number, number, number, string]>;
  private readonly removeStatement: Database.Statement<[string, string, number]>;
  private readonly removeThroughStatement: Database.Statement<[string, string, number]>;

  constructor(database: Database.Database) {
    const where = 'FROM tollgate_log_blocks WHERE key = ? AND field = ?';
    // Rows that expired whole are a prefix of the log's rows; `start < bound` bounds the index range
    // to them and the one row the bound falls in.
    this.expiredStatement = database.prepare(
      `SELECT count(*) AS count, total(total) AS total, max(start) AS through ${where} AND start > ? AND start < ? AND last < ?`,
    );
    this.firstStatement = database.prepare(`SELECT start, entries ${where} AND start > ? ORDER BY start LIMIT 1`);
    this.lastStatement = database.prepare(`SELECT start, entries ${where} ORDER BY start DESC LIMIT 1`);
    this.containingStatement = database.prepare(`SELECT start, entries ${where} AND start <= ? ORDER BY start DESC LIMIT 1`);
    this.totalsStatement = database.prepare(`SELECT start, total ${where} AND start > ? ORDER BY start`);
    this.entriesStatement = database.prepare<[string, string, number], string>(`SELECT entries ${where} AND start = ?`).pluck();
    this.writeStatement = database.prepare(
      `INSERT INTO tollgate_log_blocks (key, field, start, last, total, entries) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (key, field, start) DO UPDATE SET last = excluded.last, total = excluded.total, entries = excluded.entries`,
    );
    this.removeStatement = database.prepare(`DELETE ${where} AND start = ?`);
    this.removeThroughStatement = database.prepare(`DELETE ${where} AND start <= ?`);
  }

  /** The log's rows after `after` whose every entry has a key below `bound`. */
  expired(key: string, field: string, after: number, bound: number): ExpiredBlocks {
    return this.expiredStatement.get(key, field, after, bound, bound)!;
  }

  /** The log's oldest row after `after`. */
  first(key: string, field: string, after: number): Block | undefined {
    return parsed(this.firstStatement.get(key, field, after));
  }

  /** The log's newest row. */
  last(key: string, field: string): Block | undefined {
    return parsed(this.lastStatement.get(key, field));
  }

  /** The row where an entry with key `at` is or belongs, if a row starts at or before it. */
  containing(key: string, field: string, at: number): Block | undefined {
    return parsed(this.containingStatement.get(key, field, at));
  }

  /** The start and sum of each of the log's rows after `after`, oldest first. */
  totals(key: string, field: string, after: number): IterableIterator<{ start: number; total: number }> {
    return this.totalsStatement.iterate(key, field, after);
  }

  /** The entries of the row at `start`. */
  entries(key: string, field: string, start: number): number[] {
    return JSON.parse(this.entriesStatement.get(key, field, start)!) as number[];
  }

  /** Creates or replaces the row at `start`; `entries` must not be empty. */
  write(key: string, field: string, start: number, entries: number[]): void {
    this.writeStatement.run(key, field, start, entries[entries.length - 2]!, sumOf(entries), JSON.stringify(entries));
  }

  remove(key: string, field: string, start: number): void {
    this.removeStatement.run(key, field, start);
  }

  /** Deletes the log's rows up to `start` (all of them with `Infinity`). */
  removeThrough(key: string, field: string, start: number): void {
    this.removeThroughStatement.run(key, field, start);
  }
}

function parsed(row: BlockRow | undefined): Block | undefined {
  return row && { start: row.start, entries: JSON.parse(row.entries) as number[] };
}

function sumOf(entries: number[]): number {
  let sum = 0;
  for (let i = 1; i < entries.length; i += 2) sum += entries[i]!;
  return sum;
}
