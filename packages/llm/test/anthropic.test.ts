import Anthropic from '@anthropic-ai/sdk';
import { ConfigurationError, createLimiter, type Limiter } from '@tollgate/core';
import { MemoryStore } from '@tollgate/store-memory';
import { usedOf } from '@tollgate/test-kit';
import { afterEach, describe, expect, it } from 'vitest';
import { approximateTokens, estimateAnthropicMessage, genaiPrices, LlmRefusedError, wrapAnthropic } from '../src/index.js';
import { MESSAGE, MESSAGE_EVENTS } from './fixtures.js';
import { startProvider, type Provider } from './provider.js';

const prices = genaiPrices();
let provider: Provider | undefined;
afterEach(async () => {
  await provider?.close();
  provider = undefined;
});

function limiterWith(dailyUsd = 10): Limiter {
  return createLimiter({
    store: new MemoryStore(),
    limits: [
      { name: 'rpm', scope: 'user', resource: 'requests', limit: 20, window: '1m' },
      { name: 'tpm', scope: 'user', resource: 'tokens', limit: 1_000_000, window: '1m' },
      { name: 'daily-usd', scope: 'user', resource: 'cost', limit: dailyUsd, reset: { every: 'day' } },
    ],
    degrade: { budget: 'daily-usd', steps: [{ below: 0.5 }, { model: 'claude-haiku-4-5', maxTokens: 300 }] },
    prices,
  });
}

const client = (p: Provider) => new Anthropic({ apiKey: 'sk-ant-test', baseURL: p.url, maxRetries: 0 });
// (Sonnet 4.5 spelt with a dot: the same prices, without the SDK's deprecation warning on stderr.)
const ask = { model: 'claude-sonnet-4.5', max_tokens: 1024, messages: [{ role: 'user' as const, content: 'Hello, Claude' }] };

describe('wrapAnthropic', () => {
  it('records a message with its cache write at the exact price', async () => {
    provider = await startProvider(() => ({ json: MESSAGE }));
    const limiter = limiterWith();
    const anthropic = wrapAnthropic(client(provider), { limiter, identity: { user: 'u1' }, prices });
    const message = await anthropic.messages.create(ask);
    expect(message.content[0]).toEqual({ type: 'text', text: 'Hi! My name is Claude.' });
    // 100 × $3 + 4,735 × $3.75 (cache write, not $3) + 255 × $15 per million.
    expect(await usedOf(limiter, { user: 'u1' })).toEqual({ rpm: 1, tpm: 5090, 'daily-usd': 0.02188125 });
  });

  it('records a stream from message_start and message_delta', async () => {
    provider = await startProvider(() => ({ events: MESSAGE_EVENTS }));
    const limiter = limiterWith();
    const anthropic = wrapAnthropic(client(provider), { limiter, identity: { user: 'u1' }, prices });
    let text = '';
    for await (const event of await anthropic.messages.create({ ...ask, stream: true })) {
      if (event.type === 'content_block_delta' && event.delta.type === 'text_delta') text += event.delta.text;
    }
    expect(text).toBe('Hello! How can I help you today?');
    // 25 × $3 + 2,000 × $0.30 (cache read) + 15 × $15 per million.
    expect(await usedOf(limiter, { user: 'u1' })).toEqual({ rpm: 1, tpm: 2040, 'daily-usd': 0.0009 });
  });

  it("under onUnknownUsage: 'counted', a stream the client breaks off settles the input Anthropic billed plus the output received", async () => {
    provider = await startProvider(() => ({ events: MESSAGE_EVENTS.slice(0, 5), hang: true }));
    const limiter = limiterWith();
    const anthropic = wrapAnthropic(client(provider), { limiter, identity: { user: 'u1' }, prices, acquire: { onUnknownUsage: 'counted' } });
    for await (const event of await anthropic.messages.create({ ...ask, stream: true })) {
      if (event.type === 'content_block_delta') break;
    }
    await provider.disconnected;
    const output = approximateTokens('Hello');
    expect(await usedOf(limiter, { user: 'u1' })).toEqual({
      rpm: 1,
      tpm: 2025 + output,
      'daily-usd': prices.costOf('claude-sonnet-4-5', { inputTokens: 2025, cachedInputTokens: 2000, outputTokens: output }),
    });
  });

  it('applies the degradation step: the model, and max_tokens capped', async () => {
    provider = await startProvider(() => ({ json: MESSAGE }));
    const limiter = limiterWith(1);
    const spend = await limiter.acquire({ user: 'u1' });
    if (!spend.allowed) throw new Error('refused');
    await spend.lease.record({ cost: 0.7 });
    await spend.lease.release();
    const decision = await limiter.acquire({ user: 'u1' });
    if (!decision.allowed) throw new Error('refused');
    const anthropic = wrapAnthropic(client(provider), { lease: decision.lease, degrade: decision.degrade, prices });
    await anthropic.messages.create(ask);
    await decision.lease.release();
    expect(provider.requests.map((r) => [r.body.model, r.body.max_tokens])).toEqual([['claude-haiku-4-5', 300]]);
  });

  it('refuses past the lease cap with LlmRefusedError, and refuses messages.stream()', async () => {
    provider = await startProvider(() => ({ json: MESSAGE }));
    const limiter = limiterWith();
    const decision = await limiter.acquire({ user: 'u1' }, undefined, { maxSteps: 1 });
    if (!decision.allowed) throw new Error('refused');
    const anthropic = wrapAnthropic(client(provider), { lease: decision.lease });
    await anthropic.messages.create(ask);
    const error = await anthropic.messages.create(ask).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LlmRefusedError);
    expect((error as LlmRefusedError).decision.reason).toBe('lease-cap');
    expect(provider.requests).toHaveLength(1);
    expect(() => anthropic.messages.stream(ask)).toThrow(ConfigurationError);
    await decision.lease.release();
  });
});

/** A Claude thinking stream cut off while it thinks: no message_delta, so no final usage. */
const THINKING_CUT = [
  { ...MESSAGE_EVENTS[0], message: { ...MESSAGE_EVENTS[0]!.message, usage: { input_tokens: 40, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 1 } } },
  { type: 'content_block_start', index: 0, content_block: { type: 'thinking', thinking: '', signature: '' } },
  { type: 'content_block_delta', index: 0, delta: { type: 'thinking_delta', thinking: 'Let me work through this carefully.' } },
];

describe('wrapAnthropic: the reservation is a hard cap', () => {
  it("sends max_tokens when the request has none: the default, or the model's maximum when lower", async () => {
    provider = await startProvider(() => ({ json: MESSAGE }));
    const limiter = limiterWith(100);
    const anthropic = wrapAnthropic(client(provider), { limiter, identity: { user: 'u1' }, prices, estimate: { defaultMaxTokens: 20_000 } });
    const { max_tokens: _, ...uncapped } = ask;
    await anthropic.messages.create(uncapped as typeof ask);
    await anthropic.messages.create({ ...uncapped, model: 'claude-3-haiku-20240307' } as typeof ask);
    await anthropic.messages.create({ ...ask, max_tokens: 300 });
    expect(provider.requests.map((r) => [r.body.model, r.body.max_tokens])).toEqual([
      ['claude-sonnet-4.5', 20_000],
      ['claude-3-haiku-20240307', 4_096],
      ['claude-sonnet-4.5', 300],
    ]);
  });

  it('a thinking stream cut before its usage keeps the reservation', async () => {
    provider = await startProvider(() => ({ events: THINKING_CUT }));
    const limiter = limiterWith();
    const anthropic = wrapAnthropic(client(provider), { limiter, identity: { user: 'u1' }, prices });
    const body = { ...ask, max_tokens: 16_000, thinking: { type: 'enabled' as const, budget_tokens: 10_000 }, stream: true as const };
    for await (const _event of await anthropic.messages.create(body)) void _event;
    const reserved = await estimateAnthropicMessage(body, { prices });
    expect(await usedOf(limiter, { user: 'u1' })).toEqual({ rpm: 1, tpm: reserved.tokens, 'daily-usd': reserved.cost });
  });

  it('prices a served model name the table does not know as the model asked for, cache writes included', async () => {
    provider = await startProvider(() => ({ json: { ...MESSAGE, model: 'anthropic/claude-sonnet-4.5' } }));
    const limiter = limiterWith();
    const anthropic = wrapAnthropic(client(provider), { limiter, identity: { user: 'u1' }, prices });
    await anthropic.messages.create(ask);
    // 100 × $3 + 4,735 × $3.75 (cache write) + 255 × $15 per million, at claude-sonnet-4.5's prices.
    expect(await usedOf(limiter, { user: 'u1' })).toEqual({ rpm: 1, tpm: 5090, 'daily-usd': 0.02188125 });
  });
});

