/**
 * A separate OS process on a shared database file. MODE=hammer: CALLERS concurrent acquires, prints
 * how many were admitted. MODE=spend: records $0.01 at a time forever, printing each one committed.
 */
import { createLimiter } from '@tollgate/core';
import { SqliteStore } from '../../src/index.js';

const store = new SqliteStore({ database: process.env.DB!, busyTimeoutMs: 5_000 });
if (process.env.MODE === 'hammer') {
  const limiter = createLimiter({ store, timeoutMs: 10_000, limits: [{ name: 'rpm', scope: 'user', resource: 'requests', limit: 60, window: '1m' }] });
  const decisions = await Promise.all(Array.from({ length: Number(process.env.CALLERS) }, () => limiter.acquire({ user: 'hammered' })));
  process.stdout.write(`${decisions.filter((d) => d.allowed).length}\n`);
  store.close();
} else {
  const limiter = createLimiter({ store, limits: [{ name: 'daily-usd', scope: 'user', resource: 'cost', limit: 1_000, reset: { every: 'day' } }] });
  const { lease } = await limiter.acquire({ user: 'spender' }, { cost: 0 });
  for (let n = 1; ; n++) {
    await lease!.record({ cost: 0.01 });
    process.stdout.write(`${n}\n`);
  }
}
