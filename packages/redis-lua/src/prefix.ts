import { ConfigurationError, errorPrefix } from '@tollgate/core';

/**
 * Checks a store's key prefix: braces would open a Redis Cluster hash tag of their own (the
 * identity's tag must be the first one in the key), and whitespace makes keys hard to inspect.
 */
export function checkPrefix(prefix: unknown, store: string): string {
  if (typeof prefix !== 'string' || /[{}\s]/.test(prefix)) {
    throw new ConfigurationError(`${errorPrefix(store)} prefix must be a string without braces or whitespace, got ${JSON.stringify(prefix)}`);
  }
  return prefix;
}
