import { ConfigurationError, StoreError, TollgateError } from '@tollgate/core';

/**
 * Checks a store's key prefix: braces would open a Redis Cluster hash tag of their own (the
 * identity's tag must be the first one in the key), and whitespace makes keys hard to inspect.
 */
export function checkPrefix(prefix: unknown, store: string): string {
  if (typeof prefix !== 'string' || /[{}\s]/.test(prefix)) {
    throw new ConfigurationError(`[${store}] prefix must be a string without braces or whitespace, got ${JSON.stringify(prefix)}`);
  }
  return prefix;
}

/**
 * Runs the engine by its SHA, and sends the script itself only when the server does not have it
 * (a new server, a fresh cluster node, after `SCRIPT FLUSH`): one round trip in the steady state.
 * Clients report the missing script in their own words, but always with Redis's `NOSCRIPT` in them.
 * The reply is decoded, and any failure becomes a `StoreError` naming `store`, in the same promise
 * step as the reply's arrival: a decision pays for one step, not one per layer.
 */
export function evalWithFallback<T>(
  evalsha: () => Promise<unknown>,
  evaluate: () => Promise<unknown>,
  decode: (reply: unknown) => T,
  store: string,
): Promise<T> {
  const decoded = (reply: unknown): T => {
    try {
      return decode(reply);
    } catch (error) {
      throw asStoreError(error, store);
    }
  };
  const failed = (error: unknown): never => {
    throw asStoreError(error, store);
  };
  return evalsha().then(decoded, (error: unknown) => {
    if (!String((error as Error)?.message ?? error).includes('NOSCRIPT')) failed(error);
    return evaluate().then(decoded, failed);
  });
}

/** A client or server failure as the limiter expects it: a `StoreError` naming the store. */
export function asStoreError(error: unknown, store: string): TollgateError {
  if (error instanceof TollgateError) return error;
  return new StoreError(`[tollgate] [${store}] ${(error as Error)?.message ?? String(error)}`, { cause: error });
}
