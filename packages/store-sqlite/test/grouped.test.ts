import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StoreError, type Counter, type StoreBatch } from '@tollgate/core';
import { MemoryStore } from '@tollgate/store-memory';
import { manualClock, runStoreTestSuite } from '@tollgate/store-test-suite';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { groupedDecisions, SqliteStore } from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'tollgate-sqlite-grouped-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
const file = () => join(dir, `grouped-${++files}.db`);

// The store's contract, decisions made a turn later and several to a transaction.
runStoreTestSuite({
  name: 'sqlite, grouped decisions',
  createStore: (clock) => groupedDecisions(new SqliteStore({ database: file(), clock })),
  closeStore: (store) => store.close(),
  createReference: (clock) => new MemoryStore({ clock }),
});

/** A request limit of 3 a minute on `user`. */
const rpm = (user: string): Counter => ({
  identity: { key: `tollgate:{user:${user}}`, namespace: 'tollgate:user', id: user },
  field: 'rpm/requests/log:60000',
  algorithm: { type: 'log', limit: 3, windowMs: 60_000 },
});
const charge = (user: string): StoreBatch => ({ charges: [{ counter: rpm(user), amount: 1 }], adjustments: [], dryRun: false });
const used = (store: SqliteStore, user: string) => store.apply({ charges: [{ counter: rpm(user), amount: 0 }], adjustments: [], dryRun: true }).readings[0]!.used;

describe('groupedDecisions', () => {
  it('makes the decisions of one turn in order, in one transaction, each as it would be made alone', async () => {
    const sqlite = new SqliteStore({ database: file(), clock: manualClock() });
    const grouped = groupedDecisions(sqlite);
    const transactions = vi.spyOn(sqlite, 'applyAll');

    const results = await Promise.all(Array.from({ length: 5 }, () => grouped.apply(charge('u'))));

    expect(results.map((result) => result.allowed)).toEqual([true, true, true, false, false]);
    expect(results.map((result) => result.readings[0]!.used)).toEqual([0, 1, 2, 3, 3]);
    expect(transactions).toHaveBeenCalledTimes(1);
    expect(used(sqlite, 'u')).toBe(3);
    grouped.close();
  });

  it('when a decision of the turn fails, makes each alone: only that one fails', async () => {
    const database = new Database(file());
    const grouped = groupedDecisions(new SqliteStore({ database, clock: manualClock() }));
    // Writing one identity fails (as a full disk, or a constraint, would fail it).
    database.exec("CREATE TEMP TRIGGER fail BEFORE INSERT ON tollgate_identities WHEN NEW.key = 'tollgate:{user:bad}' BEGIN SELECT RAISE(ABORT, 'disk full'); END");

    const results = await Promise.allSettled(['a', 'bad', 'c'].map((user) => grouped.apply(charge(user))));

    expect(results.map((result) => result.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason).toBeInstanceOf(StoreError);
    const sqlite = new SqliteStore({ database, clock: manualClock() });
    expect(['a', 'bad', 'c'].map((user) => used(sqlite, user))).toEqual([1, 0, 1]);
    database.close();
  });

  it('fails every decision of the turn at once when another process keeps the file locked, without trying each alone', async () => {
    const database = file();
    const sqlite = new SqliteStore({ database, busyTimeoutMs: 20, clock: manualClock() });
    const grouped = groupedDecisions(sqlite);
    const alone = vi.spyOn(sqlite, 'apply');
    const other = new Database(database);
    other.exec('BEGIN IMMEDIATE');

    const results = await Promise.allSettled(['a', 'b', 'c'].map((user) => grouped.apply(charge(user))));

    expect(results.map((result) => result.status)).toEqual(['rejected', 'rejected', 'rejected']);
    expect((results[0] as PromiseRejectedResult).reason).toMatchObject({ name: 'StoreError', message: expect.stringMatching(/locked by another process/) });
    expect(alone).not.toHaveBeenCalled();
    other.exec('ROLLBACK');
    other.close();
    grouped.close();
  });

  it('makes a decision asked for inside a transaction of the app at once, in it', () => {
    const database = new Database(file());
    const grouped = groupedDecisions(new SqliteStore({ database, clock: manualClock() }));

    const result = database.transaction(() => grouped.apply(charge('u')))();

    expect(result).not.toBeInstanceOf(Promise);
    expect(result).toMatchObject({ allowed: true });
    database.close();
  });

  it('makes the decisions still waiting when it is closed', async () => {
    const database = file();
    const grouped = groupedDecisions(new SqliteStore({ database, clock: manualClock() }));
    const waiting = grouped.apply(charge('u'));

    grouped.close();

    expect(await waiting).toMatchObject({ allowed: true });
    const reopened = new SqliteStore({ database, clock: manualClock() });
    expect(used(reopened, 'u')).toBe(1);
    reopened.close();
  });
});
