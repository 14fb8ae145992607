import { createHash } from 'node:crypto';
import type { Redis as UpstashRedis } from '@upstash/redis';
import type { Redis } from 'ioredis';

const sha1 = (text: string) => createHash('sha1').update(text).digest('hex');

/**
 * Just enough of @upstash/redis for @upstash/ratelimit, over an ioredis connection, so it runs
 * against the same redis-server as the other contenders. Its scripts open with a
 * `#!lua flags=allow-key-locking` line that Redis 7.0 rejects: the first line is stripped, and the
 * SHA it asks for is mapped to the stripped script's.
 */
export function upstashOverIoredis(client: Redis): UpstashRedis {
  const stripped = new Map<string, { sha: string; script: string }>();
  const strip = (script: string) => {
    const hash = sha1(script);
    let entry = stripped.get(hash);
    if (!entry) {
      const body = script.startsWith('#!') ? script.slice(script.indexOf('\n') + 1) : script;
      stripped.set(hash, (entry = { sha: sha1(body), script: body }));
    }
    return entry;
  };
  const adapter = {
    async evalsha(hash: string, keys: string[], args: unknown[]) {
      const entry = stripped.get(hash);
      // Unknown until the library sends the script once (as it does on NOSCRIPT).
      if (!entry) throw new Error('NOSCRIPT No matching script');
      return client.evalsha(entry.sha, keys.length, ...keys, ...(args as string[]));
    },
    async eval(script: string, keys: string[], args: unknown[]) {
      return client.eval(strip(script).script, keys.length, ...keys, ...(args as string[]));
    },
  };
  return adapter as unknown as UpstashRedis;
}
