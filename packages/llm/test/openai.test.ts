import { ConfigurationError, createLimiter, type Limiter } from '@tollgate/core';
import { MemoryStore } from '@tollgate/store-memory';
import { usedOf } from '@tollgate/test-kit';
import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { countTokens, estimateChatCompletion, genaiPrices, LlmRefusedError, wrapOpenAI } from '../src/index.js';
import { RESPONSE, RESPONSE_EVENTS } from './fixtures.js';
import { chunks, completion, startProvider, type Provider } from './provider.js';

const prices = genaiPrices();
let provider: Provider | undefined;
afterEach(async () => {
  await provider?.close();
  provider = undefined;
});

function limiterWith(extra: { degrade?: boolean; dailyUsd?: number } = {}): Limiter {
  return createLimiter({
    store: new MemoryStore(),
    limits: [
      { name: 'rpm', scope: 'user', resource: 'requests', limit: 20, window: '1m' },
      { name: 'tpm', scope: 'user', resource: 'tokens', limit: 1_000_000, window: '1m' },
      { name: 'daily-usd', scope: 'user', resource: 'cost', limit: extra.dailyUsd ?? 10, reset: { every: 'day', timeZone: 'UTC' } },
      { name: 'inflight', scope: 'user', resource: 'concurrency', limit: 4 },
    ],
    ...(extra.degrade && {
      degrade: { budget: 'daily-usd', steps: [{ below: 0.5, model: 'gpt-4o', maxTokens: 4096 }, { model: 'gpt-4o-mini', maxTokens: 256 }] },
    }),
    prices,
  });
}

const client = (p: Provider) => new OpenAI({ apiKey: 'sk-test', baseURL: `${p.url}/v1`, maxRetries: 0 });

describe('wrapOpenAI', () => {
  it('a workflow of five calls on one lease is one request and five records; the budget sees the exact sum', async () => {
    const usages = [
      { prompt: 1_200, completion: 300, cached: 1_000 },
      { prompt: 2_000, completion: 150 },
      { prompt: 800, completion: 90 },
      { prompt: 3_100, completion: 410, cached: 2_048 },
      { prompt: 640, completion: 64 },
    ];
    provider = await startProvider((_path, body, i) =>
      body.stream ? { events: chunks(body.model, ['Hel', 'lo'], { prompt: usages[i]!.prompt, completion: usages[i]!.completion }) } : { json: completion(body, usages[i]!) },
    );
    const limiter = limiterWith();
    const decision = await limiter.acquire({ user: 'u1' });
    if (!decision.allowed) throw new Error('refused');
    const openai = wrapOpenAI(client(provider), { lease: decision.lease, degrade: decision.degrade, prices });
    for (let i = 0; i < 5; i++) {
      const body = { model: 'gpt-4o', messages: [{ role: 'user' as const, content: `step ${i}` }], max_tokens: 500 };
      if (i === 1 || i === 4) {
        const stream = await openai.chat.completions.create({ ...body, stream: true });
        let text = '';
        for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
        expect(text).toBe('Hello');
      } else {
        const response = await openai.chat.completions.create(body);
        expect(response.choices[0]?.message.content).toBe('Done.');
      }
    }
    expect(decision.lease.totals.records).toBe(5);
    expect(decision.lease.totals.steps).toBe(5);
    await decision.lease.release();
    // Cached tokens only count on the calls that reported them (the stream chunks carry none).
    const exact = usages.map((u, i) =>
      prices.costOf('gpt-4o', { inputTokens: u.prompt, outputTokens: u.completion, cachedInputTokens: i === 1 || i === 4 ? 0 : (u.cached ?? 0) }),
    );
    const units = exact.reduce((sum, usd) => sum + Math.round(usd * 1e9), 0);
    expect(await usedOf(limiter, { user: 'u1' })).toEqual({
      rpm: 1,
      tpm: usages.reduce((sum, u) => sum + u.prompt + u.completion, 0),
      'daily-usd': units / 1e9,
      inflight: 0,
    });
  });

  it('per call: each call acquires, applies the degradation step and releases', async () => {
    provider = await startProvider((_path, body) => ({ json: completion(body, { prompt: 100, completion: 10 }) }));
    const limiter = limiterWith({ degrade: true, dailyUsd: 1 });
    // Fill the budget past half so the ladder's second step applies.
    const spend = await limiter.acquire({ user: 'u1' });
    if (!spend.allowed) throw new Error('refused');
    await spend.lease.record({ model: 'gpt-4o', cost: 0.6 });
    await spend.lease.release();

    const openai = wrapOpenAI(client(provider), { limiter, identity: { user: 'u1' }, prices });
    await openai.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 1000 });
    await openai.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'Hi' }] });
    expect(provider.requests.map((r) => [r.body.model, r.body.max_tokens, r.body.max_completion_tokens])).toEqual([
      ['gpt-4o-mini', 256, undefined],
      ['gpt-4o-mini', undefined, 256],
    ]);
    const cost = prices.costOf('gpt-4o-mini', { inputTokens: 100, outputTokens: 10 });
    expect(await usedOf(limiter, { user: 'u1' })).toEqual({ rpm: 3, tpm: 220, 'daily-usd': (600_000_000 + 2 * cost * 1e9) / 1e9, inflight: 0 });
  });

  it('a refused call throws LlmRefusedError, is not sent, and charges nothing', async () => {
    provider = await startProvider((_path, body) => ({ json: completion(body, { prompt: 10, completion: 1 }) }));
    const limiter = createLimiter({
      store: new MemoryStore(),
      limits: [
        { name: 'rpm', scope: 'user', resource: 'requests', limit: 10, window: '1m' },
        { name: 'tpm', scope: 'user', resource: 'tokens', limit: 1_000, window: '1m' },
      ],
      prices,
    });
    const openai = wrapOpenAI(client(provider), { limiter, identity: { user: 'u1' } });
    const error = await openai.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 2_000 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LlmRefusedError);
    expect((error as LlmRefusedError).decision.deniedBy[0]?.name).toBe('tpm');
    expect(error).toMatchObject({ status: 429, headers: { 'x-should-retry': 'false' } }); // as an API would answer it
    expect((error as LlmRefusedError).message).toMatch(/^\[tollgate\] \[llm\] the LLM call was not made: limit "tpm" refused it/);
    expect(provider.requests).toHaveLength(0);
    expect(await usedOf(limiter, { user: 'u1' })).toEqual({ rpm: 0, tpm: 0 });
  });

  it('a caller whose identity matches no limit is refused as such, not as a store failure', async () => {
    provider = await startProvider((_path, body) => ({ json: completion(body, { prompt: 10, completion: 1 }) }));
    const openai = wrapOpenAI(client(provider), { limiter: limiterWith(), identity: { user: undefined } });
    const error = await openai.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'Hi' }] }).catch((e: unknown) => e);
    expect((error as LlmRefusedError).decision.reason).toBe('no-identity');
    expect((error as LlmRefusedError).message).toMatch(/the identity matches none of the limiter's limits/);
    expect(provider.requests).toHaveLength(0);
  });

  it('streams: asks for include_usage, hides the usage chunk from a caller who did not, records it exactly', async () => {
    provider = await startProvider((_path, body) => ({ events: chunks(body.model, ['A', 'B'], { prompt: 42, completion: 3 }) }));
    const limiter = limiterWith();
    const openai = wrapOpenAI(client(provider), { limiter, identity: { user: 'u1' }, prices });
    const seen: unknown[] = [];
    for await (const chunk of await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }], stream: true })) seen.push(chunk);
    expect(provider.requests[0]!.body.stream_options).toEqual({ include_usage: true });
    expect(seen.every((chunk) => (chunk as { choices: unknown[] }).choices.length > 0)).toBe(true);
    // A caller who asked for it sees it.
    const asked: unknown[] = [];
    const stream = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }], stream: true, stream_options: { include_usage: true } });
    for await (const chunk of stream) asked.push(chunk);
    expect(asked).toHaveLength(seen.length + 1);
    const cost = prices.costOf('gpt-4o-mini', { inputTokens: 42, outputTokens: 3 });
    expect(await usedOf(limiter, { user: 'u1' })).toEqual({ rpm: 2, tpm: 90, 'daily-usd': 2 * cost, inflight: 0 });
  });

  it("under onUnknownUsage: 'counted', a stream the client breaks off settles the estimated input plus the output received", async () => {
    provider = await startProvider((_path, body) => ({ events: chunks(body.model, ['The', ' answer', ' is']), hang: true }));
    const limiter = limiterWith();
    const openai = wrapOpenAI(client(provider), { limiter, identity: { user: 'u1' }, prices, acquire: { onUnknownUsage: 'counted' } });
    const body = { model: 'gpt-4o', messages: [{ role: 'user' as const, content: 'What is the answer?' }], max_tokens: 100, stream: true as const };
    const estimate = await estimateChatCompletion(body);
    let text = '';
    for await (const chunk of await openai.chat.completions.create(body)) {
      text += chunk.choices[0]?.delta.content ?? '';
      if (text === 'The answer') break;
    }
    await provider.disconnected;
    const output = await countTokens('The answer', 'gpt-4o');
    expect(await usedOf(limiter, { user: 'u1' })).toEqual({
      rpm: 1,
      tpm: estimate.inputTokens + output,
      'daily-usd': prices.costOf('gpt-4o', { inputTokens: estimate.inputTokens, outputTokens: output }),
      inflight: 0,
    });
  });

  it('meters responses.create, streamed and not', async () => {
    provider = await startProvider((_path, body) => (body.stream ? { events: RESPONSE_EVENTS } : { json: RESPONSE }));
    const limiter = limiterWith();
    const openai = wrapOpenAI(client(provider), { limiter, identity: { user: 'u1' }, prices });
    const response = await openai.responses.create({ model: 'gpt-4.1', input: 'Tell me a story', max_output_tokens: 200 });
    expect(response.output_text).toContain('unicorn');
    for await (const _event of await openai.responses.create({ model: 'gpt-4.1', input: 'Hi', stream: true })) void _event;
    // 36 in / 87 out, then 37 in / 11 out, at gpt-4.1's $2 / $8.
    expect(await usedOf(limiter, { user: 'u1' })).toEqual({ rpm: 2, tpm: 171, 'daily-usd': 0.000768 + 0.000162, inflight: 0 });
  });

  it('an API error releases a per-call lease and records nothing', async () => {
    provider = await startProvider(() => ({ status: 400, json: { error: { message: 'bad', type: 'invalid_request_error' } } }));
    const limiter = limiterWith();
    const openai = wrapOpenAI(client(provider), { limiter, identity: { user: 'u1' } });
    await expect(openai.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'Hi' }] })).rejects.toBeInstanceOf(OpenAI.BadRequestError);
    expect(await usedOf(limiter, { user: 'u1' })).toEqual({ rpm: 1, tpm: 0, 'daily-usd': 0, inflight: 0 });
  });

  it('refuses the helpers that would bypass the meter, and bad options', () => {
    const openai = wrapOpenAI(new OpenAI({ apiKey: 'sk-test', baseURL: 'http://127.0.0.1:9/v1' }), { limiter: limiterWith(), identity: { user: 'u1' } });
    expect(() => openai.chat.completions.stream({ model: 'gpt-4o', messages: [] })).toThrow(ConfigurationError);
    expect(() => openai.chat.completions.stream({ model: 'gpt-4o', messages: [] })).toThrow(/^\[tollgate\] \[llm\] wrapOpenAI: chat.completions.stream\(\) is not metered/);
    // Everything else is the client's own.
    expect(openai.baseURL).toBe('http://127.0.0.1:9/v1');
    expect(typeof openai.models.list).toBe('function');
    const real = new OpenAI({ apiKey: 'sk-test' });
    expect(() => wrapOpenAI(real, {} as never)).toThrow(/either \{ limiter, identity \}/);
    expect(() => wrapOpenAI(real, { limiter: limiterWith() })).toThrow(/identity is required/);
    expect(() => wrapOpenAI(real, { limiter: limiterWith(), identity: { user: 'u1' }, step: 'maybe' as never })).toThrow(ConfigurationError);
    expect(() => wrapOpenAI({} as never, { limiter: limiterWith(), identity: { user: 'u1' } })).toThrow(/client must be an OpenAI client/);
  });
});

/** Sums USD amounts as core does: in whole nano-dollars. */
const usd = (...amounts: number[]) => amounts.reduce((sum, amount) => sum + Math.round(amount * 1e9), 0) / 1e9;

describe('wrapOpenAI: the reservation is a hard cap', () => {
  it('sends the output it reserved as the cap: set when absent, the model\'s maximum when lower, per choice with n', async () => {
    provider = await startProvider((path, body) => (path.endsWith('/responses') ? { json: RESPONSE } : { json: completion(body, { prompt: 10, completion: 5 }) }));
    const limiter = limiterWith({ dailyUsd: 100 });
    const decision = await limiter.acquire({ user: 'u1' });
    if (!decision.allowed) throw new Error('refused');
    const openai = wrapOpenAI(client(provider), { lease: decision.lease, prices, estimate: { defaultMaxTokens: 20_000 } });
    const reservedBy = async (call: () => Promise<unknown>) => {
      const before = decision.lease.totals.reservedTokens;
      await call();
      return decision.lease.totals.reservedTokens - before;
    };
    const messages = [{ role: 'user' as const, content: 'Hi' }];
    const input = async (model: string) => (await estimateChatCompletion({ model, messages })).inputTokens;
    expect(await reservedBy(() => openai.chat.completions.create({ model: 'gpt-4o', messages }))).toBe((await input('gpt-4o')) + 16_384);
    expect(await reservedBy(() => openai.chat.completions.create({ model: 'gpt-3.5-turbo', messages }))).toBe((await input('gpt-3.5-turbo')) + 4_096);
    expect(await reservedBy(() => openai.chat.completions.create({ model: 'gpt-4o', messages, max_tokens: 100, n: 3 }))).toBe((await input('gpt-4o')) + 300);
    await openai.responses.create({ model: 'gpt-4.1', input: 'Hi' });
    await decision.lease.release();
    expect(provider.requests.map((r) => [r.body.model, r.body.max_completion_tokens, r.body.max_tokens, r.body.max_output_tokens])).toEqual([
      ['gpt-4o', 16_384, undefined, undefined],
      ['gpt-3.5-turbo', 4_096, undefined, undefined],
      ['gpt-4o', undefined, 100, undefined],
      ['gpt-4.1', undefined, undefined, 20_000],
    ]);
  });

  it('per call, the degradation step never sends a dearer model than was reserved, nor a cap above the reservation', async () => {
    provider = await startProvider((_path, body) => ({ json: completion(body, { prompt: 10, completion: 5 }) }));
    // Below half the budget the ladder names gpt-4o: dearer than the gpt-4o-mini the calls reserved.
    const limiter = limiterWith({ degrade: true, dailyUsd: 10 });
    const openai = wrapOpenAI(client(provider), { limiter, identity: { user: 'u1' }, prices });
    await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 100 });
    await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }], max_completion_tokens: 9_000 });
    expect(provider.requests.map((r) => [r.body.model, r.body.max_tokens, r.body.max_completion_tokens])).toEqual([
      ['gpt-4o-mini', 100, undefined],
      ['gpt-4o-mini', undefined, 4_096],
    ]);
  });

  it('a stream cut before its usage keeps the reservation (o3, only the role chunk)', async () => {
    provider = await startProvider((_path, body) => ({ events: chunks(body.model, []) }));
    const limiter = limiterWith({ dailyUsd: 1 });
    const openai = wrapOpenAI(client(provider), { limiter, identity: { user: 'u1' }, prices });
    const body = { model: 'o3', messages: [{ role: 'user' as const, content: 'Prove it.' }], max_completion_tokens: 25_000, stream: true as const };
    for await (const _chunk of await openai.chat.completions.create(body)) void _chunk;
    const reserved = (await estimateChatCompletion(body, { prices })).cost!;
    expect(reserved).toBeGreaterThan(0.2);
    expect(await usedOf(limiter, { user: 'u1' })).toEqual({ rpm: 1, tpm: (await estimateChatCompletion(body)).tokens, 'daily-usd': reserved, inflight: 0 });
  });

  it('a response without usable usage keeps the reservation: none, {}, only total_tokens, malformed counts', async () => {
    const usages = [undefined, {}, { total_tokens: 2_000 }, { prompt_tokens: -5, completion_tokens: 1 }, { prompt_tokens: '10', completion_tokens: 3 }];
    provider = await startProvider((_path, body, i) => ({ json: { ...completion(body, { prompt: 10, completion: 3 }), usage: usages[i] } }));
    const limiter = limiterWith();
    const errors: unknown[] = [];
    const openai = wrapOpenAI(client(provider), { limiter, identity: { user: 'u1' }, prices, onError: (error) => errors.push(error) });
    const body = { model: 'gpt-4o', messages: [{ role: 'user' as const, content: 'Hi' }], max_tokens: 1_000 };
    for (const _usage of usages) await openai.chat.completions.create(body);
    const reserved = await estimateChatCompletion(body, { prices });
    expect(await usedOf(limiter, { user: 'u1' })).toEqual({ rpm: 5, tpm: 5 * reserved.tokens, 'daily-usd': usd(...usages.map(() => reserved.cost!)), inflight: 0 });
  });

  it('an upstream that drops the connection mid-response keeps the reservation; an HTTP error status refunds it', async () => {
    provider = await startProvider((_path, _body, i) => (i === 0 ? { drop: true } : { status: 500, json: { error: { message: 'overloaded', type: 'server_error' } } }));
    const limiter = limiterWith();
    const openai = wrapOpenAI(client(provider), { limiter, identity: { user: 'u1' }, prices });
    const body = { model: 'gpt-4o', messages: [{ role: 'user' as const, content: 'Hi' }], max_tokens: 1_000 };
    await expect(openai.chat.completions.create(body)).rejects.toBeInstanceOf(OpenAI.APIConnectionError);
    await expect(openai.chat.completions.create(body)).rejects.toBeInstanceOf(OpenAI.InternalServerError);
    const reserved = await estimateChatCompletion(body, { prices });
    expect(await usedOf(limiter, { user: 'u1' })).toEqual({ rpm: 2, tpm: reserved.tokens, 'daily-usd': reserved.cost, inflight: 0 });
  });
});

