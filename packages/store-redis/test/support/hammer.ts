/**
 * One of several OS processes hammering one limit: CALLERS concurrent acquires on a shared Redis
 * (REDIS_PORT) or Redis Cluster (CLUSTER_PORTS, comma-separated). Prints how many were admitted.
 */
import { createLimiter } from '@tollgate/core';
import { Cluster, Redis } from 'ioredis';
import { RedisStore } from '../../src/index.js';

const client = process.env.CLUSTER_PORTS
  ? new Cluster(process.env.CLUSTER_PORTS.split(',').map((port) => ({ host: '127.0.0.1', port: Number(port) })))
  : new Redis({ port: Number(process.env.REDIS_PORT), host: '127.0.0.1' });
const limiter = createLimiter({
  store: new RedisStore({ client, prefix: process.env.PREFIX }),
  limits: [
    { name: 'rpm', scope: 'user', resource: 'requests', limit: 100, window: '1m' },
    // A second identity on another slot, so cluster decisions span slots.
    { name: 'ip-rpm', scope: 'ip', resource: 'requests', limit: 10_000, window: '1m' },
  ],
});
const decisions = await Promise.all(
  Array.from({ length: Number(process.env.CALLERS) }, () => limiter.acquire({ user: 'hammered', ip: '203.0.113.50' })),
);
process.stdout.write(`${decisions.filter((d) => d.allowed).length}\n`);
await client.quit();
