import { fileURLToPath } from 'node:url';
import { createLimiter, staticPrices, type LimitConfig } from '@tollgate/core';
import { RedisStore } from '@tollgate/store-redis';
import { Ratelimit } from '@upstash/ratelimit';
import { Redis } from 'ioredis';
import { RateLimiterRedis, RateLimiterUnion } from 'rate-limiter-flexible';
import type { Suite } from './harness.js';
import { aiPolicy } from './policies.js';
import { upstashOverIoredis } from './upstash-over-ioredis.js';

/**
 * Redis: 64 concurrent callers over 1,000 identities, against one local redis-server (started by
 * main.ts, port in BENCH_REDIS_PORT). Limits are high enough that every contender admits every
 * request. Windows are one second for request limits, so an exact log stays as small as a real
 * per-user rate would keep it.
 */
const IDENTITIES = 1_000;
const user = (i: number) => `user-${i % IDENTITIES}`;

let connection: Redis | undefined;
function client(): Redis {
  connection ??= new Redis({ port: Number(process.env.BENCH_REDIS_PORT), host: '127.0.0.1' });
  return connection;
}

/** Commands the server has run, and script calls among them. */
async function commandCounters(): Promise<Record<string, number>> {
  const info = await client().info('commandstats');
  let commands = 0;
  let scripts = 0;
  for (const [, name, calls] of info.matchAll(/cmdstat_([a-z|]+):calls=(\d+)/g)) {
    if (name === 'info') continue;
    commands += Number(calls);
    if (name === 'evalsha' || name === 'eval') scripts += Number(calls);
  }
  return { commands, 'script calls': scripts };
}

const common = {
  concurrency: 64,
  async prepare() {
    await client().flushall();
    await client().config('RESETSTAT');
  },
  counters: commandCounters,
};

const fiveLimits = aiPolicy(
  [['rps', 1_000_000, '1s'], ['rpm', 10_000_000, '1m']],
  [['tpm', 1e12, '1m'], ['tph', 1e13, '1h']],
  1_000_000,
);
/** Like for like: the peers count requests in windows, so the same policy with counters for its request limits too. */
const fiveCounters = fiveLimits.map((limit) => (limit.resource === 'requests' ? { ...limit, algorithm: 'sliding-window' as const } : limit));
/** (a)'s one request limit, as an exact log (the default) and as a counter (like for like). */
const rpsLog: LimitConfig = { name: 'rps', scope: 'user', resource: 'requests', limit: 1_000_000, window: '1s' };
const rpsCounter: LimitConfig = { ...rpsLog, algorithm: 'sliding-window' };
/** (b)'s demand: 1,000 tokens and their cost reserved. */
const reservation = { tokens: 1_000, model: 'gpt-4o-mini' };
const prices = staticPrices({ 'gpt-4o-mini': { input: 0.15, output: 0.6 } });

const noopSha = 'return 1';

/**
 * Not a product: a Tollgate decision's script with the engine's logic taken out, called straight
 * from the client with no limiter in Node. It receives the KEYS and argument of a real decision and
 * does what a one-script decision of this design cannot avoid: one `cjson.decode` of that argument,
 * `TIME`, one HMGET of the same fields, one HSET of a 32-byte value per counter, and a reply as long
 * as the engine's. So it bounds what such a decision can reach here: the gap from the no-op EVALSHA
 * is the shape's cost, the gap down to Tollgate is the engine's logic and the limiter's own work.
 */
const SHAPE_LUA = `
local b = cjson.decode(ARGV[1])
local time = redis.call('TIME')
local m = b[4]
local values = redis.call('HMGET', KEYS[1], '~e', unpack(b, 5, 4 + m))
local value, set = struct.pack('>dddd', 1, 2, 3, 4), {}
for i = 5, 4 + m do
  if string.sub(b[i], -1) ~= '#' then set[#set + 1] = b[i] set[#set + 1] = value end
end
redis.call('HSET', KEYS[1], unpack(set))
local reply = { tonumber(time[1]), 1 }
for i = 1, #set / 2 * 3 do reply[#reply + 1] = 0 end
return reply
`;

/**
 * The shape floor for a policy: records the script call of one real decision of `user-0` (its
 * KEYS and batch argument), then replays it for every identity through SHAPE_LUA.
 */
async function shapeFloor(limits: LimitConfig[], demand?: typeof reservation) {
  const redis = client();
  let recorded: { keys: string[]; argv: string } | undefined;
  const recorder = {
    evalsha: (sha: string, count: number, ...rest: string[]) => {
      recorded = { keys: rest.slice(0, count), argv: rest[count]! };
      return redis.evalsha(sha, count, ...rest);
    },
    eval: (script: string, count: number, ...rest: string[]) => redis.eval(script, count, ...rest),
  } as unknown as Redis;
  await createLimiter({ store: new RedisStore({ client: recorder }), limits, prices }).acquire({ user: user(0) }, demand);
  const { keys, argv } = recorded!;
  const sha = (await redis.script('LOAD', SHAPE_LUA)) as string;
  const tag = `{user:${user(0)}}`;
  return (i: number) => redis.evalsha(sha, keys.length, ...keys.map((key) => key.replace(tag, `{user:${user(i)}}`)), argv);
}

export const suites: Record<string, Suite> = {
  single: {
    ...common,
    title: '(a) one request limit: 64 concurrent callers, 1,000 identities, one redis-server',
    contenders: [
      {
        name: 'rate-limiter-flexible RateLimiterRedis',
        setup() {
          const limiter = new RateLimiterRedis({ storeClient: client(), points: 1_000_000, duration: 1 });
          return (i) => limiter.consume(user(i));
        },
      },
      {
        name: '@upstash/ratelimit slidingWindow',
        setup() {
          const limiter = new Ratelimit({ redis: upstashOverIoredis(client()), limiter: Ratelimit.slidingWindow(1_000_000, '1 s') });
          return (i) => limiter.limit(user(i));
        },
      },
      {
        name: 'Tollgate RedisStore (exact sliding log)',
        setup() {
          const limiter = createLimiter({
            store: new RedisStore({ client: client() }),
            limits: [rpsLog],
          });
          return (i) => limiter.acquire({ user: user(i) });
        },
      },
      {
        // Like for like: a counter, as the peers' fixed and two-window algorithms are.
        name: 'Tollgate RedisStore (sliding-window counter)',
        setup() {
          const limiter = createLimiter({
            store: new RedisStore({ client: client() }),
            limits: [rpsCounter],
          });
          return (i) => limiter.acquire({ user: user(i) });
        },
      },
      {
        name: "floor: Tollgate's script without its logic (see SHAPE_LUA), one sliding-window counter",
        setup: () => shapeFloor([rpsCounter]),
      },
    ],
  },
  five: {
    ...common,
    title: '(b) the five-limit AI policy (requests per second and minute, tokens per minute and hour, USD per day)',
    contenders: [
      {
        name: 'rate-limiter-flexible RateLimiterUnion of 5',
        setup() {
          const limiter = (keyPrefix: string, duration: number) =>
            new RateLimiterRedis({ storeClient: client(), keyPrefix, points: 1e12, duration });
          const union = new RateLimiterUnion(limiter('rps', 1), limiter('rpm', 60), limiter('tpm', 60), limiter('tph', 3600), limiter('usd', 86_400));
          return (i) => union.consume(user(i));
        },
      },
      {
        name: '@upstash/ratelimit, 5 limiters awaited together',
        setup() {
          const redis = upstashOverIoredis(client());
          const limiters = [
            Ratelimit.slidingWindow(1_000_000, '1 s'),
            Ratelimit.slidingWindow(10_000_000, '1 m'),
            Ratelimit.slidingWindow(1e12, '1 m'),
            Ratelimit.slidingWindow(1e13, '1 h'),
            Ratelimit.fixedWindow(1e12, '1 d'),
          ].map((limiter, index) => new Ratelimit({ redis, limiter, prefix: `upstash-${index}` }));
          return (i) => Promise.all(limiters.map((limiter) => limiter.limit(user(i))));
        },
      },
      {
        name: 'Tollgate RedisStore: acquire, 1,000 tokens and their cost reserved (exact sliding logs for requests)',
        setup() {
          const limiter = createLimiter({ store: new RedisStore({ client: client() }), limits: fiveLimits, prices });
          // The lease is left to expire by TTL: this measures the decision.
          return (i) => limiter.acquire({ user: user(i) }, reservation);
        },
      },
      {
        name: 'Tollgate RedisStore: the same, sliding-window counters for requests (like for like)',
        setup() {
          const limiter = createLimiter({ store: new RedisStore({ client: client() }), limits: fiveCounters, prices });
          return (i) => limiter.acquire({ user: user(i) }, reservation);
        },
      },
      {
        name: "floor: Tollgate's script without its logic (see SHAPE_LUA), the policy with counters",
        setup: () => shapeFloor(fiveCounters, reservation),
      },
      {
        name: 'ceiling: a no-op EVALSHA through the same client',
        async setup() {
          const redis = client();
          const sha = (await redis.script('LOAD', noopSha)) as string;
          return (i) => redis.evalsha(sha, 1, user(i));
        },
      },
    ],
  },
};

export const module = fileURLToPath(import.meta.url);
