import { startBridge, type Bridge } from '@tollgate/upstash-bridge';
import { Redis, type RedisConfigNodejs } from '@upstash/redis';
import { afterAll, beforeAll, inject } from 'vitest';

export const TOKEN = 'tollgate-test-token';

/**
 * An Upstash-compatible bridge in front of the tests' redis-server, in this process so tests can
 * count the HTTP requests it receives; started before and closed after the file's tests.
 */
export function useBridge(): { readonly bridge: Bridge; client(config?: Partial<RedisConfigNodejs>): Redis } {
  let bridge: Bridge | undefined;
  beforeAll(async () => {
    bridge = await startBridge({ redis: { port: inject('redisPort') }, token: TOKEN, port: 0 });
  });
  afterAll(() => bridge?.close());
  return {
    get bridge() {
      return bridge!;
    },
    /** An @upstash/redis client of the bridge: no retries unless asked, so a failure shows at once. */
    client(config = {}) {
      return new Redis({ url: bridge!.url, token: TOKEN, retry: false, ...config });
    },
  };
}
