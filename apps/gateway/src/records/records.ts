import Database from 'better-sqlite3';
import type { Redis } from 'ioredis';

/**
 * The gateway's own records (the API keys issued through the admin API), kept where its counters
 * are, so that every instance sharing the counters shares them too: a table in the SQLite file, or
 * a hash per kind in Redis. Values are JSON text; each kind is a small set an operator manages.
 */
export interface Records {
  get(kind: string, id: string): Promise<string | undefined>;
  put(kind: string, id: string, value: string): Promise<void>;
  remove(kind: string, id: string): Promise<void>;
  /** Writes the record unless one exists: whether this call wrote it (one caller wins, on every instance). */
  claim(kind: string, id: string, value: string): Promise<boolean>;
  /** Every record of a kind, by id. */
  all(kind: string): Promise<Map<string, string>>;
  close(): Promise<void>;
}

/** Records in the SQLite file the counters are in, through a connection of their own (WAL lets both write). */
export function sqliteRecords(path: string): Records {
  const database = new Database(path);
  database.pragma('journal_mode = WAL');
  database.pragma('busy_timeout = 5000');
  database.exec('CREATE TABLE IF NOT EXISTS gateway_records (kind TEXT NOT NULL, id TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (kind, id))');
  const get = database.prepare<[string, string], string>('SELECT value FROM gateway_records WHERE kind = ? AND id = ?').pluck();
  const put = database.prepare<[string, string, string]>('INSERT INTO gateway_records (kind, id, value) VALUES (?, ?, ?) ON CONFLICT (kind, id) DO UPDATE SET value = excluded.value');
  const remove = database.prepare<[string, string]>('DELETE FROM gateway_records WHERE kind = ? AND id = ?');
  const claim = database.prepare<[string, string, string]>('INSERT OR IGNORE INTO gateway_records (kind, id, value) VALUES (?, ?, ?)');
  const all = database.prepare<[string], { id: string; value: string }>('SELECT id, value FROM gateway_records WHERE kind = ?');
  return {
    get: async (kind, id) => get.get(kind, id),
    put: async (kind, id, value) => void put.run(kind, id, value),
    remove: async (kind, id) => void remove.run(kind, id),
    claim: async (kind, id, value) => claim.run(kind, id, value).changes === 1,
    all: async (kind) => new Map(all.all(kind).map(({ id, value }) => [id, value])),
    close: async () => {
      database.close();
    },
  };
}

/** Records in Redis, one hash per kind under the gateway's prefix, on the counters' connection. */
export function redisRecords(client: Redis, prefix: string): Records {
  const hash = (kind: string) => `${prefix}records:${kind}`;
  return {
    get: async (kind, id) => (await client.hget(hash(kind), id)) ?? undefined,
    put: async (kind, id, value) => void (await client.hset(hash(kind), id, value)),
    remove: async (kind, id) => void (await client.hdel(hash(kind), id)),
    claim: async (kind, id, value) => (await client.hsetnx(hash(kind), id, value)) === 1,
    all: async (kind) => new Map(Object.entries(await client.hgetall(hash(kind)))),
    // The connection is the store's: it closes with it.
    close: async () => undefined,
  };
}

/** Thrown when the records did not answer within their deadline. */
export class RecordsTimeout extends Error {
  constructor(timeoutMs: number) {
    super(`the gateway's records did not answer within ${timeoutMs} ms`);
    this.name = 'RecordsTimeout';
  }
}

/**
 * `call`, given up with a `RecordsTimeout` after `timeoutMs`: a store that accepts a connection
 * and never answers must not hold a request (or the start, or a background write) forever.
 */
export function withinDeadline<T>(call: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new RecordsTimeout(timeoutMs)), timeoutMs)));
  return Promise.race([call, late]).finally(() => clearTimeout(timer));
}

/** `records` with every call given up after `timeoutMs`, as the limiter gives up a store call. */
export function withDeadline(records: Records, timeoutMs: number): Records {
  const bounded = <T>(call: Promise<T>): Promise<T> => withinDeadline(call, timeoutMs);
  return {
    get: (kind, id) => bounded(records.get(kind, id)),
    put: (kind, id, value) => bounded(records.put(kind, id, value)),
    remove: (kind, id) => bounded(records.remove(kind, id)),
    claim: (kind, id, value) => bounded(records.claim(kind, id, value)),
    all: (kind) => bounded(records.all(kind)),
    close: () => records.close(),
  };
}
