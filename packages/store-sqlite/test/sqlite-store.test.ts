import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ConfigurationError, createLimiter, StoreError, type Counter, type LimitConfig } from '@tollgate/core';
import { manualClock } from '@tollgate/store-test-suite';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteStore } from '../src/index.js';
import { SCHEMA_VERSION } from '../src/schema.js';

const dir = mkdtempSync(join(tmpdir(), 'tollgate-sqlite-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
const file = () => join(dir, `test-${++files}.db`);
const worker = fileURLToPath(new URL('./support/worker.ts', import.meta.url));

/** A file as an earlier schema wrote it: one identity row holding `counters`. */
function writeOldFile(database: string, version: number, counters: object, expiresAt: number): void {
  const raw = new Database(database);
  raw.exec(`CREATE TABLE tollgate_schema (version INTEGER NOT NULL); INSERT INTO tollgate_schema VALUES (${version});
    CREATE TABLE tollgate_identities (key TEXT PRIMARY KEY, counters TEXT NOT NULL, expires_at INTEGER NOT NULL) WITHOUT ROWID;
    CREATE INDEX tollgate_identities_expiry ON tollgate_identities (expires_at);`);
  raw.prepare('INSERT INTO tollgate_identities VALUES (?, ?, ?)').run('tollgate:{user:u}', JSON.stringify(counters), expiresAt);
  raw.close();
}

/** That file opened by today's store, under the limits its counters belong to. */
function openOldFile(database: string, clock: () => number, requestsPerMinute: number) {
  const store = new SqliteStore({ database, clock });
  const limits: LimitConfig[] = [
    { name: 'rpm', scope: 'user', resource: 'requests', limit: requestsPerMinute, window: '1m' },
    { name: 'tpm', scope: 'user', resource: 'tokens', limit: 10_000, window: '1m' },
  ];
  return { store, limiter: createLimiter({ store, clock, limits }) };
}

describe('SqliteStore', () => {
  it('no over-admission: 4 processes x 25 concurrent callers on one file admit exactly the limit', async () => {
    const database = file();
    new SqliteStore({ database }).close(); // create the schema once, before the race
    const run = promisify(execFile);
    const outputs = await Promise.all(
      [1, 2, 3, 4].map(() => run(process.execPath, ['--import', 'tsx', worker], { env: { ...process.env, DB: database, MODE: 'hammer', CALLERS: '25' } })),
    );
    expect(outputs.map(({ stdout }) => Number(stdout.trim())).reduce((a, b) => a + b, 0)).toBe(60);
  });

  it('survives SIGKILL: everything recorded before the kill still counts after reopening', async () => {
    const database = file();
    new SqliteStore({ database }).close();
    const child = spawn(process.execPath, ['--import', 'tsx', worker], { env: { ...process.env, DB: database, MODE: 'spend' } });
    let acknowledged = 0;
    await new Promise<void>((resolve) => {
      child.stdout.on('data', (chunk: Buffer) => {
        const lines = chunk.toString().trim().split('\n');
        acknowledged = Number(lines[lines.length - 1]);
        if (acknowledged >= 200 && !child.killed) {
          child.kill('SIGKILL');
          resolve();
        }
      });
    });
    await new Promise((resolve) => child.on('exit', resolve));
    const store = new SqliteStore({ database });
    const limiter = createLimiter({ store, limits: [{ name: 'daily-usd', scope: 'user', resource: 'cost', limit: 1_000, reset: { every: 'day' } }] });
    const [spent] = await limiter.usage({ user: 'spender' });
    // Every acknowledged record committed; at most a few more committed before their line was read.
    expect(spent!.used).toBeGreaterThanOrEqual(acknowledged * 0.01 - 1e-9);
    expect(spent!.used).toBeLessThan((acknowledged + 50) * 0.01);
    store.close();
  });

  it('a corrupt file is a typed error at construction', () => {
    const database = file();
    writeFileSync(database, 'this is not a database '.repeat(200));
    expect(() => new SqliteStore({ database })).toThrow(StoreError);
    expect(() => new SqliteStore({ database })).toThrow(/\[store-sqlite\]/);
  });

  it("creates the database's folder when it does not exist yet", async () => {
    const database = join(dir, 'fresh', 'data', 'limits.db');
    const store = new SqliteStore({ database });
    const limiter = createLimiter({ store, limits: [{ name: 'rpm', scope: 'user', resource: 'requests', limit: 1, window: '1m' }] });
    expect((await limiter.acquire({ user: 'u' })).allowed).toBe(true);
    store.close();
    expect(statSync(database).isFile()).toBe(true);
  });

  it('an unwritable path is a typed error at construction', () => {
    const notADirectory = file();
    writeFileSync(notADirectory, '');
    expect(() => new SqliteStore({ database: join(notADirectory, 'limits.db') })).toThrow(StoreError);
  });

  it('refuses a database written by a newer schema instead of misreading it', () => {
    const database = file();
    new SqliteStore({ database }).close();
    const raw = new Database(database);
    raw.prepare('UPDATE tollgate_schema SET version = ?').run(SCHEMA_VERSION + 1);
    raw.close();
    expect(() => new SqliteStore({ database })).toThrow(ConfigurationError);
    expect(() => new SqliteStore({ database })).toThrow(/newer/);
  });

  it('opens a schema-1 file and keeps its log and window counts (their states changed shape in schema 2)', async () => {
    const database = file();
    const clock = manualClock();
    const now = clock();
    const segment = Math.floor(now / 6_000);
    const counters = {
      'rpm/requests/log:60000': { s: { t: [now - 2_000, now - 1_000], a: [2, 1], s: 3 }, e: now + 59_000 },
      'tpm/tokens/window:60000:6000': { s: { i: [segment - 1, segment], a: [500, 250] }, e: now + 66_000 },
    };
    writeOldFile(database, 1, counters, now + 66_000);
    const { store, limiter } = openOldFile(database, clock, 10);
    const usage = await limiter.usage({ user: 'u' });
    expect(usage.map(({ name, used }) => [name, used])).toEqual([['rpm', 3], ['tpm', 750]]);
    clock.advance(58_500); // the first two requests leave the window, the last one stays
    expect((await limiter.usage({ user: 'u' }))[0]!.used).toBe(1);
    store.close();
  });

  it('opens a schema-2 file and keeps its exact logs, a long one included (logs moved to block rows in schema 3)', async () => {
    const database = file();
    const clock = manualClock();
    const now = clock();
    // As schema 2 stored a long log: one series, with the expired entries at its front still in
    // place (amount -1) and 5,000 live ones, a request every 10 ms over the last 50 s.
    const series: number[] = [];
    for (let i = 0; i < 1_000; i++) series.push(now - 70_000 + i, -1);
    for (let i = 0; i < 5_000; i++) series.push(now - 50_000 + i * 10, 1);
    series.push(5_000);
    const segment = Math.floor(now / 6_000);
    const counters = {
      'rpm/requests/log:60000': { s: series, e: now + 59_990 },
      'tpm/tokens/window:60000:6000': { s: [segment - 1, 500, segment, 250, 750], e: now + 66_000 },
    };
    writeOldFile(database, 2, counters, now + 66_000);
    const { store, limiter } = openOldFile(database, clock, 10_000);
    const used = async () => (await limiter.usage({ user: 'u' })).map(({ name, used }) => [name, used]);
    expect(await used()).toEqual([['rpm', 5_000], ['tpm', 750]]);
    expect((await limiter.acquire({ user: 'u' }, { tokens: 100 })).allowed).toBe(true);
    expect(await used()).toEqual([['rpm', 5_001], ['tpm', 850]]);
    expect((store.database.prepare('SELECT count(*) AS n FROM tollgate_log_blocks').get() as { n: number }).n).toBeGreaterThan(100);

    // A refund names its charge's time and lands on it, in a block row as in the head.
    const rpm: Counter = {
      identity: { key: 'tollgate:{user:u}', namespace: 'tollgate:user', id: 'u' },
      field: 'rpm/requests/log:60000',
      algorithm: { type: 'log', limit: 10_000, windowMs: 60_000 },
    };
    store.apply({ charges: [], adjustments: [{ type: 'refund', counter: rpm, amount: 1, at: now - 30_000 }], dryRun: false });
    expect(await used()).toEqual([['rpm', 5_000], ['tpm', 850]]);

    // 30 s on, the requests made before now - 30 s have left the window: 2,999 of the old ones
    // (the refunded one among those that left) and the one just made remain.
    clock.advance(30_000);
    expect((await used())[0]).toEqual(['rpm', 3_000]);
    store.close();
  });

  it('opens a schema-3 file and keeps its exact logs and leases (stored in a leaner form since schema 4)', async () => {
    const database = file();
    const clock = manualClock();
    const now = clock();
    writeOldFile(database, 3, {}, 0);
    const raw = new Database(database);
    raw.exec(`DELETE FROM tollgate_identities;
      CREATE TABLE tollgate_log_blocks (key TEXT NOT NULL, field TEXT NOT NULL, start INTEGER NOT NULL, last INTEGER NOT NULL,
        total INTEGER NOT NULL, entries TEXT NOT NULL, PRIMARY KEY (key, field, start)) WITHOUT ROWID;
      CREATE TRIGGER tollgate_identities_drop_blocks AFTER DELETE ON tollgate_identities BEGIN
        DELETE FROM tollgate_log_blocks WHERE key = old.key;
      END;`);
    // As schema 3 stored a log: whole keys in the head's front and tail, and a block row between.
    const key = 'tollgate:{user:u}';
    const field = 'rpm/requests/log:60000';
    const entries = (from: number, count: number) => Array.from({ length: count }, (_, i) => [from + i * 100, 1]).flat();
    const head = { n: 30, f: entries(now - 50_000, 10), t: entries(now - 10_000, 10) };
    // And a concurrency counter as schema 3 stored it: an object of lease id -> expiry.
    const slots = { 'lease-a': now + 20_000, 'lease-b': now + 70_000 };
    const counters = { [field]: { s: head, e: now + 51_000, b: 1 }, 'inflight/concurrency/slots': { s: slots, e: now + 70_000 } };
    raw.prepare('INSERT INTO tollgate_identities VALUES (?, ?, ?)').run(key, JSON.stringify(counters), now + 70_000);
    const block = entries(now - 30_000, 10);
    raw.prepare('INSERT INTO tollgate_log_blocks VALUES (?, ?, ?, ?, ?, ?)').run(key, field, block[0], block[18], 10, JSON.stringify(block));
    raw.close();

    const store = new SqliteStore({ database, clock });
    const limiter = createLimiter({
      store,
      clock,
      limits: [
        { name: 'rpm', scope: 'user', resource: 'requests', limit: 10_000, window: '1m' },
        { name: 'inflight', scope: 'user', resource: 'concurrency', limit: 3 },
      ],
    });
    const used = async () => (await limiter.usage({ user: 'u' })).map(({ name, used }) => [name, used]);
    expect(await used()).toEqual([['rpm', 30], ['inflight', 2]]);
    const decision = await limiter.acquire({ user: 'u' });
    expect(decision.allowed).toBe(true);
    expect(await used()).toEqual([['rpm', 31], ['inflight', 3]]);
    expect((await limiter.acquire({ user: 'u' })).allowed).toBe(false);
    const stored = JSON.parse(store.database.prepare('SELECT counters FROM tollgate_identities WHERE key = ?').pluck().get(key) as string);
    expect(stored[field].s.o).toBe(now - 50_000);
    expect(stored['inflight/concurrency/slots'].s).toEqual(['lease-a', now + 20_000, 'lease-b', now + 70_000, expect.any(String), expect.any(Number)]);
    await decision.lease!.release();
    expect(await used()).toEqual([['rpm', 31], ['inflight', 2]]);
    // The old entries leave the window when they should: the front's 20 s on, the block row's 20 s
    // later; the old leases when their slots expire.
    clock.advance(11_000);
    expect(await used()).toEqual([['rpm', 21], ['inflight', 2]]);
    clock.advance(20_000);
    expect(await used()).toEqual([['rpm', 11], ['inflight', 1]]);
    // Since schema 5 the identities are a rowid table, and deleting one still deletes its block rows.
    const sql = store.database.prepare("SELECT sql FROM sqlite_schema WHERE name = 'tollgate_identities'").pluck().get() as string;
    expect(sql).not.toMatch(/WITHOUT ROWID/i);
    const blocks = () => store.database.prepare('SELECT count(*) FROM tollgate_log_blocks').pluck().get();
    expect(blocks()).toBe(1);
    store.database.prepare('DELETE FROM tollgate_identities').run();
    expect(blocks()).toBe(0);
    store.close();
  });

  it('a decision on an identity with 40 leases in flight writes its row in place, not through overflow pages', async () => {
    const clock = manualClock();
    const store = new SqliteStore({ database: file(), clock });
    const limiter = createLimiter({
      store,
      clock,
      limits: [
        { name: 'rpm', scope: 'user', resource: 'requests', limit: 1e6, window: '1m' },
        { name: 'inflight', scope: 'user', resource: 'concurrency', limit: 100 },
      ],
    });
    const leases = [];
    for (let i = 0; i < 40; i++) leases.push((await limiter.acquire({ user: 'u' })).lease!);
    const { database } = store;
    const row = database.prepare('SELECT length(counters) FROM tollgate_identities').pluck();
    expect(row.get()).toBeGreaterThan(2_000); // past what a WITHOUT ROWID leaf keeps of a row
    database.pragma('wal_autocheckpoint = 0'); // so that the WAL holds every page written from here
    database.pragma('wal_checkpoint(TRUNCATE)');
    const commits = 40;
    for (let i = 0; i < commits / 2; i++) {
      clock.advance(1);
      leases.push((await limiter.acquire({ user: 'u' })).lease!);
      await leases.shift()!.release();
    }
    const [{ log: pages }] = database.pragma('wal_checkpoint(PASSIVE)') as [{ log: number }];
    // The row's page and the expiry index's page (the WITHOUT ROWID table of schema 3 wrote about 5).
    expect(pages / commits).toBeLessThanOrEqual(2.5);
    store.close();
  });

  describe('identities kept parsed between decisions', () => {
    const rpm: LimitConfig[] = [{ name: 'rpm', scope: 'user', resource: 'requests', limit: 10, window: '1m' }];
    const counter: Counter = {
      identity: { key: 'tollgate:{user:u}', namespace: 'tollgate:user', id: 'u' },
      field: 'rpm/requests/log:60000',
      algorithm: { type: 'log', limit: 10, windowMs: 60_000 },
    };

    /** Alternates 30 acquires over the stores' limiters: how many each admitted. */
    async function alternate(stores: SqliteStore[], clock: () => number) {
      const limiters = stores.map((store) => createLimiter({ store, clock, limits: rpm }));
      const admitted = limiters.map(() => 0);
      for (let i = 0; i < 30; i++) if ((await limiters[i % limiters.length]!.acquire({ user: 'u' })).allowed) admitted[i % limiters.length]!++;
      return admitted;
    }

    it('two stores on one file, each with its connection, see each other’s charges at once', async () => {
      const database = file();
      const clock = manualClock();
      const stores = [new SqliteStore({ database, clock }), new SqliteStore({ database, clock })];
      expect(await alternate(stores, clock)).toEqual([5, 5]);
      // A write from outside any store (here: the admin deleting the file's identities) is seen too.
      const raw = new Database(database);
      raw.exec('DELETE FROM tollgate_identities');
      raw.close();
      expect(await alternate(stores, clock)).toEqual([5, 5]);
      stores.forEach((store) => store.close());
    });

    it('two stores sharing one connection see each other’s charges at once', async () => {
      const clock = manualClock();
      const database = new Database(file());
      const stores = [new SqliteStore({ database, clock }), new SqliteStore({ database, clock })];
      expect(await alternate(stores, clock)).toEqual([5, 5]);
      database.close();
    });

    /** A store on a fresh file, one charge to `counter`, and a read of what it holds. */
    const charged = () => {
      const database = new Database(file());
      const store = new SqliteStore({ database, clock: manualClock() });
      const charge = () => store.apply({ charges: [{ counter, amount: 1 }], adjustments: [], dryRun: false });
      const used = () => store.apply({ charges: [{ counter, amount: 0 }], adjustments: [], dryRun: true }).readings[0]!.used;
      return { database, charge, used };
    };

    it('a decision inside a transaction of the app’s that rolls back leaves nothing behind', () => {
      const { database, charge, used } = charged();
      charge();
      expect(used()).toBe(1);
      expect(() =>
        database.transaction(() => {
          charge();
          expect(used()).toBe(2);
          throw new Error('the app changes its mind');
        })(),
      ).toThrow('the app changes its mind');
      expect(used()).toBe(1);
      charge();
      expect(used()).toBe(2);
      database.close();
    });

    it('a decision whose write fails leaves nothing behind', () => {
      const { database, charge, used } = charged();
      charge();
      expect(used()).toBe(1);
      // The row is charged in memory, then its write fails (as a full disk would fail it).
      database.exec("CREATE TEMP TRIGGER fail BEFORE UPDATE ON tollgate_identities BEGIN SELECT RAISE(ABORT, 'disk full'); END");
      expect(charge).toThrow(StoreError);
      database.exec('DROP TRIGGER fail');
      expect(used()).toBe(1);
      database.close();
    });

    it('cachedIdentities must be a whole number', () => {
      expect(() => new SqliteStore({ database: file(), cachedIdentities: -1 })).toThrow(ConfigurationError);
      expect(() => new SqliteStore({ database: file(), cachedIdentities: 1.5 })).toThrow(/cachedIdentities/);
    });
  });

  it('a lock held beyond busyTimeoutMs is a store error the failure policy handles', async () => {
    const database = file();
    const store = new SqliteStore({ database, busyTimeoutMs: 50 });
    const limiter = createLimiter({ store, onStoreError: 'deny', limits: [{ name: 'rpm', scope: 'user', resource: 'requests', limit: 5, window: '1m' }] });
    const other = new Database(database);
    other.exec('BEGIN IMMEDIATE');
    try {
      expect(await limiter.acquire({ user: 'u' })).toMatchObject({ allowed: false, reason: 'store-error' });
    } finally {
      other.exec('ROLLBACK');
      other.close();
    }
    expect((await limiter.acquire({ user: 'u' })).allowed).toBe(true);
    store.close();
  });

  it('reads (check, usage) do not wait for another process writing', async () => {
    const database = file();
    const store = new SqliteStore({ database, busyTimeoutMs: 50 });
    const limiter = createLimiter({ store, onStoreError: 'deny', limits: [{ name: 'rpm', scope: 'user', resource: 'requests', limit: 5, window: '1m' }] });
    await limiter.acquire({ user: 'u' });
    const other = new Database(database);
    other.exec('BEGIN IMMEDIATE');
    try {
      expect(await limiter.check({ user: 'u' })).toMatchObject({ allowed: true, reason: 'ok', limits: [{ used: 1 }] });
      expect((await limiter.usage({ user: 'u' }))[0]!.used).toBe(1);
    } finally {
      other.exec('ROLLBACK');
      other.close();
    }
    store.close();
  });

  it('a day of traffic leaves the file the size of the live state', async () => {
    const clock = manualClock();
    const database = file();
    const store = new SqliteStore({ database, clock });
    const limits: LimitConfig[] = [
      { name: 'rpm', scope: 'user', resource: 'requests', limit: 20, window: '1m' },
      { name: 'tpm', scope: 'user', resource: 'tokens', limit: 50_000, window: '1m' },
      { name: 'ip-rpm', scope: 'ip', resource: 'requests', limit: 60, window: '1m' },
    ];
    const limiter = createLimiter({ store, clock, limits });
    const rows = () => (store.database.prepare('SELECT count(*) AS n FROM tollgate_identities').get() as { n: number }).n;
    const pages = () => store.database.pragma('page_count', { simple: true }) as number;
    // Every 10 s a new caller arrives and each caller of the last 2 minutes makes a request: 12
    // callers active at a time, 2,880 new ones a day, about 100,000 decisions.
    const hour = async (offset: number) => {
      for (let step = 0; step < 360; step++) {
        const now = offset * 360 + step;
        for (let k = 0; k < 12; k++) {
          const caller = now - k;
          if (caller >= 0) await limiter.acquire({ user: `u${caller}`, ip: `ip${caller % 997}` }, { tokens: 100 });
        }
        clock.advance(10_000);
      }
    };
    await hour(0);
    const afterHour = { rows: rows(), pages: pages() };
    for (let h = 1; h < 24; h++) await hour(h);
    store.database.pragma('wal_checkpoint(TRUNCATE)');
    expect(rows()).toBeLessThanOrEqual(afterHour.rows * 1.5);
    expect(pages()).toBeLessThanOrEqual(afterHour.pages * 1.5);
    expect(statSync(database).size).toBeLessThan(2_000_000);
    store.close();
  }, 120_000); // ~100,000 decisions: a bound on a hang when CI runs every package at once, not a speed claim
});
