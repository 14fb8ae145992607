/**
 * A tour of Tollgate: one limiter with the five-limit AI policy, an in-memory store and a simulated
 * clock (so a minute passes in an instant), printing every decision it makes.
 */
import { createLimiter, staticPrices, type Identity, type RequestDecision } from '@tollgate/core';
import { MemoryStore } from '@tollgate/store-memory';

let now = Date.UTC(2026, 10, 24, 9, 0, 0);
const clock = () => now;
const wait = (ms: number) => {
  now += ms;
};

const limiter = createLimiter({
  store: new MemoryStore({ clock }),
  clock,
  limits: [
    { name: 'rpm', scope: 'user', resource: 'requests', limit: 5, window: '1m' },
    { name: 'tpm', scope: 'user', resource: 'tokens', limit: 20_000, window: '1m' },
    { name: 'daily-usd', scope: 'user', resource: 'cost', limit: 1, reset: { every: 'day', timeZone: 'America/New_York' } },
    { name: 'ip-rpm', scope: 'ip', resource: 'requests', limit: 30, window: '1m' },
    { name: 'inflight', scope: 'user', resource: 'concurrency', limit: 2 },
    { name: 'searches', scope: 'user', resource: 'toolCalls', tool: 'web_search', limit: 3, window: '1m' },
  ],
  degrade: {
    budget: 'daily-usd',
    steps: [
      { below: 0.5, model: 'gpt-4o', maxTokens: 4096 },
      { below: 0.8, model: 'gpt-4o-mini', maxTokens: 2048 },
      { model: 'gpt-4o-mini', maxTokens: 1024 },
    ],
  },
  prices: staticPrices({
    'gpt-4o': { input: 2.5, output: 10, cachedInput: 1.25 },
    'gpt-4o-mini': { input: 0.15, output: 0.6, cachedInput: 0.075 },
  }),
  lease: { maxSteps: 3 },
});

function show(label: string, d: RequestDecision) {
  const retry = d.retryAfterMs === Infinity ? 'can never fit' : `retry in ${d.retryAfterMs / 1000}s`;
  const verdict = d.allowed ? 'allowed' : `DENIED by ${d.deniedBy.map((l) => l.name).join(', ')} (${retry})`;
  const limits = d.limits.map((l) => `${l.name} ${round(l.remaining)}/${round(l.limit)}`).join('  ');
  const degrade = d.degrade
    ? `  -> ${Math.round(d.degrade.usageRatio * 100)}% of budget used: ${d.degrade.model}, max_tokens ${d.degrade.maxTokens}`
    : '';
  console.log(`${label.padEnd(38)} ${verdict}\n${''.padEnd(38)} left: ${limits}${degrade}`);
}
const round = (n: number) => Math.round(n * 10_000) / 10_000;

const alice: Identity = { user: 'alice', ip: '203.0.113.9' };
const bob: Identity = { user: 'bob', ip: '203.0.113.9' };

console.log('\n1. Request limits: the sixth request in a minute is refused, with an exact Retry-After');
for (let i = 1; i <= 6; i++) {
  const d = await limiter.acquire(alice, { tokens: 500, model: 'gpt-4o-mini' });
  show(`alice request ${i}`, d);
  await d.lease?.record({ inputTokens: 300, outputTokens: 150 });
  await d.lease?.release();
  wait(5_000);
}

console.log('\n2. Weighted demand: 30,000 tokens do not fit in 20,000 and nothing is charged');
show('bob asks for 30,000 tokens', await limiter.acquire(bob, { tokens: 30_000, model: 'gpt-4o' }));
show('bob asks for 3,000 tokens', await limiter.check(bob, { tokens: 3_000, model: 'gpt-4o' }));

console.log('\n3. Leases: reserve an estimate, record each LLM call, refund the rest');
const job = await limiter.acquire(bob, { tokens: 8_000, model: 'gpt-4o' });
show('bob reserves 8,000 tokens of gpt-4o', job);
if (job.allowed) {
  for (const usage of [{ inputTokens: 1_200, outputTokens: 400 }, { inputTokens: 2_000, cachedInputTokens: 1_200, outputTokens: 600 }]) {
    const step = await job.lease.step();
    if (!step.allowed) break;
    const recorded = await job.lease.record(usage);
    console.log(`${''.padEnd(38)} LLM call: ${recorded.tokens} tokens, $${recorded.cost}`);
  }
  const search = [];
  for (let i = 0; i < 4; i++) search.push((await job.lease.tool('web_search')).allowed ? 'ok' : 'refused');
  console.log(`${''.padEnd(38)} web_search x4: ${search.join(', ')}`);
  await job.lease.release();
  console.log(`${''.padEnd(38)} released: ${job.lease.totals.tokens} tokens, $${job.lease.totals.cost} charged in all`);
}

console.log('\n4. Concurrency: two agent runs in flight, a third waits');
const runs = [await limiter.acquire(bob), await limiter.acquire(bob)];
show('bob starts a third run', await limiter.acquire(bob));
for (const run of runs) await run.lease?.release();
show('after both finish', await limiter.check(bob));

console.log('\n5. Degradation: as the daily $1 budget fills, cheaper models, then a refusal');
const carol: Identity = { user: 'carol' };
for (const spend of [0.3, 0.3, 0.25, 0.1, 0.1]) {
  wait(20_000);
  const d = await limiter.acquire(carol, { cost: spend });
  show(`carol's agent spends $${spend}`, d);
  await d.lease?.record({ cost: spend });
  await d.lease?.release();
}
console.log('');
