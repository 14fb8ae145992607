import { errorPrefix, StoreError, TollgateError, type StoreBatch, type StoreResult } from '@tollgate/core';
import { decodeReply, encodeBatch } from './codec.js';

/** What a store gives `createTransport`: its client's two ways to run a script, and its settings. */
export interface TransportOptions {
  /** The store's name in error messages, e.g. `'store-redis'`. */
  readonly store: string;
  /** Prepended to every key, already checked with `checkPrefix`. */
  readonly prefix: string;
  /** Tests only: a clock that replaces Redis's `TIME`. */
  readonly clock: (() => number) | undefined;
  /** EVALSHA of `ENGINE_SHA` through the store's client, with a batch's KEYS and its one ARGV value. */
  readonly evalsha: (keys: string[], argv: [string]) => Promise<unknown>;
  /** EVAL of `ENGINE_LUA` through the store's client, likewise. */
  readonly eval: (keys: string[], argv: [string]) => Promise<unknown>;
  /** Told every result as it is decoded (the Upstash store's deny cache). */
  readonly observer?: { learn(batch: StoreBatch, result: StoreResult): void } | undefined;
}

/**
 * How a store's batch reaches the engine script and its result comes back, in one round trip;
 * `now` stamps the batch with a time instead of the server's (or the test clock's). Never throws: a
 * failure rejects, as a `StoreError`.
 */
export type Transport = (batch: StoreBatch, now?: number) => Promise<StoreResult>;

/**
 * A store's transport to the engine script: encodes a batch, runs the script by its SHA, and sends
 * the script itself only when the server does not have it (a new server, a fresh cluster node,
 * after `SCRIPT FLUSH`): one round trip in the steady state. Clients report the missing script in
 * their own words, but always with Redis's `NOSCRIPT` in them. The reply is decoded, and any
 * failure becomes a `StoreError` naming the store, in the same promise step as the reply's
 * arrival: a decision pays for one step, not one per layer.
 */
export function createTransport(options: TransportOptions): Transport {
  const { store, prefix, clock, evalsha, eval: evaluate, observer } = options;
  const failed = (error: unknown): never => {
    throw asStoreError(error, store);
  };
  return (batch, now) => {
    try {
      const encoded = encodeBatch(batch, prefix, now ?? clock?.());
      const { keys, argv } = encoded;
      const decoded = (reply: unknown): StoreResult => {
        try {
          const result = decodeReply(reply, encoded);
          observer?.learn(batch, result);
          return result;
        } catch (error) {
          throw asStoreError(error, store);
        }
      };
      return evalsha(keys, argv).then(decoded, (error: unknown) => {
        if (!String((error as Error)?.message ?? error).includes('NOSCRIPT')) failed(error);
        return evaluate(keys, argv).then(decoded, failed);
      });
    } catch (error) {
      return Promise.reject(asStoreError(error, store));
    }
  };
}

/** A client or server failure as the limiter expects it: a `StoreError` naming the store. */
export function asStoreError(error: unknown, store: string): TollgateError {
  if (error instanceof TollgateError) return error;
  return new StoreError(`${errorPrefix(store)} ${(error as Error)?.message ?? String(error)}`, { cause: error });
}
