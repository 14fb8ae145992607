import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLimiter, staticPrices } from '@tollgate/core';
import { SqliteStore } from '@tollgate/store-sqlite';
import Database from 'better-sqlite3';
import { RateLimiterSQLite, RateLimiterUnion } from 'rate-limiter-flexible';
import type { Suite } from './harness.js';
import { aiPolicy } from './policies.js';

/**
 * SQLite: one process, one caller at a time (better-sqlite3 is synchronous), 10,000 identities, a
 * fresh database file per measurement with the same settings for every contender (WAL, synchronous
 * NORMAL). Limits are high enough that every contender admits every request.
 */
const IDENTITIES = 10_000;
const user = (i: number) => `user-${i % IDENTITIES}`;

function database(): Database.Database {
  const db = new Database(join(mkdtempSync(join(tmpdir(), 'tollgate-bench-sqlite-')), 'bench.db'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  return db;
}

/** rate-limiter-flexible's SQLite limiter, with its table created before measuring. */
async function rlfSqlite(db: Database.Database, tableName: string, points: number, duration: number): Promise<RateLimiterSQLite> {
  const limiter = await new Promise<RateLimiterSQLite>((resolve, reject) => {
    const created: RateLimiterSQLite = new RateLimiterSQLite(
      { storeClient: db, storeType: 'better-sqlite3', tableName, points, duration },
      (error?: Error) => (error ? reject(error) : resolve(created)),
    );
  });
  return limiter;
}

const fiveLimits = aiPolicy(
  [['rpm', 1_000_000, '1m'], ['rph', 10_000_000, '1h']],
  [['tpm', 1e12, '1m'], ['tph', 1e13, '1h']],
  1_000_000,
);

export const suites: Record<string, Suite> = {
  single: {
    title: '(a) one request limit, 10,000 callers, a file database',
    contenders: [
      {
        name: 'rate-limiter-flexible RateLimiterSQLite',
        async setup() {
          const limiter = await rlfSqlite(database(), 'rl_single', 1_000_000, 60);
          return (i) => limiter.consume(user(i));
        },
      },
      {
        name: 'Tollgate SqliteStore (exact sliding log)',
        setup() {
          const limiter = createLimiter({
            store: new SqliteStore({ database: database() }),
            limits: [{ name: 'rpm', scope: 'user', resource: 'requests', limit: 1_000_000, window: '1m' }],
          });
          return (i) => limiter.acquire({ user: user(i) });
        },
      },
    ],
  },
  five: {
    title: '(b) the five-limit AI policy, 10,000 callers, a file database',
    contenders: [
      {
        name: 'rate-limiter-flexible RateLimiterUnion of 5 RateLimiterSQLite',
        async setup() {
          const db = database();
          const union = new RateLimiterUnion(
            await rlfSqlite(db, 'rl_rpm', 1e12, 60),
            await rlfSqlite(db, 'rl_rph', 1e12, 3600),
            await rlfSqlite(db, 'rl_tpm', 1e12, 60),
            await rlfSqlite(db, 'rl_tph', 1e12, 3600),
            await rlfSqlite(db, 'rl_usd', 1e12, 86_400),
          );
          return (i) => union.consume(user(i));
        },
      },
      {
        name: 'Tollgate SqliteStore: acquire, 1,000 tokens and their cost reserved',
        setup() {
          const limiter = createLimiter({
            store: new SqliteStore({ database: database() }),
            limits: fiveLimits,
            prices: staticPrices({ 'gpt-4o-mini': { input: 0.15, output: 0.6 } }),
          });
          return (i) => limiter.acquire({ user: user(i) }, { tokens: 1_000, model: 'gpt-4o-mini' });
        },
      },
    ],
  },
};

export const module = fileURLToPath(import.meta.url);
