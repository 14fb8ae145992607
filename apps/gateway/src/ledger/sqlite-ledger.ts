import Database from 'better-sqlite3';
import type { LedgerFilter, LedgerRow, LedgerStore } from './ledger-types.js';

/** The columns, in the rows' field order: `snake_case` of each `LedgerRow` field. */
const FIELDS = ['time', 'requestId', 'user', 'team', 'key', 'route', 'requestedModel', 'model', 'degradeStep', 'inputTokens', 'outputTokens', 'cachedInputTokens', 'reasoningTokens', 'toolCalls', 'costNanoUsd', 'usageKnown', 'status', 'latencyMs', 'refusal'] as const;
const column = (field: string) => field.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);
const COLUMNS = FIELDS.map(column);
/** The filters that have an index, each on its column and time. */
const FILTERED = ['user', 'team', 'key', 'model'] as const;
/** Rows read per query of a chunk: a query never holds the connection long. */
const CHUNK = 1_000;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS gateway_spend_ledger (
  seq INTEGER PRIMARY KEY,
  time INTEGER NOT NULL, request_id TEXT NOT NULL UNIQUE, user TEXT NOT NULL, team TEXT, key TEXT NOT NULL, route TEXT NOT NULL,
  requested_model TEXT, model TEXT, degrade_step INTEGER, input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL,
  cached_input_tokens INTEGER NOT NULL, reasoning_tokens INTEGER NOT NULL, tool_calls INTEGER NOT NULL, cost_nano_usd INTEGER NOT NULL, usage_known INTEGER,
  status INTEGER NOT NULL, latency_ms INTEGER NOT NULL, refusal TEXT
);
CREATE INDEX IF NOT EXISTS gateway_spend_ledger_time ON gateway_spend_ledger (time);
${FILTERED.map((field) => `CREATE INDEX IF NOT EXISTS gateway_spend_ledger_${field} ON gateway_spend_ledger (${field}, time);`).join('\n')}
`;

/** A row as SQLite returns it: its columns, and its insertion order. */
type Stored = Record<string, unknown> & { seq: number; time: number };

function rowOf(stored: Stored): LedgerRow {
  const row = Object.fromEntries(FIELDS.map((field) => [field, stored[column(field)]]));
  return { ...row, usageKnown: stored.usage_known === null ? null : stored.usage_known === 1 } as unknown as LedgerRow;
}

/**
 * The ledger in a table of the gateway's SQLite file, through a connection of its own (WAL lets it
 * write beside the counters), indexed on time and on each filter with time.
 */
export function sqliteLedger(path: string): LedgerStore {
  const database = new Database(path);
  database.pragma('journal_mode = WAL');
  database.pragma('busy_timeout = 5000');
  database.exec(SCHEMA);
  // A row already there (a retried batch) is kept as it is.
  const insert = database.prepare<unknown[]>(`INSERT OR IGNORE INTO gateway_spend_ledger (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map(() => '?').join(', ')})`);
  const append = database.transaction((rows: readonly LedgerRow[]) => {
    // One row per request: its values in column order, with nothing built per field but the values.
    for (const row of rows) insert.run(FIELDS.map((field) => (field === 'usageKnown' ? (row.usageKnown === null ? null : Number(row.usageKnown)) : row[field])));
  });
  const prune = database.prepare<[number]>('DELETE FROM gateway_spend_ledger WHERE time < ?');

  async function* rows(filter: LedgerFilter): AsyncIterable<readonly LedgerRow[]> {
    const where: string[] = [];
    const values: unknown[] = [];
    for (const field of FILTERED) {
      if (filter[field] === undefined) continue;
      where.push(`${field} = ?`);
      values.push(filter[field]);
    }
    if (filter.from !== undefined) where.push('time >= ?'), values.push(filter.from);
    if (filter.to !== undefined) where.push('time < ?'), values.push(filter.to);
    const conditions = (after: boolean) => [...where, ...(after ? ['(time, seq) < (?, ?)'] : [])];
    const query = (after: boolean) => {
      const clauses = conditions(after);
      return database.prepare<unknown[], Stored>(`SELECT * FROM gateway_spend_ledger ${clauses.length ? `WHERE ${clauses.join(' AND ')}` : ''} ORDER BY time DESC, seq DESC LIMIT ${CHUNK}`);
    };
    const first = query(false);
    const next = query(true);
    // Keyset pagination: each chunk is a query of its own, so rows written meanwhile never clash with an open read.
    let chunk = first.all(...values);
    while (chunk.length > 0) {
      yield chunk.map(rowOf);
      if (chunk.length < CHUNK) return;
      const last = chunk[chunk.length - 1]!;
      chunk = next.all(...values, last.time, last.seq);
    }
  }

  return {
    append: async (batch) => append(batch),
    rows,
    prune: async (before) => void prune.run(before),
    close: async () => void database.close(),
  };
}
