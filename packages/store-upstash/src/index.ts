/**
 * The Upstash store over `@upstash/redis`: one HTTP request per decision, for serverless and edge
 * runtimes, with an in-process deny cache.
 *
 * @module @tollgate/store-upstash
 */
import {
  ALL_ALGORITHMS,
  ConfigurationError,
  errorPrefix,
  DenyCache,
  type DenyCacheOptions,
  type Store,
  type StoreBatch,
  type StoreCapabilities,
  type StoreResult,
} from '@tollgate/core';
import { checkPrefix, createTransport, ENGINE_LUA, ENGINE_SHA, type Transport } from '@tollgate/redis-lua';
import type { Redis } from '@upstash/redis';

const PREFIX = errorPrefix('store-upstash');

/** Options of `UpstashStore`. */
export interface UpstashStoreOptions {
  /**
   * An `@upstash/redis` client your app already has. The store only sends EVALSHA (and EVAL once,
   * when the server lacks the script) through it. Its auto-pipelining may merge a decision with
   * other commands issued in the same tick into one HTTP request; that changes nothing here.
   *
   * Its retries (5 by default, about 4 s of backoff on network errors) run inside the limiter's
   * `timeoutMs`: the decision comes back at the deadline per `onStoreError` whatever the client is
   * still doing, and a late answer is refunded. Give the store a client with `retry: false` (or a
   * short budget) so that a retried EVALSHA whose first attempt did land cannot charge twice.
   */
  client: Redis;
  /**
   * Prepended to every key, e.g. `'myapp:'`. Must not contain `{` or `}`.
   * @default ''
   */
  prefix?: string;
  /**
   * Refuse locally, with no HTTP request, while a counter is known to refuse the same demand (a
   * caller hammering past a limit costs nothing). The decision then has `cached: true`. `false`
   * turns it off; an object sets its bound. See `DenyCache` in `@tollgate/core` for exactly what is
   * replayed and what the cache cannot see.
   * @default true
   */
  denyCache?: boolean | DenyCacheOptions;
  /**
   * Tests only: a clock that replaces Redis's `TIME` (and the deny cache's `Date.now`). In
   * production the server's clock counts every window, so functions in different regions agree.
   */
  clock?: () => number;
}

/**
 * An Upstash store: every decision, whatever its number of limits, is one EVALSHA of the Tollgate
 * engine script (the same script as `@tollgate/store-redis`) in one HTTP request; lease records and
 * releases are one request too. Nothing in it needs Node: it runs on edge runtimes and serverless
 * functions. Time comes from Redis `TIME`.
 *
 * @example
 * const limiter = createLimiter({ store: new UpstashStore({ client: Redis.fromEnv({ retry: false }) }), limits });
 */
export class UpstashStore implements Store {
  readonly capabilities: StoreCapabilities = { algorithms: ALL_ALGORITHMS };
  private readonly denyCache: DenyCache | undefined;
  private readonly transport: Transport;

  constructor(options: UpstashStoreOptions) {
    const { client, prefix = '', denyCache = true, clock } = options ?? {};
    if (typeof (client as Redis | undefined)?.evalsha !== 'function' || typeof (client as Redis).eval !== 'function') {
      throw new ConfigurationError(`${PREFIX} client must be an @upstash/redis Redis instance`);
    }
    if (clock !== undefined && typeof clock !== 'function') throw new ConfigurationError(`${PREFIX} clock must be a function`);
    if (typeof denyCache !== 'boolean' && (typeof denyCache !== 'object' || denyCache === null)) {
      throw new ConfigurationError(`${PREFIX} denyCache must be true, false or { maxEntries }, got ${String(denyCache)}`);
    }
    const checked = checkPrefix(prefix, 'store-upstash');
    this.denyCache = denyCache === false ? undefined : new DenyCache(denyCache === true ? {} : denyCache, clock);
    this.transport = createTransport({
      store: 'store-upstash',
      prefix: checked,
      clock,
      evalsha: (keys, argv) => client.evalsha(ENGINE_SHA, keys, argv),
      eval: (keys, argv) => client.eval(ENGINE_LUA, keys, argv),
      observer: this.denyCache,
    });
  }

  /**
   * Atomic: one script evaluates every charge and writes all or nothing, inside Redis. A batch the
   * deny cache can answer is refused without a request.
   */
  apply(batch: StoreBatch): StoreResult | Promise<StoreResult> {
    return this.denyCache?.lookup(batch) ?? this.transport(batch);
  }
}
