import { fileURLToPath } from 'node:url';
import { createLimiter, staticPrices } from '@tollgate/core';
import { MemoryStore } from '@tollgate/store-memory';
import { RateLimiterMemory, RateLimiterUnion } from 'rate-limiter-flexible';
import type { Suite } from './harness.js';
import { aiPolicy } from './policies.js';

/**
 * Many callers, each well inside its limits: the common case a limiter must make cheap. Every
 * contender admits every request, so no one wins by refusing early.
 */
const IDENTITIES = 200_000;
/** A fresh string per request, as a server parsing a token or header would have. */
const user = (i: number) => `user-${i % IDENTITIES}`;

/** The five-limit AI policy: requests per minute and hour, tokens per minute and hour, USD per day. */
const fiveLimits = aiPolicy(
  [['rpm', 600, '1m'], ['rph', 10_000, '1h']],
  [['tpm', 10_000_000, '1m'], ['tph', 100_000_000, '1h']],
  10_000,
);

export const suites: Record<string, Suite> = {
  single: {
    title: '(a) one request limit, 200,000 callers',
    contenders: [
      {
        name: 'rate-limiter-flexible RateLimiterMemory',
        setup() {
          const limiter = new RateLimiterMemory({ points: 600, duration: 60 });
          return (i) => limiter.consume(user(i));
        },
      },
      {
        // Not a product: the least an exact log can cost in this harness (a key, a Map, an array).
        name: 'floor: a bare exact log (no decision, no lease)',
        setup() {
          const logs = new Map<string, number[]>();
          return (i) => {
            const key = `tollgate:{user:${user(i)}}`;
            const now = Date.now();
            let log = logs.get(key);
            if (!log) logs.set(key, (log = []));
            while (log.length > 0 && log[0]! <= now - 60_000) log.shift();
            const allowed = log.length < 600;
            if (allowed) log.push(now);
            return Promise.resolve({ allowed, remaining: 600 - log.length });
          };
        },
      },
      {
        name: 'Tollgate MemoryStore (exact sliding log)',
        setup() {
          const limiter = createLimiter({
            store: new MemoryStore(),
            limits: [{ name: 'rpm', scope: 'user', resource: 'requests', limit: 600, window: '1m' }],
          });
          return (i) => limiter.acquire({ user: user(i) });
        },
      },
      {
        // Like for like: a counter, as RateLimiterMemory's fixed window is (ours never over-admits).
        name: 'Tollgate MemoryStore (sliding-window counter)',
        setup() {
          const limiter = createLimiter({
            store: new MemoryStore(),
            limits: [{ name: 'rpm', scope: 'user', resource: 'requests', limit: 600, window: '1m', algorithm: 'sliding-window' }],
          });
          return (i) => limiter.acquire({ user: user(i) });
        },
      },
    ],
  },
  five: {
    title: '(b) the five-limit AI policy, 200,000 callers: a full lease cycle against a union of five',
    contenders: [
      {
        name: 'rate-limiter-flexible RateLimiterUnion of 5',
        setup() {
          const union = new RateLimiterUnion(
            new RateLimiterMemory({ keyPrefix: 'rpm', points: 600, duration: 60 }),
            new RateLimiterMemory({ keyPrefix: 'rph', points: 10_000, duration: 3600 }),
            new RateLimiterMemory({ keyPrefix: 'tpm', points: 10_000_000, duration: 60 }),
            new RateLimiterMemory({ keyPrefix: 'tph', points: 100_000_000, duration: 3600 }),
            new RateLimiterMemory({ keyPrefix: 'usd', points: 10_000, duration: 86_400 }),
          );
          return (i) => union.consume(user(i));
        },
      },
      {
        name: 'Tollgate MemoryStore: acquire (1,000 tokens, priced) + release',
        setup() {
          const limiter = createLimiter({
            store: new MemoryStore(),
            limits: fiveLimits,
            prices: staticPrices({ 'gpt-4o-mini': { input: 0.15, output: 0.6 } }),
          });
          return async (i) => {
            const decision = await limiter.acquire({ user: user(i) }, { tokens: 1_000, model: 'gpt-4o-mini' });
            await decision.lease?.release();
          };
        },
      },
    ],
  },
  hot: {
    title: '(c) one caller charged every millisecond against 1,000,000 per minute: an exact log of 60,000 entries',
    contenders: [
      {
        name: 'rate-limiter-flexible RateLimiterMemory',
        setup() {
          // On the real clock, far above what one process can consume in a minute: it admits all.
          const limiter = new RateLimiterMemory({ points: 1e12, duration: 60 });
          return () => limiter.consume('hot');
        },
      },
      { name: 'Tollgate MemoryStore (exact sliding log)', setup: () => hotCaller('sliding-log') },
      { name: 'Tollgate MemoryStore (sliding-window counter)', setup: () => hotCaller('sliding-window') },
    ],
  },
};

const HOT_LIMIT = 1_000_000;

/**
 * One caller on a clock that moves 1 ms per decision, so its log holds an entry per millisecond of
 * the window once warmed up (60,000 decisions), whatever the machine's speed.
 */
function hotCaller(algorithm: 'sliding-log' | 'sliding-window') {
  let now = Date.now();
  const clock = () => now;
  const limiter = createLimiter({
    store: new MemoryStore({ clock }),
    clock,
    limits: [{ name: 'rpm', scope: 'user', resource: 'requests', limit: HOT_LIMIT, window: '1m', algorithm }],
  });
  return () => {
    now++;
    return limiter.acquire({ user: 'hot' });
  };
}

export const module = fileURLToPath(import.meta.url);
