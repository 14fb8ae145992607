import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Store, StoreBatch, StoreResult } from '@tollgate/core';
import { RedisStore } from '@tollgate/store-redis';
import { groupedDecisions, SqliteStore } from '@tollgate/store-sqlite';
import { Redis } from 'ioredis';
import type { LedgerSpec, StoreSpec } from './config/schema.js';
import type { LedgerStore } from './ledger/ledger-types.js';
import { redisLedger } from './ledger/redis-ledger.js';
import { sqliteLedger } from './ledger/sqlite-ledger.js';
import type { Histogram } from './metrics.js';
import { redisRecords, sqliteRecords, type Records } from './records/records.js';

/** An opened store, and how to let go of it when the gateway stops. */
export interface OpenStore {
  readonly store: Store;
  /** The gateway's own records, beside the counters. */
  readonly records: Records;
  /** The spend ledger's rows, beside the counters. */
  readonly ledger: LedgerStore;
  /** What the startup banner and the dashboard say the store is (a Redis URL without its password). */
  readonly description: string;
  close(): Promise<void>;
}

/** What the gateway's keys in Redis start with. */
export const REDIS_PREFIX = 'gateway:';

/** How long closing waits for Redis to acknowledge QUIT before dropping the connection. */
const QUIT_WAIT_MS = 1_000;

/**
 * Opens the configured store: the SQLite file (its folder created) or a Redis connection. A Redis
 * that is down does not stop the gateway from starting: decisions fail with the limiter's
 * `onStoreError` policy (deny) until it is back.
 */
export function openStore(spec: StoreSpec, ledgerSpec: LedgerSpec, onRedisError: (error: Error) => void): OpenStore {
  if (spec.kind === 'sqlite') {
    mkdirSync(dirname(spec.path), { recursive: true });
    // A busy gateway's requests share identities (the global limit, a user, a key): the decisions
    // of one turn of the event loop are made in one transaction.
    const store = groupedDecisions(new SqliteStore({ database: spec.path }));
    const records = sqliteRecords(spec.path);
    const ledger = sqliteLedger(spec.path);
    return {
      store,
      records,
      ledger,
      description: `sqlite:${spec.path}`,
      close: async () => {
        await records.close();
        await ledger.close();
        store.close();
      },
    };
  }
  // A bounded retry per command, so a decision during an outage fails fast instead of queueing.
  const client = new Redis(spec.url, { maxRetriesPerRequest: 1, lazyConnect: false });
  client.on('error', onRedisError);
  const url = new URL(spec.url);
  if (url.password) url.password = '***';
  return {
    store: new RedisStore({ client, prefix: REDIS_PREFIX }),
    records: redisRecords(client, REDIS_PREFIX),
    ledger: redisLedger(client, REDIS_PREFIX, ledgerSpec.retentionDays),
    description: url.toString(),
    close: async () => {
      // A server that does not answer never acknowledges QUIT: stopping must not wait for it.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([client.quit().catch(() => undefined), new Promise((resolve) => (timer = setTimeout(resolve, QUIT_WAIT_MS)))]);
      clearTimeout(timer);
      client.disconnect();
    },
  };
}

/** The store with each call timed into `latency` (by result: ok, error). */
export function timedStore(store: Store, latency: Histogram): Store {
  const observe = (started: number, result: string) => latency.observe((performance.now() - started) / 1000, { result });
  return {
    capabilities: store.capabilities,
    apply(batch: StoreBatch): StoreResult | Promise<StoreResult> {
      const started = performance.now();
      let result: StoreResult | Promise<StoreResult>;
      try {
        result = store.apply(batch);
      } catch (error) {
        observe(started, 'error');
        throw error;
      }
      if (!(result instanceof Promise)) {
        observe(started, 'ok');
        return result;
      }
      return result.then(
        (value) => {
          observe(started, 'ok');
          return value;
        },
        (error: unknown) => {
          observe(started, 'error');
          throw error;
        },
      );
    },
  };
}
