import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Adjustment, Charge, Counter, CounterAlgorithm, StoreBatch } from '@tollgate/core';
import { MemoryStore } from '@tollgate/store-memory';
import Database from 'better-sqlite3';
import { manualClock } from '@tollgate/store-test-suite';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteStore } from '../src/index.js';
import { seededRandom } from '@tollgate/test-kit/random';

const dir = mkdtempSync(join(tmpdir(), 'tollgate-sqlite-logs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
const file = () => join(dir, `logs-${++files}.db`);

function counterOf(id: string, field: string, algorithm: CounterAlgorithm): Counter {
  return { identity: { key: `t:{user:${id}}`, namespace: 't:user', id }, field, algorithm };
}

/** Long enough to spill into many block rows, small enough that limits bind and refuse. */
const hot = counterOf('hot', 'rpm/requests/log:3000', { type: 'log', limit: 2_000, windowMs: 3_000 });
const other = counterOf('other', 'rpm/requests/log:700', { type: 'log', limit: 60, windowMs: 700 });
const tokens = counterOf('hot', 'tpm/tokens/window:500:100', { type: 'window', limit: 12_000, windowMs: 500, segmentMs: 100 });

/**
 * Random batches over long exact logs: charges (some too big, some refused by a neighbour),
 * refunds of earlier charges (expired ones too), overruns, resets, dry runs, and a clock that
 * mostly moves a millisecond or two, sometimes jumps ahead and sometimes steps back.
 */
function script(seed: number, clock: ReturnType<typeof manualClock>) {
  const next = seededRandom(seed);
  const int = (max: number) => Math.floor(next() * (max + 1));
  const charged: number[] = [];
  const batch = (): StoreBatch => {
    const charges: Charge[] = [{ counter: hot, amount: next() < 0.01 ? 100 + int(1_000) : next() < 0.1 ? 0 : 1 + int(1) }];
    if (next() < 0.3) charges.push({ counter: other, amount: int(2) });
    if (next() < 0.3) charges.push({ counter: tokens, amount: int(200) });
    const adjustments: Adjustment[] = [];
    if (next() < 0.3 && charged.length > 0) {
      const at = charged[int(charged.length - 1)]!;
      adjustments.push({ type: 'refund', counter: next() < 0.8 ? hot : other, amount: 1 + int(2), at });
    }
    if (next() < 0.05) adjustments.push({ type: 'add', counter: hot, amount: int(2) });
    if (next() < 0.003) adjustments.push({ type: 'reset', counter: hot });
    return { charges, adjustments, dryRun: next() < 0.1 };
  };
  /** How far the clock moves next: negative when it steps back. */
  const tick = (): number => {
    const roll = next();
    if (roll < 0.003) return 300 + int(3_500);
    if (roll < 0.013) return -1 - int(1_200);
    return int(2);
  };
  const charge = (moved: number) => {
    clock.advance(moved);
    charged.push(clock());
    return batch();
  };
  return { tick, charge };
}

/**
 * A write to every counter, so that both stores have dropped what expired before the clock steps
 * back. (Which entries a step back revives otherwise depends on when each store last wrote the
 * counter: the memory store prunes a state on every read, this one when it writes it.)
 */
const writeAll: StoreBatch = {
  charges: [],
  adjustments: [hot, other, tokens].map((counter) => ({ type: 'add', counter, amount: 0 })),
  dryRun: false,
};

function blockRows(store: SqliteStore): number {
  return (store.database.prepare('SELECT count(*) AS n FROM tollgate_log_blocks').get() as { n: number }).n;
}

/** Bytes a value read from SQLite takes: text and blobs by their length, numbers as 8. */
function sizeOf(value: unknown): number {
  if (value === null || value === undefined) return 0;
  if (typeof value === 'string' || Buffer.isBuffer(value)) return value.length;
  if (typeof value === 'object') return Object.values(value).reduce((sum: number, field) => sum + sizeOf(field), 0);
  return 8;
}

/** Counts the rows and bytes that every statement prepared on `database` returns. */
function countReads(database: Database.Database): { rows: number; bytes: number } {
  const reads = { rows: 0, bytes: 0 };
  const seen = (row: unknown) => {
    if (row === undefined) return;
    reads.rows++;
    reads.bytes += sizeOf(row);
  };
  const prepare = database.prepare.bind(database);
  database.prepare = ((source: string) => {
    const statement = prepare(source);
    const { get, all, iterate } = statement;
    statement.get = (...params: unknown[]) => {
      const row = get.apply(statement, params);
      seen(row);
      return row;
    };
    statement.all = (...params: unknown[]) => {
      const rows = all.apply(statement, params);
      rows.forEach(seen);
      return rows;
    };
    statement.iterate = function* (...params: unknown[]) {
      for (const row of iterate.apply(statement, params)) {
        seen(row);
        yield row;
      }
    };
    return statement;
  }) as typeof database.prepare;
  return reads;
}

/**
 * One caller charged every millisecond, as `pnpm bench sqlite` (c) does, on a log of `entries`
 * (one per millisecond of its window), written in the layout of schema 2 (one series in the
 * identity's row): what each decision reads (rows and bytes returned by the store's statements)
 * and writes (pages appended to the WAL, SQLite's own count), once the first decisions have
 * rewritten the log in the current layout. Without identities kept parsed between decisions
 * unless `cachedIdentities` says so, so that the identity's row is read every time.
 */
function costOfDecisions(entries: number, cachedIdentities = 0) {
  const clock = manualClock();
  const path = file();
  new SqliteStore({ database: path }).close();
  const field = `rpm/requests/log:${entries}`;
  const series: number[] = [];
  for (let age = entries - 1; age >= 0; age--) series.push(clock() - age, 1);
  series.push(entries);
  const raw = new Database(path);
  const expiresAt = clock() + entries;
  raw.prepare('INSERT INTO tollgate_identities VALUES (?, ?, ?)').run('t:{user:hot}', JSON.stringify({ [field]: { s: series, e: expiresAt } }), expiresAt);
  raw.close();

  const database = new Database(path);
  const reads = countReads(database);
  const store = new SqliteStore({ database, clock, cachedIdentities });
  const counter = counterOf('hot', field, { type: 'log', limit: 1e9, windowMs: entries });
  const decide = () => {
    clock.advance(1);
    expect(store.apply({ charges: [{ counter, amount: 1 }], adjustments: [], dryRun: false }).allowed).toBe(true);
  };
  for (let i = 0; i < 32; i++) decide();
  database.pragma('wal_autocheckpoint = 0'); // so that the WAL holds every page written from here
  database.pragma('wal_checkpoint(TRUNCATE)');
  Object.assign(reads, { rows: 0, bytes: 0 });
  const decisions = 64; // two blocks' worth: the log moves a block into and out of the head
  for (let i = 0; i < decisions; i++) decide();
  const [{ log: pages }] = database.pragma('wal_checkpoint(PASSIVE)') as [{ log: number }];
  const used = store.apply({ charges: [{ counter, amount: 0 }], adjustments: [], dryRun: true }).readings[0]!.used;
  store.close();
  database.close();
  return { used, rowsRead: reads.rows / decisions, bytesRead: reads.bytes / decisions, pagesWritten: pages / decisions };
}

describe('exact logs in block rows', () => {
  it('a decision on a 60,000-entry log reads and writes about what one on a 20-entry log does', () => {
    const short = costOfDecisions(20);
    const long = costOfDecisions(60_000);
    expect([short.used, long.used]).toEqual([20, 60_000]);
    expect(long.rowsRead).toBeLessThanOrEqual(short.rowsRead + 0.25);
    expect(long.bytesRead).toBeLessThanOrEqual(short.bytesRead * 3);
    expect(long.pagesWritten).toBeLessThanOrEqual(short.pagesWritten * 1.5);
  });

  it('with the identity kept parsed between decisions, a decision reads only what it needs of the block rows', () => {
    const read = costOfDecisions(60_000);
    const kept = costOfDecisions(60_000, 1);
    expect(kept.used).toBe(60_000);
    expect(kept.rowsRead).toBeLessThanOrEqual(read.rowsRead - 0.9); // the identity's row, nearly every time
    expect(kept.bytesRead).toBeLessThan(read.bytesRead / 4);
    expect(kept.pagesWritten).toBeLessThanOrEqual(read.pagesWritten);
  });

  for (const seed of [1, 2, 3, 4]) {
    it(`decides as the memory store on long logs (seed ${seed})`, () => {
      const clock = manualClock();
      const subject = new SqliteStore({ database: file(), clock });
      const reference = new MemoryStore({ clock });
      const { tick, charge } = script(seed, clock);
      let mostBlocks = 0;
      for (let step = 0; step < 4_000; step++) {
        const moved = tick();
        if (moved < 0) expect(subject.apply(writeAll)).toEqual(reference.apply(writeAll));
        const input = charge(moved);
        expect(subject.apply(input), `step ${step}: ${JSON.stringify(input)}`).toEqual(reference.apply(input));
        if (step % 10 === 0) mostBlocks = Math.max(mostBlocks, blockRows(subject));
      }
      // The logs did spill: the comparison covered entries in block rows, not only in the head.
      expect(mostBlocks).toBeGreaterThanOrEqual(5);
      subject.close();
    });
  }

  it('decides as the memory store while refunds empty a row, the newest entries, then every row', () => {
    const clock = manualClock();
    const subject = new SqliteStore({ database: file(), clock });
    const reference = new MemoryStore({ clock });
    const log = counterOf('refunded', 'rpm/requests/log:10000', { type: 'log', limit: 200, windowMs: 10_000 });
    const same = (batch: StoreBatch) => expect(subject.apply(batch), JSON.stringify(batch)).toEqual(reference.apply(batch));
    const start = clock();
    for (let i = 0; i < 200; i++) {
      same({ charges: [{ counter: log, amount: 1 }], adjustments: [], dryRun: false });
      clock.advance(1);
    }
    // Only the newest entries can make room for 195 more.
    same({ charges: [{ counter: log, amount: 195 }], adjustments: [], dryRun: true });
    const refund = (at: number) => {
      same({ charges: [], adjustments: [{ type: 'refund', counter: log, amount: 1, at }], dryRun: false });
      same({ charges: [{ counter: log, amount: 100 }], adjustments: [], dryRun: true });
    };
    // A whole row in the middle.
    for (let i = 64; i < 96; i++) refund(start + i);
    // Newest first: the tail empties, and the newest row becomes the tail, again and again.
    for (let i = 199; i >= 100; i--) refund(start + i);
    // Then every other one, oldest first, and the rest: rows thin out and disappear.
    for (let i = 0; i < 100; i += 2) refund(start + i);
    for (let i = 1; i < 100; i += 2) refund(start + i);
    expect(blockRows(subject)).toBe(0);
    subject.close();
  });

  it('a log that expires, or is reset, leaves no block rows behind', () => {
    const clock = manualClock();
    const store = new SqliteStore({ database: file(), clock, prunePerWrite: 1 });
    const fill = (counter: Counter) => {
      for (let i = 0; i < 250; i++) {
        clock.advance(1);
        expect(store.apply({ charges: [{ counter, amount: 1 }], adjustments: [], dryRun: false }).allowed).toBe(true);
      }
    };
    fill(hot);
    expect(blockRows(store)).toBeGreaterThan(3);
    store.apply({ charges: [], adjustments: [{ type: 'reset', counter: hot }], dryRun: false });
    expect(blockRows(store)).toBe(0);

    fill(hot);
    clock.advance(3_000); // hot's window
    // Other identities' writes prune the expired one, and its blocks with it.
    for (let i = 0; i < 32; i++) {
      const counter = counterOf(`u${i}`, 'f', { type: 'log', limit: 5, windowMs: 10 });
      store.apply({ charges: [{ counter, amount: 1 }], adjustments: [], dryRun: false });
    }
    expect(blockRows(store)).toBe(0);
    store.close();
  });

  it('a refusal writes nothing, even where it read block rows', () => {
    const clock = manualClock();
    const store = new SqliteStore({ database: file(), clock });
    for (let i = 0; i < 300; i++) {
      clock.advance(2);
      store.apply({ charges: [{ counter: hot, amount: 1 }], adjustments: [], dryRun: false });
    }
    clock.advance(500); // about half the log has expired, front and whole rows among it
    const snapshot = () => store.database.prepare("SELECT json_group_array(entries) AS rows FROM tollgate_log_blocks").get();
    const before = [snapshot(), store.database.prepare('SELECT counters FROM tollgate_identities').all()];
    const refused = store.apply({ charges: [{ counter: hot, amount: 1 }, { counter: tokens, amount: 12_001 }], adjustments: [], dryRun: false });
    expect(refused.allowed).toBe(false);
    expect([snapshot(), store.database.prepare('SELECT counters FROM tollgate_identities').all()]).toEqual(before);
    store.close();
  });
});
