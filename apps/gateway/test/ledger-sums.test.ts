import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, stopServer } from '@tollgate/dev-redis';
import { MISBEHAVIOURS, startHostileUpstream } from '@tollgate/test-kit/hostile-upstream';
import { seededRandom } from '@tollgate/test-kit/random';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningGateway } from '../src/gateway.js';
import type { GroupReport } from '../src/ledger/spend-report.js';
import { afterTest, client, eventually, gatewayWith, spend, usedOf, writeConfig } from './support.js';

const nano = (usd: number) => Math.round(usd * 1e9);
const REQUESTS = 1_000;
const CONCURRENCY = 20;
const USERS = ['alice', 'bob'] as const;

/**
 * alice's budget fills past 30% within the run, so her later requests take the ladder's second
 * step; bob may make 150 requests an hour, so about two thirds of his are refused.
 */
const POLICY = `
tiers:
  metered:
    limits:
      - { name: rpm, scope: user, resource: requests, limit: 100000, window: 1m }
      - { name: daily-usd, scope: user, resource: cost, limit: 0.05, reset: { every: day } }
      - { name: inflight, scope: user, resource: concurrency, limit: 1000 }
    degrade:
      budget: daily-usd
      steps:
        - { below: 0.3, model: gpt-4o, maxTokens: 64 }
        - { model: gpt-4o-mini, maxTokens: 16 }
  capped:
    limits:
      - { name: rph, scope: user, resource: requests, limit: 150, window: 1h }
      - { name: daily-usd, scope: user, resource: cost, limit: 5, reset: { every: day } }
      - { name: inflight, scope: user, resource: concurrency, limit: 1000 }
teams:
  research: { limits: [] }
users:
  alice: { tier: metered, team: research }
  bob: { tier: capped }
keys:
  sk-test-alice: { user: alice, name: alice-key }
  sk-test-bob: { user: bob, name: bob-key }
`;

const MESSAGES = [{ role: 'user', content: 'Tell the ledger something worth keeping.' }];

/** One kind of request: its path, its body, and whether the client reads all of it or leaves after the first chunk. */
interface Kind {
  readonly path: string;
  readonly body: Record<string, unknown>;
  readonly read: 'all' | 'first-chunk';
}

const KINDS: readonly Kind[] = [
  { path: '/v1/chat/completions', body: { model: 'gpt-4o', messages: MESSAGES, max_tokens: 40 }, read: 'all' },
  { path: '/v1/chat/completions', body: { model: 'gpt-4o', messages: MESSAGES, max_tokens: 40, stream: true }, read: 'all' },
  { path: '/v1/chat/completions', body: { model: 'gpt-4o', messages: MESSAGES, max_tokens: 200, stream: true }, read: 'first-chunk' },
  { path: '/v1/responses', body: { model: 'gpt-4o', input: 'Keep it short.', max_output_tokens: 40 }, read: 'all' },
  { path: '/v1/responses', body: { model: 'gpt-4o', input: 'Keep it long.', max_output_tokens: 200, stream: true }, read: 'first-chunk' },
  { path: '/v1/embeddings', body: { model: 'text-embedding-3-small', input: 'a line to embed' }, read: 'all' },
  { path: '/v1/messages', body: { model: 'claude-haiku-4-5', max_tokens: 40, messages: MESSAGES }, read: 'all' },
  { path: '/v1/messages', body: { model: 'claude-haiku-4-5', max_tokens: 200, messages: MESSAGES, stream: true }, read: 'first-chunk' },
  // No price anywhere: refused before it is counted (bob's tier has no ladder to replace it).
  { path: '/v1/chat/completions', body: { model: 'house-model', messages: MESSAGES }, read: 'all' },
];

/** Sends one request as a client would, reading its answer whole or leaving after the first chunk. */
async function send(gateway: RunningGateway, user: string, kind: Kind): Promise<void> {
  const abort = new AbortController();
  const response = await fetch(`${gateway.url}${kind.path}`, {
    method: 'POST',
    headers: { authorization: `Bearer sk-test-${user}`, 'content-type': 'application/json' },
    body: JSON.stringify(kind.body),
    signal: abort.signal,
  });
  if (kind.read === 'all' || !response.ok) {
    await response.arrayBuffer();
    return;
  }
  await response.body!.getReader().read();
  abort.abort();
}

/** A thousand requests of every kind from both users, twenty at a time, in an order fixed by a seed. */
async function mixedTraffic(gateway: RunningGateway): Promise<void> {
  const random = seededRandom(23);
  const plan = Array.from({ length: REQUESTS }, () => {
    const user = USERS[Math.floor(random() * USERS.length)]!;
    const kinds = user === 'alice' ? KINDS.slice(0, -1) : KINDS;
    return { user, kind: kinds[Math.floor(random() * kinds.length)]! };
  });
  let next = 0;
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < plan.length) {
      const { user, kind } = plan[next++]!;
      await send(gateway, user, kind);
    }
  }));
}

/** Each user's ledger sum and rows once every request's row is written, and what the counters charged them. */
async function ledgerAndCounters(gateway: RunningGateway) {
  const { body } = await eventually(() => spend<GroupReport>(gateway, { groupBy: 'user' }), ({ body }) => body.total?.requests === REQUESTS, 30_000);
  const counters: Record<string, number> = {};
  for (const user of USERS) counters[user] = nano((await eventually(() => usedOf(gateway.policy.limiter, { user }), (used) => used.inflight === 0))['daily-usd']!);
  const ledger = Object.fromEntries(body.groups.map((group) => [group.key, group.costNanoUsd]));
  return { ledger, counters, total: body.total };
}

/** How many rows have each value of a field, over the whole ledger. */
async function countsOf(gateway: RunningGateway, field: 'status' | 'degradeStep'): Promise<Map<unknown, number>> {
  const counts = new Map<unknown, number>();
  for (let offset = 0; offset < REQUESTS; offset += 1_000) {
    const { body } = await spend(gateway, { limit: '1000', offset: String(offset) });
    for (const row of body.rows) counts.set(row[field], (counts.get(row[field]) ?? 0) + 1);
  }
  return counts;
}

let redisDir: string;
let redisPort: number;

beforeAll(async () => {
  redisDir = mkdtempSync(join(tmpdir(), 'tollgate-ledger-redis-'));
  redisPort = await startServer(redisDir);
});

afterAll(async () => {
  if (redisPort) await stopServer(redisPort);
  rmSync(redisDir, { recursive: true, force: true });
});

const stores: Array<[string, () => string]> = [
  ['SQLite', () => ''],
  ['one redis-server', () => `redis://127.0.0.1:${redisPort}`],
];

describe.each(stores)('the spend ledger on %s', (_name, store) => {
  it('agrees with the counters to the nano-dollar after a thousand mixed requests (JSON, streams cut off by the client, refusals, degradation steps), and keeps it all across a restart', async () => {
    const file = writeConfig(POLICY, { chunkDelayMs: 5, store: store() });
    const gateway = await gatewayWith(file);

    await mixedTraffic(gateway);

    const before = await ledgerAndCounters(gateway);
    expect(before.ledger).toEqual(before.counters);
    expect(before.counters.alice).toBeGreaterThan(0);
    // The run had every case it claims: answers, cut streams, refusals by a limit and by the gateway, both steps.
    const statuses = await countsOf(gateway, 'status');
    expect([...statuses.keys()].sort((a, b) => Number(a) - Number(b))).toEqual([200, 400, 429, 499]);
    const steps = await countsOf(gateway, 'degradeStep');
    expect(steps.get(0)).toBeGreaterThan(0);
    expect(steps.get(1)).toBeGreaterThan(0);

    await gateway.close();
    const restarted = await gatewayWith(file);

    const after = await ledgerAndCounters(restarted);
    expect(after).toEqual(before);
  });
});

describe('the spend ledger in front of an upstream that misbehaves', () => {
  const carol = `
tiers:
  metered:
    limits:
      - { name: daily-usd, scope: user, resource: cost, limit: 1000, reset: { every: day } }
      - { name: inflight, scope: user, resource: concurrency, limit: 100 }
users:
  carol: { tier: metered }
keys:
  sk-test-carol: { user: carol, name: carol-key }
`;

  it.each(MISBEHAVIOURS)('%s: each row is what the counters charged (kept reservations and overruns included)', async (behaviour) => {
    const upstream = await startHostileUpstream({ behaviour });
    afterTest(() => upstream.close());
    const gateway = await gatewayWith(writeConfig(carol, { upstream: upstream.url }));
    const openai = client(gateway, 'sk-test-carol');
    const body = { model: 'o3', messages: [{ role: 'user' as const, content: 'Think, then answer.' }], max_completion_tokens: 500 };

    for (let i = 0; i < 3; i++) {
      await openai.chat.completions.create(body).catch(() => undefined);
      await (async () => {
        for await (const _ of await openai.chat.completions.create({ ...body, stream: true }));
      })().catch(() => undefined);
    }

    const { body: report } = await eventually(() => spend<GroupReport>(gateway, { groupBy: 'user' }), ({ body }) => body.total.requests === 6);
    const used = await eventually(() => usedOf(gateway.policy.limiter, { user: 'carol' }), (u) => u.inflight === 0);
    expect(report.total.costNanoUsd).toBe(nano(used['daily-usd']!));
    expect(report.total.costNanoUsd).toBeGreaterThan(0);
  });
});
