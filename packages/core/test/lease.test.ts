import { describe, expect, it } from 'vitest';
import { createLimiter, InvalidInputError, staticPrices, type LimitConfig, type LimiterOptions } from '../src/index.js';
import { EngineStore, manualClock } from './support/engine-store.js';

const prices = staticPrices({ 'gpt-4o': { input: 2.5, output: 10 } });
const tpm: LimitConfig = { name: 'tpm', scope: 'user', resource: 'tokens', limit: 10_000, window: '1m' };
const usd: LimitConfig = { name: 'usd', scope: 'user', resource: 'cost', limit: 1, reset: { every: 'day' } };
const inflight: LimitConfig = { name: 'inflight', scope: 'user', resource: 'concurrency', limit: 2 };
const rpm: LimitConfig = { name: 'rpm', scope: 'user', resource: 'requests', limit: 100, window: '1m' };

function setup(limits: LimitConfig[], options: Partial<LimiterOptions> = {}) {
  const clock = manualClock();
  const store = new EngineStore(clock);
  const limiter = createLimiter({ store, limits, clock, prices, ...options });
  const used = async (name: string, identity = { user: 'u' }) => (await limiter.usage(identity)).find((l) => l.name === name)!.used;
  return { clock, store, limiter, used };
}

describe('leases', () => {
  it('reserves the estimate, then release refunds what was not used', async () => {
    const { limiter, used } = setup([rpm, tpm, usd]);
    const { lease } = await limiter.acquire({ user: 'u' }, { tokens: 3000, model: 'gpt-4o' });
    expect(await used('tpm')).toBe(3000);
    expect(await used('usd')).toBe(0.03); // 3000 tokens at the output rate
    await lease!.record({ inputTokens: 1200, outputTokens: 800 });
    await lease!.release();
    expect(await used('tpm')).toBe(2000);
    expect(await used('usd')).toBe(0.011); // 1200 * 2.5/M + 800 * 10/M
    expect(await used('rpm')).toBe(1); // a request stays a request
  });

  it('charges an overrun at once and keeps it after release', async () => {
    const { limiter, used } = setup([tpm, usd]);
    const { lease } = await limiter.acquire({ user: 'u' }, { tokens: 1000, model: 'gpt-4o' });
    const result = await lease!.record({ inputTokens: 1000, outputTokens: 500 });
    expect(result).toMatchObject({ tokens: 1500, overrunTokens: 500 });
    expect(await used('tpm')).toBe(1500);
    await lease!.release();
    expect(await used('tpm')).toBe(1500);
    expect(await used('usd')).toBe(0.0075);
  });

  it('a workflow of many LLM calls is one request and many records; the budget sees the exact sum', async () => {
    const { limiter, used } = setup([rpm, tpm, usd]);
    const { lease } = await limiter.acquire({ user: 'u' }, { tokens: 2000, model: 'gpt-4o' });
    for (let i = 0; i < 5; i++) await lease!.record({ inputTokens: 300 + i, outputTokens: 100 });
    await lease!.release();
    expect(await used('rpm')).toBe(1);
    expect(await used('tpm')).toBe(2010);
    // (1510 * 2.5 + 500 * 10) / 1e6, each call rounded up to the nano-dollar (exact here).
    expect(await used('usd')).toBe(0.008775);
    expect(lease!.totals).toMatchObject({ tokens: 2010, records: 5 });
  });

  it('an overrun that passes a budget is charged, and the next request is refused as over-budget', async () => {
    const { limiter, used } = setup([usd]);
    const { lease } = await limiter.acquire({ user: 'u' }, { model: 'gpt-4o', inputTokens: 1000, outputTokens: 1000 });
    // An upstream that ignored the cap: 200,000 output tokens against 1,000 reserved.
    const recorded = await lease!.record({ inputTokens: 1000, outputTokens: 200_000 });
    expect(recorded.overrunCost).toBe(1.99);
    await lease!.release();
    expect(await used('usd')).toBe(2.0025);
    expect(await limiter.acquire({ user: 'u' }, { cost: 0.01 })).toMatchObject({ allowed: false, reason: 'over-budget', deniedBy: [{ name: 'usd', used: 2.0025 }] });
    // A budget merely full is refused as limited.
    const other = await limiter.acquire({ user: 'v' }, { cost: 1 });
    await other.lease!.record({ cost: 1 });
    await other.lease!.release();
    expect(await limiter.acquire({ user: 'v' }, { cost: 0.01 })).toMatchObject({ allowed: false, reason: 'limited' });
  });

  it('release({ refundRequests }) refunds the request itself, and keeps what was used', async () => {
    const { limiter, used } = setup([rpm, tpm]);
    const { lease } = await limiter.acquire({ user: 'u' }, { tokens: 1000 });
    await lease!.record({ inputTokens: 300 });
    await lease!.release({ refundRequests: true });
    expect(await used('rpm')).toBe(0);
    expect(await used('tpm')).toBe(300);
    const other = (await limiter.acquire({ user: 'u' })).lease!;
    await other.release({ refundRequests: false });
    expect(await used('rpm')).toBe(1);
  });

  it('finish records the last call and releases in one store call', async () => {
    const { limiter, used, store } = setup([rpm, tpm, usd, inflight]);
    const { lease } = await limiter.acquire({ user: 'u' }, { model: 'gpt-4o', inputTokens: 1000, outputTokens: 1000 });
    const before = store.calls;
    const result = await lease!.finish({ inputTokens: 1000, outputTokens: 200 });
    expect(store.calls - before).toBe(1);
    expect(result).toMatchObject({ tokens: 1200, cost: 0.0045, overrunTokens: 0, overrunCost: 0 });
    expect(lease!.released).toBe(true);
    expect(await used('tpm')).toBe(1200);
    expect(await used('usd')).toBe(0.0045);
    expect(await used('inflight')).toBe(0);
  });

  it('finish charges an overrun, keeps the reservation of partial usage, and keeps it for usage it cannot count', async () => {
    const { limiter, used } = setup([tpm, inflight]);
    const over = (await limiter.acquire({ user: 'u' }, { tokens: 1000 })).lease!;
    expect(await over.finish({ inputTokens: 1500 })).toMatchObject({ overrunTokens: 500 });
    expect(await used('tpm')).toBe(1500);
    const cut = (await limiter.acquire({ user: 'u' }, { tokens: 1000 })).lease!;
    await cut.finish({ inputTokens: 10 }, { partial: true });
    expect(await used('tpm')).toBe(2500);
    const bad = (await limiter.acquire({ user: 'u' }, { tokens: 1000 })).lease!;
    await expect(bad.finish({ inputTokens: -1 })).rejects.toBeInstanceOf(InvalidInputError);
    expect(bad.released).toBe(true);
    expect(await used('tpm')).toBe(3500);
    expect(await used('inflight')).toBe(0);
  });

  it('finish after the release records, charging back the refund when the usage is partial', async () => {
    const { limiter, used } = setup([tpm]);
    const { lease } = await limiter.acquire({ user: 'u' }, { tokens: 1000 });
    await lease!.release(); // the client left first
    await lease!.finish({ inputTokens: 10 }, { partial: true });
    expect(await used('tpm')).toBe(1000);
  });

  it('records after release are charged in full', async () => {
    const { limiter, used } = setup([tpm]);
    const { lease } = await limiter.acquire({ user: 'u' }, { tokens: 1000 });
    await lease!.record({ inputTokens: 100 });
    await lease!.release();
    await lease!.record({ inputTokens: 50 });
    expect(await used('tpm')).toBe(150);
  });

  it('holds a concurrency slot until release, and release twice is harmless', async () => {
    const { limiter, store } = setup([inflight]);
    const a = await limiter.acquire({ user: 'u' });
    const b = await limiter.acquire({ user: 'u' });
    expect((await limiter.acquire({ user: 'u' })).allowed).toBe(false);
    await a.lease!.release();
    const calls = store.calls;
    await a.lease!.release();
    expect(store.calls).toBe(calls);
    expect((await limiter.acquire({ user: 'u' })).allowed).toBe(true);
    await b.lease!.release();
  });

  it('a lease never released frees its slot after its TTL, and activity extends it', async () => {
    const { clock, limiter } = setup([inflight], { lease: { ttl: '30s' } });
    const forgotten = await limiter.acquire({ user: 'u' });
    const busy = await limiter.acquire({ user: 'u' });
    const refused = await limiter.acquire({ user: 'u' });
    // The slot may free any moment (when a lease ends): a short retry, not the 30 s TTL.
    expect(refused).toMatchObject({ allowed: false, retryAfterMs: 1_000 });
    expect(refused.limits[0]!.resetAt).toBe(clock() + 30_000); // when the slots free at the latest
    clock.advance(20_000);
    await busy.lease!.tool('search');
    clock.advance(10_000);
    expect((await limiter.acquire({ user: 'u' })).allowed).toBe(true); // the forgotten one expired
    expect((await limiter.acquire({ user: 'u' })).allowed).toBe(false); // the busy one still holds
    expect(forgotten.lease!.released).toBe(false);
  });

  it('per-request lease options override the defaults', async () => {
    const { limiter } = setup([tpm], { lease: { maxSteps: 10 } });
    const { lease } = await limiter.acquire({ user: 'u' }, {}, { maxSteps: 1 });
    expect((await lease!.step()).allowed).toBe(true);
    expect(await lease!.step()).toMatchObject({ allowed: false, reason: 'lease-cap' });
  });
});

describe('agent steps and tool calls', () => {
  const tools: LimitConfig[] = [
    { name: 'search-pm', scope: 'user', resource: 'toolCalls', tool: 'web_search', limit: 2, window: '1m' },
    { name: 'tools-pm', scope: 'user', resource: 'toolCalls', limit: 3, window: '1m' },
  ];

  it('charges tool calls per tool and overall, refusing without charging', async () => {
    const { limiter, used } = setup(tools);
    const { lease } = await limiter.acquire({ user: 'u' });
    expect((await lease!.tool('web_search')).allowed).toBe(true);
    expect((await lease!.tool('web_search')).allowed).toBe(true);
    const refused = await lease!.tool('web_search');
    expect(refused).toMatchObject({ allowed: false, reason: 'limited', deniedBy: [{ name: 'search-pm' }] });
    expect(await used('tools-pm')).toBe(2);
    expect((await lease!.tool('calculator')).allowed).toBe(true);
    expect(await lease!.tool('calculator')).toMatchObject({ allowed: false, deniedBy: [{ name: 'tools-pm' }] });
    expect(lease!.totals.toolCalls).toBe(3);
  });

  it('acquire does not charge or check tool limits', async () => {
    const { limiter } = setup(tools);
    const { lease } = await limiter.acquire({ user: 'u' });
    for (let i = 0; i < 3; i++) await lease!.tool('calculator');
    expect((await limiter.acquire({ user: 'u' })).allowed).toBe(true);
  });

  it('caps a runaway loop: the 26th step of a workflow capped at 25 is refused', async () => {
    const { limiter } = setup([tpm], { lease: { maxSteps: 25, maxToolCalls: 3 } });
    const { lease } = await limiter.acquire({ user: 'u' });
    const steps = await Promise.all(Array.from({ length: 26 }, () => lease!.step()));
    expect(steps.filter((s) => s.allowed)).toHaveLength(25);
    expect(steps[25]).toMatchObject({ allowed: false, reason: 'lease-cap', deniedBy: [{ name: 'lease.maxSteps', resource: 'requests' }] });
    const calls = await Promise.all(Array.from({ length: 5 }, () => lease!.tool('x')));
    expect(calls.filter((c) => c.allowed)).toHaveLength(3);
    expect(calls[4]).toMatchObject({ reason: 'lease-cap', deniedBy: [{ name: 'lease.maxToolCalls', resource: 'toolCalls' }] });
  });

  it('a step with a demand reserves more, all or nothing, and release refunds it', async () => {
    const { limiter, used } = setup([tpm]);
    const { lease } = await limiter.acquire({ user: 'u' }, { tokens: 4000 });
    expect((await lease!.step({ tokens: 5000 })).allowed).toBe(true);
    expect(await lease!.step({ tokens: 2000 })).toMatchObject({ allowed: false, deniedBy: [{ name: 'tpm', remaining: 1000 }] });
    expect(await used('tpm')).toBe(9000);
    await lease!.record({ inputTokens: 6000 });
    await lease!.release();
    expect(await used('tpm')).toBe(6000);
  });

  it('usage already charged as overrun is not paid again from a later reservation', async () => {
    const { limiter, used } = setup([tpm]);
    const { lease } = await limiter.acquire({ user: 'u' }, { tokens: 1000 });
    await lease!.record({ inputTokens: 1500 }); // 500 over
    await lease!.step({ tokens: 1000 });
    await lease!.record({ inputTokens: 700 });
    await lease!.release();
    expect(await used('tpm')).toBe(2200);
  });

  it('a released lease refuses steps and tools', async () => {
    const { limiter } = setup(tools);
    const { lease } = await limiter.acquire({ user: 'u' });
    await lease!.release();
    expect(await lease!.tool('web_search')).toMatchObject({ allowed: false, reason: 'released' });
    expect(await lease!.step()).toMatchObject({ allowed: false, reason: 'released' });
  });

  it('reasoning tokens are part of the output: recorded and priced with it, not again', async () => {
    const { limiter, used } = setup([tpm, usd]);
    const { lease } = await limiter.acquire({ user: 'u' }, { tokens: 10, cost: 0.001 });

    await lease!.finish({ model: 'gpt-4o', inputTokens: 100, outputTokens: 50, reasoningTokens: 40 });

    expect(await used('tpm')).toBe(150);
    // 100 in at $2.50 and 50 out at $10 a million.
    expect(Math.round((await used('usd')) * 1e9)).toBe(750_000);
  });

  it('bad usage throws and charges nothing itself', async () => {
    const { limiter, used } = setup([tpm, usd]);
    const { lease } = await limiter.acquire({ user: 'u' }, { tokens: 10, cost: 0.001 });
    await expect(lease!.record({ inputTokens: Number.NaN })).rejects.toBeInstanceOf(InvalidInputError);
    await expect(lease!.record({ inputTokens: 5, cachedInputTokens: 6 })).rejects.toThrow(/cannot exceed/);
    await expect(lease!.record({ outputTokens: 5, reasoningTokens: 6 })).rejects.toThrow(/usage.reasoningTokens \(6\) is part of outputTokens and cannot exceed it \(5\)/);
    await expect(lease!.record({ outputTokens: 5, reasoningTokens: -1 })).rejects.toBeInstanceOf(InvalidInputError);
    await expect(lease!.record({ model: 'unknown', inputTokens: 5 })).rejects.toThrow(/no price/);
    await expect(lease!.record({ inputTokens: 5 }, { partial: 'yes' } as never)).rejects.toThrow(/partial\?: boolean/);
    await expect(lease!.tool('')).rejects.toBeInstanceOf(InvalidInputError);
    expect(lease!.totals.tokens).toBe(0);
    expect(await used('tpm')).toBe(10);
  });
});

describe('usage that is not known is charged, not forgiven', () => {
  // 1,000 tokens in and 4,000 out of gpt-4o reserved: $0.0425.
  const demand = { model: 'gpt-4o', inputTokens: 1000, outputTokens: 4000 };

  it('a partial record (a cut stream) keeps the whole reservation at release', async () => {
    const { limiter, used } = setup([tpm, usd]);
    const { lease } = await limiter.acquire({ user: 'u' }, demand);
    await lease!.record({ inputTokens: 1000, outputTokens: 3 }, { partial: true });
    expect(lease!.totals.unknownUsage).toBe(true);
    await lease!.release();
    expect(await used('tpm')).toBe(5000);
    expect(await used('usd')).toBe(0.0425);
  });

  it('a partial record that counted more than the reservation charges what it counted', async () => {
    const { limiter, used } = setup([tpm, usd]);
    const { lease } = await limiter.acquire({ user: 'u' }, demand);
    await lease!.record({ inputTokens: 1000, outputTokens: 5000 }, { partial: true });
    await lease!.release();
    expect(await used('tpm')).toBe(6000);
    expect(await used('usd')).toBe(0.0525);
  });

  it("onUnknownUsage: 'counted' charges what was counted and refunds the rest", async () => {
    const { limiter, used } = setup([tpm, usd], { lease: { onUnknownUsage: 'counted' } });
    const { lease } = await limiter.acquire({ user: 'u' }, demand);
    await lease!.record({ inputTokens: 1000, outputTokens: 3 }, { partial: true });
    expect(lease!.totals.unknownUsage).toBe(false);
    await lease!.release();
    expect(await used('tpm')).toBe(1003);
    expect(await used('usd')).toBe(0.00253);
  });

  it('the rule can be chosen per acquire, and a wrong one is refused', async () => {
    const { limiter, used } = setup([tpm]);
    const { lease } = await limiter.acquire({ user: 'u' }, { tokens: 1000 }, { onUnknownUsage: 'counted' });
    await lease!.record({ inputTokens: 10 }, { partial: true });
    await lease!.release();
    expect(await used('tpm')).toBe(10);
    await expect(limiter.acquire({ user: 'u' }, { tokens: 1 }, { onUnknownUsage: 'refund' as never })).rejects.toThrow(/onUnknownUsage must be/);
    expect(() => setup([tpm], { lease: { onUnknownUsage: 'none' as never } })).toThrow(/onUnknownUsage must be/);
  });

  it('a record that cannot be priced keeps the reservation instead of refunding it', async () => {
    const { limiter, used } = setup([tpm, usd]);
    const { lease } = await limiter.acquire({ user: 'u' }, { tokens: 2000, cost: 0.05 });
    await expect(lease!.record({ model: 'azure/gpt-4o-2099', inputTokens: 1000, outputTokens: 1000 })).rejects.toThrow(/no price/);
    expect(lease!.totals.unknownUsage).toBe(true);
    await lease!.release();
    expect(await used('tpm')).toBe(2000);
    expect(await used('usd')).toBe(0.05);
  });

  it('a partial record after the release charges back what the release refunded (a client that left first)', async () => {
    const { limiter, used } = setup([tpm, usd]);
    const { lease } = await limiter.acquire({ user: 'u' }, demand);
    await lease!.record({ inputTokens: 500, outputTokens: 0 });
    await lease!.release(); // the client went away: the adapter releases before the stream is metered
    expect(await used('tpm')).toBe(500);
    // What was counted (503 tokens) is within the reservation, which stays charged whole.
    await lease!.record({ inputTokens: 0, outputTokens: 3 }, { partial: true });
    expect(await used('tpm')).toBe(5000);
    expect(await used('usd')).toBe(0.0425);
    await lease!.record({ inputTokens: 0, outputTokens: 2 }, { partial: true }); // nothing is charged twice
    expect(await used('tpm')).toBe(5000);
    await lease!.record({ inputTokens: 0, outputTokens: 4_600 }, { partial: true }); // counted past it: charged
    expect(await used('tpm')).toBe(5105);
  });

  it('a record that fails after the release charges back what the release refunded', async () => {
    const { limiter, used } = setup([tpm, usd]);
    const { lease } = await limiter.acquire({ user: 'u' }, { tokens: 2000, cost: 0.05 });
    await lease!.release();
    expect(await used('usd')).toBe(0);
    await expect(lease!.record({ model: 'azure/gpt-4o-2099', inputTokens: 10 })).rejects.toThrow(/no price/);
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(await used('tpm')).toBe(2000);
    expect(await used('usd')).toBe(0.05);
  });

  it("under 'counted', a partial record after the release charges only what it counted", async () => {
    const { limiter, used } = setup([tpm], { lease: { onUnknownUsage: 'counted' } });
    const { lease } = await limiter.acquire({ user: 'u' }, { tokens: 5000 });
    await lease!.release();
    await lease!.record({ inputTokens: 40 }, { partial: true });
    expect(await used('tpm')).toBe(40);
  });

  it('a served model name the prices do not know is priced as the model the lease was taken for', async () => {
    const { limiter, used } = setup([usd]);
    const { lease } = await limiter.acquire({ user: 'u' }, demand);
    const recorded = await lease!.record({ model: 'gpt-4o-2099-01-01', inputTokens: 1000, outputTokens: 1000 });
    expect(recorded.cost).toBe(0.0125);
    await lease!.release();
    expect(await used('usd')).toBe(0.0125);
  });

  it("records without a cost are priced with the source's costOf (long-context tiers)", async () => {
    // Double the input rate past 200k input tokens, as gemini-2.5-pro and claude-sonnet-4-5 bill.
    const tiered = {
      price: (model: string) => (model === 'long' ? { input: 1.25, output: 10 } : undefined),
      costOf: (_model: string, { inputTokens, outputTokens }: { inputTokens: number; outputTokens: number }) =>
        ((inputTokens > 200_000 ? 2.5 : 1.25) * inputTokens + (inputTokens > 200_000 ? 15 : 10) * outputTokens) / 1e6,
    };
    const { limiter, used } = setup([usd], { prices: tiered });
    const { lease } = await limiter.acquire({ user: 'u' }, { model: 'long', cost: 0.5 });
    await lease!.record({ inputTokens: 300_000, outputTokens: 1000 });
    await lease!.release();
    expect(await used('usd')).toBe(0.765);
  });
});
