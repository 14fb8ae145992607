import { MemoryStore } from '@tollgate/store-memory';
import { runStoreTestSuite } from '@tollgate/store-test-suite';
import { Redis } from 'ioredis';
import { afterAll, inject } from 'vitest';
import { RedisStore } from '../src/index.js';

const client = new Redis({ port: inject('redisPort'), host: '127.0.0.1' });
afterAll(() => client.quit());

runStoreTestSuite({
  name: 'redis',
  createStore: (clock) => new RedisStore({ client, clock }),
  createReference: (clock) => new MemoryStore({ clock }),
});
