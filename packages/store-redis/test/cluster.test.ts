import { createLimiter, type LimitConfig } from '@tollgate/core';
import { MemoryStore } from '@tollgate/store-memory';
import { runStoreTestSuite } from '@tollgate/store-test-suite';
import { Cluster } from 'ioredis';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { ENGINE_SHA, RedisStore } from '../src/index.js';
import { hashSlot } from '../src/cluster.js';
import { hammer } from './support/hammer-run.js';

const ports = inject('clusterPorts');
const cluster = new Cluster(ports.map((port) => ({ host: '127.0.0.1', port })));
afterAll(() => cluster.quit());

runStoreTestSuite({
  name: 'redis cluster',
  createStore: (clock) => new RedisStore({ client: cluster, clock }),
  createReference: (clock) => new MemoryStore({ clock }),
  differentialRuns: 25,
});

/** The master node that serves a key's slot. */
async function nodeOf(key: string) {
  const slot = hashSlot(key);
  const ranges = await cluster.nodes('master')[0]!.cluster('SLOTS');
  const [, , master] = ranges.find(([from, to]) => slot >= from && slot <= to)!;
  const port = master![1];
  return cluster.nodes('master').find((node) => Number(node.options.port) === port)!;
}

describe('RedisStore on a Cluster', () => {
  it('computes the same slot as the server', async () => {
    const node = cluster.nodes('master')[0]!;
    for (const key of ['tollgate:{user:alice}', 'plain-key', 'a{b}c{d}', '{}x', 'x{}y', 'p:tollgate:{ip:2001%3Adb8%3A%3A}']) {
      expect(hashSlot(key), key).toBe(await node.cluster('KEYSLOT', key));
    }
  });

  it('a decision over identities on different slots is one script per slot; a refusal anywhere charges nothing', async () => {
    const limits: LimitConfig[] = [
      { name: 'user-rpm', scope: 'user', resource: 'requests', limit: 10, window: '1m' },
      { name: 'ip-rpm', scope: 'ip', resource: 'requests', limit: 1, window: '1m' },
      { name: 'org-rpm', scope: 'org', resource: 'requests', limit: 10, window: '1m' },
    ];
    const prefix = `slots-${Date.now()}:`;
    const limiter = createLimiter({ store: new RedisStore({ client: cluster, prefix }), limits, scopes: ['org'] });
    const who = { user: 'alice', ip: '198.51.100.1', org: 'acme' };
    const slots = new Set(['user:alice', 'ip:198.51.100.1', 'org:acme'].map((tag) => hashSlot(`{${tag}}`)));
    expect(slots.size).toBe(3);
    expect((await limiter.acquire(who)).allowed).toBe(true);
    const refused = await limiter.acquire(who);
    expect(refused).toMatchObject({ allowed: false, deniedBy: [{ name: 'ip-rpm' }] });
    // The user and org slots passed, were charged, and were refunded before the decision returned.
    const usage = await limiter.usage(who);
    expect(usage.map((l) => [l.name, l.used])).toEqual([
      ['user-rpm', 1],
      ['ip-rpm', 1],
      ['org-rpm', 1],
    ]);
  });

  it('a lease spanning slots refunds its reservation on every slot (one time per decision)', async () => {
    const limiter = createLimiter({
      store: new RedisStore({ client: cluster, prefix: `lease-${Date.now()}:` }),
      limits: [
        { name: 'ip-rpm', scope: 'ip', resource: 'requests', limit: 10_000, window: '1m' },
        { name: 'tpm', scope: 'user', resource: 'tokens', limit: 10_000_000, window: '1m', algorithm: 'sliding-log' },
      ],
    });
    expect(hashSlot('{ip:198.51.100.2}')).not.toBe(hashSlot('{user:spanner}'));
    for (let i = 0; i < 30; i++) {
      const { lease } = await limiter.acquire({ user: 'spanner', ip: '198.51.100.2' }, { tokens: 500 });
      await lease!.record({ inputTokens: 100 });
      await lease!.release();
    }
    expect((await limiter.usage({ user: 'spanner' }))[0]!.used).toBe(30 * 100);
  });

  it('when one slot fails, the slots that passed are taken back', async () => {
    const limits: LimitConfig[] = [
      { name: 'ip-rpm', scope: 'ip', resource: 'requests', limit: 100, window: '1m' },
      { name: 'user-rpm', scope: 'user', resource: 'requests', limit: 100, window: '1m' },
    ];
    const prefix = `failing-${Date.now()}:`;
    const limiter = createLimiter({ store: new RedisStore({ client: cluster, prefix }), limits, onStoreError: 'deny' });
    const slotOwner = await nodeOf('{user:oom}');
    // An address whose slot lives on another node, which stays healthy.
    let ip = '';
    for (let i = 1; !ip; i++) if ((await nodeOf(`{ip:198.51.100.${i}}`)) !== slotOwner) ip = `198.51.100.${i}`;
    const who = { user: 'oom', ip };
    // A node out of memory refuses every script that may write: the user's slot fails outright.
    await slotOwner.config('SET', 'maxmemory', '1');
    try {
      for (let i = 0; i < 3; i++) expect(await limiter.acquire(who)).toMatchObject({ allowed: false, reason: 'store-error' });
    } finally {
      await slotOwner.config('SET', 'maxmemory', '0');
    }
    expect((await limiter.usage(who)).map((l) => [l.name, l.used])).toEqual([
      ['ip-rpm', 0],
      ['user-rpm', 0],
    ]);
  });

  it('hostile identity values never collide and never cross slots', async () => {
    const limiter = createLimiter({
      store: new RedisStore({ client: cluster, prefix: `hostile-${Date.now()}:` }),
      limits: [
        { name: 'rpm', scope: 'user', resource: 'requests', limit: 1, window: '1m' },
        { name: 'tpm', scope: 'user', resource: 'tokens', limit: 100, window: '1m' },
      ],
    });
    const ids = ['{a}', '}{', 'a}b{c', '{', '}', 'x:y', 'x\ny', '用户', 'x'.repeat(10_240)];
    for (const id of ids) expect((await limiter.acquire({ user: id }, { tokens: 1 })).allowed, JSON.stringify(id)).toBe(true);
    for (const id of ids) expect((await limiter.acquire({ user: id })).allowed).toBe(false);
  });

  it('no over-admission: 4 processes x 50 concurrent callers, each decision spanning two slots, admit exactly 100', async () => {
    expect(await hammer(4, 50, { CLUSTER_PORTS: ports.join(','), PREFIX: `hammer-${Date.now()}:` })).toBe(100);
  });

  it('runs the script on a node that never saw it (EVALSHA, then EVAL on NOSCRIPT)', async () => {
    await Promise.all(cluster.nodes('master').map((node) => node.script('FLUSH')));
    const limiter = createLimiter({
      store: new RedisStore({ client: cluster, prefix: `fresh-${Date.now()}:` }),
      limits: [{ name: 'rpm', scope: 'user', resource: 'requests', limit: 5, window: '1m' }],
    });
    for (const user of ['a', 'b', 'c', 'd', 'e', 'f']) expect((await limiter.acquire({ user })).allowed).toBe(true);
    const loaded = await Promise.all(cluster.nodes('master').map((node) => node.script('EXISTS', ENGINE_SHA)));
    expect(loaded.flat()).toContain(1);
  });
});
