/**
 * The Redis store over ioredis: one EVALSHA per decision, on a server or a Redis Cluster.
 *
 * @module @tollgate/store-redis
 */
import {
  ALL_ALGORITHMS,
  ConfigurationError,
  errorPrefix,
  type Counter,
  type Store,
  type StoreBatch,
  type StoreCapabilities,
  type StoreResult,
} from '@tollgate/core';
import { asStoreError, checkPrefix, createTransport, ENGINE_LUA, ENGINE_SHA, type Transport } from '@tollgate/redis-lua';
import type { Cluster, Redis } from 'ioredis';
import { applyAcrossSlots } from './cluster.js';

const PREFIX = errorPrefix('store-redis');

/** Options of `RedisStore`. */
export interface RedisStoreOptions {
  /**
   * An ioredis client your app already has (`Redis`). The store never connects, quits or configures
   * it, so one connection can serve the app and the limiter.
   */
  client: Redis | Cluster;
  /**
   * Prepended to every key, e.g. `'myapp:'`. Must not contain `{` or `}` (hash tags belong to the
   * identity part of each key).
   * @default ''
   */
  prefix?: string;
  /**
   * Tests only: a clock that replaces Redis's `TIME`. In production the server's clock counts every
   * window, so app servers with skewed clocks agree (on a Cluster, a decision spanning slots uses the
   * clock of the node holding its first slot).
   */
  clock?: () => number;
}

/** A Cluster batch's failure as a `StoreError` (a script's failure already is one). */
const failed = (error: unknown): never => {
  throw asStoreError(error, 'store-redis');
};

/** The engine script's SHA1, as `SCRIPT LOAD` reports it. */
export { ENGINE_SHA };

/**
 * A Redis store: every decision, whatever its number of limits, is one EVALSHA of the Tollgate
 * engine script, atomic on the server; lease records and releases are one call too. Time comes from
 * Redis `TIME`. Every counter of one identity lives in one hash with a TTL; an exact log longer than
 * 17 entries moves the middle of them to a key of its own under the same hash tag, with its own TTL.
 *
 * @example
 * const limiter = createLimiter({ store: new RedisStore({ client: new Redis(process.env.REDIS_URL) }), limits });
 */
export class RedisStore implements Store {
  readonly capabilities: StoreCapabilities = { algorithms: ALL_ALGORITHMS };
  private readonly isCluster: boolean;
  private readonly prefix: string;
  private readonly keyOf = (counter: Counter): string => this.prefix + counter.identity.key;
  /** One script call; on a Cluster, one per slot of a batch (see `applyAcrossSlots`). */
  private readonly transport: Transport;

  constructor(options: RedisStoreOptions) {
    const { client, prefix = '', clock } = options ?? {};
    if (typeof (client as Redis | undefined)?.evalsha !== 'function') {
      throw new ConfigurationError(`${PREFIX} client must be an ioredis Redis or Cluster instance`);
    }
    if (clock !== undefined && typeof clock !== 'function') throw new ConfigurationError(`${PREFIX} clock must be a function`);
    this.isCluster = (client as Cluster).isCluster === true;
    this.prefix = checkPrefix(prefix, 'store-redis');
    this.transport = createTransport({
      store: 'store-redis',
      prefix: this.prefix,
      clock,
      evalsha: (keys, argv) => client.evalsha(ENGINE_SHA, keys.length, ...keys, argv[0]),
      eval: (keys, argv) => client.eval(ENGINE_LUA, keys.length, ...keys, argv[0]),
    });
  }

  /**
   * Atomic: one script evaluates every charge and writes all or nothing, inside Redis. On a Cluster,
   * a batch whose identities hash to several slots runs one script per slot and takes back the
   * slots that passed when another refused (see `applyAcrossSlots`).
   */
  apply(batch: StoreBatch): Promise<StoreResult> {
    if (!this.isCluster) return this.transport(batch);
    return applyAcrossSlots(batch, this.keyOf, this.transport).catch(failed);
  }
}
