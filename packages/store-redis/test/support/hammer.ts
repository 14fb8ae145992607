/**
 * One of several OS processes hammering one limit: CALLERS concurrent acquires on a shared Redis.
 * Prints how many were admitted.
 */
import { createLimiter } from '@tollgate/core';
import { Redis } from 'ioredis';
import { RedisStore } from '../../src/index.js';

const client = new Redis({ port: Number(process.env.REDIS_PORT), host: '127.0.0.1' });
const limiter = createLimiter({
  store: new RedisStore({ client, prefix: process.env.PREFIX }),
  limits: [{ name: 'rpm', scope: 'user', resource: 'requests', limit: 100, window: '1m' }],
});
const decisions = await Promise.all(Array.from({ length: Number(process.env.CALLERS) }, () => limiter.acquire({ user: 'hammered' })));
process.stdout.write(`${decisions.filter((d) => d.allowed).length}\n`);
await client.quit();
