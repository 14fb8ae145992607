import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLimiter, staticPrices, type Lease } from '@tollgate/core';
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

/** Long enough to show the cost of rewriting a log's JSON, short enough to fill in about a second. */
const LONG_LOG = 2_000;

/**
 * One caller on a clock that moves 1 ms per decision, with a window of `entries` ms: its log, filled
 * before measuring, holds one entry per millisecond of the window.
 */
async function hotCaller(entries: number) {
  let now = Date.now();
  const clock = () => now;
  const limiter = createLimiter({
    store: new SqliteStore({ database: database(), clock }),
    clock,
    limits: [{ name: 'rpm', scope: 'user', resource: 'requests', limit: 1e9, window: entries, algorithm: 'sliding-log' }],
  });
  const decide = () => {
    now++;
    return limiter.acquire({ user: 'hot' });
  };
  for (let i = 0; i < entries; i++) await decide();
  return decide;
}

/** Requests in flight in `gatewayTier`, as at 32 clients in `pnpm bench gateway-cpu`. */
const IN_FLIGHT = 32;

/**
 * The gateway's tier of `pnpm bench gateway-cpu` (rpm, tpm, daily USD and in-flight per user, and
 * a global and a per-IP exact log) on one caller with 32 requests in flight: each operation
 * acquires a request (40 tokens of gpt-4o reserved) and finishes the oldest in flight with its
 * usage, the two store calls a gateway request makes.
 */
function gatewayTier(cachedIdentities?: number) {
  const limiter = createLimiter({
    store: new SqliteStore({ database: database(), cachedIdentities }),
    prices: staticPrices({ 'gpt-4o': { input: 2.5, output: 10 }, 'gpt-4o-mini': { input: 0.15, output: 0.6 } }),
    limits: [
      { name: 'global-rpm', scope: 'global', resource: 'requests', limit: 1e6, window: '1m' },
      { name: 'ip-rpm', scope: 'ip', resource: 'requests', limit: 1e6, window: '1m' },
      { name: 'rpm', scope: 'user', resource: 'requests', limit: 1e6, window: '1m' },
      { name: 'tpm', scope: 'user', resource: 'tokens', limit: 1e12, window: '1m' },
      { name: 'daily-usd', scope: 'user', resource: 'cost', limit: 1e6, reset: { every: 'day', timeZone: 'UTC' } },
      { name: 'inflight', scope: 'user', resource: 'concurrency', limit: 64 },
    ],
    degrade: { budget: 'daily-usd', steps: [{ below: 0.5, model: 'gpt-4o', maxTokens: 512 }, { model: 'gpt-4o-mini', maxTokens: 256 }] },
  });
  const identity = { user: 'bench', ip: '127.0.0.1' };
  const inFlight: Lease[] = [];
  return async () => {
    const decision = await limiter.acquire(identity, { tokens: 40, model: 'gpt-4o' });
    inFlight.push(decision.lease!);
    if (inFlight.length > IN_FLIGHT) await inFlight.shift()!.finish({ model: 'gpt-4o', inputTokens: 20, outputTokens: 16 });
  };
}

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
  long: {
    title: `(c) one caller charged every millisecond: an exact log of ${LONG_LOG.toLocaleString('en-US')} entries against a short one`,
    contenders: [
      {
        name: 'rate-limiter-flexible RateLimiterSQLite',
        async setup() {
          const limiter = await rlfSqlite(database(), 'rl_hot', 1e12, 60);
          return () => limiter.consume('hot');
        },
      },
      { name: 'Tollgate SqliteStore, exact log of 20 entries', setup: () => hotCaller(20) },
      { name: `Tollgate SqliteStore, exact log of ${LONG_LOG.toLocaleString('en-US')} entries`, setup: () => hotCaller(LONG_LOG) },
    ],
  },
  tier: {
    title: `(d) the gateway's tier, ${IN_FLIGHT} requests in flight: acquire, and finish the oldest (Tollgate only: what keeping identities parsed saves)`,
    contenders: [
      { name: 'Tollgate SqliteStore, cachedIdentities: 0 (every row read from the file)', setup: () => gatewayTier(0) },
      { name: 'Tollgate SqliteStore (identities kept parsed between decisions)', setup: () => gatewayTier() },
    ],
  },
};

export const module = fileURLToPath(import.meta.url);
