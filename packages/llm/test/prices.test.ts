import { ConfigurationError, createLimiter, InvalidInputError, UnknownModelError } from '@tollgate/core';
import { MemoryStore } from '@tollgate/store-memory';
import { usedOf } from '@tollgate/test-kit';
import { describe, expect, it } from 'vitest';
import { costOf, genaiPrices } from '../src/index.js';

const noon = () => Date.parse('2026-03-02T12:00:00Z');

describe('costOf: exact costs against hand-computed values', () => {
  const prices = genaiPrices({ clock: noon });

  it('gpt-4o, cached input at half price', () => {
    // 200 × $2.50 + 1,000 × $1.25 + 800 × $10, per million.
    expect(prices.costOf('gpt-4o', { inputTokens: 1_200, cachedInputTokens: 1_000, outputTokens: 800 })).toBe(0.00975);
    // A dated snapshot is the same model.
    expect(prices.costOf('gpt-4o-2024-08-06', { inputTokens: 1_200, cachedInputTokens: 1_000, outputTokens: 800 })).toBe(0.00975);
  });

  it('gpt-4o-mini, without float drift', () => {
    // 8,000 × $0.15 + 2,000 × $0.075 + 500 × $0.60 = $0.00165.
    expect(prices.costOf('gpt-4o-mini', { inputTokens: 10_000, cachedInputTokens: 2_000, outputTokens: 500 })).toBe(0.00165);
    // 3 × 0.15 is 0.44999999999999996 in floats; here it is 4.65e-6 exactly.
    expect(prices.costOf('gpt-4o-mini', { inputTokens: 3, outputTokens: 7 })).toBe(0.00000465);
  });

  it('claude-sonnet-4-5 with a 5-minute cache write', () => {
    // 100 × $3 + 4,735 × $3.75 + 255 × $15 = $0.02188125.
    expect(prices.costOf('claude-sonnet-4-5-20250929', { inputTokens: 4_835, cacheWriteTokens: 4_735, outputTokens: 255 })).toBe(0.02188125);
  });

  it('claude-sonnet-4-5 above 200k input tokens: every token at the long-context tier', () => {
    // 50,000 × $6 + 200,000 × $0.60 + 1,000 × $22.50 = $0.4425.
    expect(prices.costOf('claude-sonnet-4-5', { inputTokens: 250_000, cachedInputTokens: 200_000, outputTokens: 1_000 })).toBe(0.4425);
    // At exactly 200,000 the base tier still applies: 200,000 × $3 + 1,000 × $15.
    expect(prices.costOf('claude-sonnet-4-5', { inputTokens: 200_000, outputTokens: 1_000 })).toBe(0.615);
  });

  it('claude-opus-4-1 with 5-minute and 1-hour cache writes and cache reads', () => {
    // 1,000 × $15 + 3,000 × $1.50 + 4,000 × $18.75 + 2,000 × $30 + 500 × $75 = $0.192.
    const tokens = { inputTokens: 10_000, cachedInputTokens: 3_000, cacheWriteTokens: 6_000, cacheWrite1hTokens: 2_000, outputTokens: 500 };
    expect(prices.costOf('claude-opus-4-1', tokens)).toBe(0.192);
  });

  it('gemini-2.5-pro tiers', () => {
    // 100,000 × $1.25 + 2,000 × $10 = $0.145; 300,000 × $2.50 + 2,000 × $15 = $0.78.
    expect(prices.costOf('gemini-2.5-pro', { inputTokens: 100_000, outputTokens: 2_000 })).toBe(0.145);
    expect(prices.costOf('gemini-2.5-pro', { inputTokens: 300_000, outputTokens: 2_000 })).toBe(0.78);
  });

  it("deepseek-chat's time-of-day prices follow the clock", () => {
    const tokens = { inputTokens: 1_000_000, cachedInputTokens: 400_000, outputTokens: 100_000 };
    // Peak (00:30–16:30 UTC): 600,000 × $0.27 + 400,000 × $0.07 + 100,000 × $1.10 = $0.30.
    expect(prices.costOf('deepseek-chat', tokens)).toBe(0.3);
    // Off-peak, half price.
    expect(genaiPrices({ clock: () => Date.parse('2026-03-02T20:00:00Z') }).costOf('deepseek-chat', tokens)).toBe(0.15);
  });

  it('rounds each call up to the nano-dollar, once', () => {
    // 1 × $0.2288 per million = 228.8 nano-dollars → 229.
    expect(prices.costOf('deepseek-v3.2', { inputTokens: 1 })).toBe(2.29e-7);
  });

  it('has a module-level costOf over the bundled table', () => {
    expect(costOf('gpt-4o', { inputTokens: 1_000_000 })).toBe(2.5);
  });

  it('refuses counts that are not whole, or cache parts larger than the input', () => {
    for (const tokens of [{ inputTokens: -1 }, { inputTokens: 1.5 }, { outputTokens: Number.NaN }, { inputTokens: 10, cachedInputTokens: 11 }, { inputTokens: 10, cachedInputTokens: 5, cacheWriteTokens: 6 }, { inputTokens: 10, cacheWriteTokens: 2, cacheWrite1hTokens: 3 }]) {
      expect(() => prices.costOf('gpt-4o', tokens), JSON.stringify(tokens)).toThrow(InvalidInputError);
    }
    expect(() => prices.costOf('gpt-4o', { inputTokens: -1 })).toThrow(/^\[tollgate\] \[llm\] inputTokens must be/);
  });
});

describe('genaiPrices as a PriceSource', () => {
  it('gives core the base-tier price, the same object each time', () => {
    const prices = genaiPrices();
    expect(prices.price('gpt-4o')).toEqual({ input: 2.5, output: 10, cachedInput: 1.25 });
    expect(prices.price('claude-sonnet-4-5')).toEqual({ input: 3, output: 15, cachedInput: 0.3 });
    expect(prices.price('gpt-4o')).toBe(prices.price('gpt-4o-2024-11-20'));
  });

  it('resolves provider-qualified names and a default provider', () => {
    const prices = genaiPrices();
    expect(prices.lookup('anthropic:claude-haiku-4-5')).toMatchObject({ provider: 'anthropic', model: 'claude-haiku-4-5', input: 1, output: 5, cacheWrite: 1.25 });
    expect(prices.lookup('openai:gpt-4o-mini')).toMatchObject({ provider: 'openai', input: 0.15 });
    // A bare name no provider pattern matches is found in the default provider.
    expect(prices.lookup('llama-3.1-8b-instant')).toBeUndefined();
    expect(genaiPrices({ provider: 'groq' }).lookup('llama-3.1-8b-instant')).toMatchObject({ provider: 'groq' });
  });

  it('takes overrides by exact name, before the table', () => {
    const prices = genaiPrices({ overrides: { 'gpt-4o': { input: 2, output: 8 }, 'my-finetune': { input: 3, output: 12, cacheWrite: 4 } } });
    expect(prices.price('gpt-4o')).toEqual({ input: 2, output: 8 });
    expect(prices.costOf('my-finetune', { inputTokens: 1_000_000, cacheWriteTokens: 500_000, outputTokens: 1_000_000 })).toBe(1.5 + 2 + 12);
    // The dated snapshot is not overridden: overrides match exact names.
    expect(prices.price('gpt-4o-2024-08-06')).toEqual({ input: 2.5, output: 10, cachedInput: 1.25 });
  });

  it("denies an unknown model by default, or reserves the configured maximum", () => {
    expect(genaiPrices().price('acme-llm-9000')).toBeUndefined();
    expect(() => genaiPrices().costOf('acme-llm-9000', { inputTokens: 1 })).toThrow(UnknownModelError);
    const reserving = genaiPrices({ unknownModel: { reserve: { input: 15, output: 75 } } });
    expect(reserving.price('acme-llm-9000')).toEqual({ input: 15, output: 75 });
    expect(reserving.costOf('acme-llm-9000', { inputTokens: 1_000, outputTokens: 1_000 })).toBe(0.09);
  });

  it('refuses bad configuration with ConfigurationError', () => {
    const bad: unknown[] = [
      { overrides: { x: { input: -1, output: 1 } } },
      { overrides: { x: { input: 1 } } },
      { overrides: { x: { input: 1, output: 1, cached: 1 } } },
      { unknownModel: 'allow' },
      { unknownModel: { reserve: { input: 'x', output: 1 } } },
      { provider: 'no-such-provider' },
      { clock: 5 },
      { prices: {} },
    ];
    for (const options of bad) expect(() => genaiPrices(options as never), JSON.stringify(options)).toThrow(ConfigurationError);
    expect(() => genaiPrices({ provider: 'nope' })).toThrow(/^\[tollgate\] \[llm\] genaiPrices: provider/);
  });

  it('lets core deny a call to an unknown model where a cost limit applies, charging nothing', async () => {
    const limiter = createLimiter({
      store: new MemoryStore(),
      limits: [
        { name: 'rpm', scope: 'user', resource: 'requests', limit: 10, window: '1m' },
        { name: 'daily-usd', scope: 'user', resource: 'cost', limit: 5, reset: { every: 'day' } },
      ],
      prices: genaiPrices(),
    });
    await expect(limiter.acquire({ user: 'u1' }, { model: 'acme-llm-9000', tokens: 100 })).rejects.toThrow(UnknownModelError);
    expect(await usedOf(limiter, { user: 'u1' })).toEqual({ rpm: 0, 'daily-usd': 0 });
  });

  it('records exactly the cost it computes: core reads it back to the nano-dollar', async () => {
    const prices = genaiPrices();
    const limiter = createLimiter({
      store: new MemoryStore(),
      limits: [{ name: 'daily-usd', scope: 'user', resource: 'cost', limit: 100, reset: { every: 'day' } }],
      prices,
    });
    const decision = await limiter.acquire({ user: 'u1' });
    if (!decision.allowed) throw new Error('refused');
    const tokens = { inputTokens: 4_835, cacheWriteTokens: 4_735, outputTokens: 255 };
    const result = await decision.lease.record({ model: 'claude-sonnet-4-5', inputTokens: 4_835, outputTokens: 255, cost: prices.costOf('claude-sonnet-4-5', tokens) });
    await decision.lease.release();
    expect(result.cost).toBe(0.02188125);
    expect((await limiter.usage({ user: 'u1' }))[0]!.used).toBe(0.02188125);
  });
});
