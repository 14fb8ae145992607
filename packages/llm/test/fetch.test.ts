import { createLimiter, InvalidInputError, type Limiter } from '@tollgate/core';
import { MemoryStore } from '@tollgate/store-memory';
import { usedOf } from '@tollgate/test-kit';
import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { countTokens, estimateAnthropicMessage, estimateChatCompletion, genaiPrices, LlmRefusedError, meteredFetch } from '../src/index.js';
import { MESSAGE } from './fixtures.js';
import { limiterWith } from './limiters.js';
import { chunks, completion, startProvider, type Provider } from './provider.js';

const prices = genaiPrices();
let provider: Provider | undefined;
afterEach(async () => {
  await provider?.close();
  provider = undefined;
});

describe('meteredFetch refusals', () => {
  /** A daily budget already spent: every call is refused, with a wait of hours. */
  async function spentBudget(): Promise<Limiter> {
    const limiter = createLimiter({ store: new MemoryStore(), limits: [{ name: 'daily-usd', scope: 'user', resource: 'cost', limit: 1, reset: { every: 'day' } }], prices });
    const { lease } = await limiter.acquire({ user: 'u1' }, { cost: 1 });
    await lease!.record({ cost: 1 });
    await lease!.release();
    return limiter;
  }

  it('answer a refusal with a 429 the openai SDK raises as RateLimitError, without retrying or sending anything', async () => {
    provider = await startProvider((_path, body) => ({ json: completion(body, { prompt: 10, completion: 1 }) }));
    let calls = 0;
    const fetch = meteredFetch({ limiter: await spentBudget(), identity: { user: 'u1' }, prices });
    const counting: typeof globalThis.fetch = (input, init) => {
      calls++;
      return fetch(input, init);
    };
    // The SDK's default retries stay on: a refusal must not look like a network failure to retry.
    const openai = new OpenAI({ apiKey: 'sk-test', baseURL: `${provider.url}/v1`, fetch: counting });
    const error = await openai.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 10 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
    const refusal = error as InstanceType<typeof OpenAI.RateLimitError>;
    expect(refusal.status).toBe(429);
    expect(refusal.headers.get('x-should-retry')).toBe('false');
    expect(Number(refusal.headers.get('retry-after-ms'))).toBeGreaterThan(60_000);
    expect(refusal.error).toMatchObject({ code: 'rate_limit_exceeded', limit: 'daily-usd' });
    expect(calls).toBe(1);
    expect(provider.requests).toHaveLength(0);
  });

  it("throw LlmRefusedError instead with onRefusal: 'throw', which carries the status and headers", async () => {
    const fetch = meteredFetch({ limiter: await spentBudget(), identity: { user: 'u1' }, prices, onRefusal: 'throw' });
    const error = await fetch('http://127.0.0.1:9/v1/chat/completions', { method: 'POST', body: JSON.stringify({ model: 'gpt-4o', messages: [] }) }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LlmRefusedError);
    expect(error).toMatchObject({ status: 429, headers: { 'x-should-retry': 'false' } });
    expect(() => meteredFetch({ limiter: createLimiter({ store: new MemoryStore(), limits: [] }), identity: { user: 'u1' }, onRefusal: 'retry' as never })).toThrow(/onRefusal must be 'response' or 'throw'/);
  });
});

describe('meteredFetch', () => {
  it('meters an OpenAI SDK pointed at an OpenAI-compatible URL, JSON and SSE', async () => {
    provider = await startProvider((_path, body) =>
      body.stream ? { events: chunks(body.model, ['Hi'], { prompt: 30, completion: 2 }) } : { json: completion(body, { prompt: 100, completion: 20 }) },
    );
    const limiter = limiterWith(prices);
    const openai = new OpenAI({ apiKey: 'sk-test', baseURL: `${provider.url}/v1`, maxRetries: 0, fetch: meteredFetch({ limiter, identity: { user: 'u1' }, prices }) });
    await openai.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'Hi' }] });
    let text = '';
    const received: OpenAI.ChatCompletionChunk[] = [];
    for await (const chunk of await openai.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'Hi' }], stream: true })) {
      received.push(chunk);
      text += chunk.choices[0]!.delta.content ?? '';
    }
    expect(text).toBe('Hi');
    expect(provider.requests[1]!.body.stream_options).toEqual({ include_usage: true });
    // It asked for usage to meter the stream; the caller, who did not, gets no usage chunk.
    expect(received.every((chunk) => chunk.choices.length === 1 && !('usage' in chunk))).toBe(true);
    // The SDK's own headers went through.
    expect(provider.requests[0]!.headers.authorization).toBe('Bearer sk-test');
    const cost = (input: number, output: number) => prices.costOf('gpt-4o', { inputTokens: input, outputTokens: output });
    expect(await usedOf(limiter, { user: 'u1' })).toEqual({ rpm: 2, tpm: 152, 'daily-usd': (cost(100, 20) * 1e9 + cost(30, 2) * 1e9) / 1e9 });
  });

  it("under onUnknownUsage: 'counted', a body cancelled mid-stream settles the estimated input plus what was received", async () => {
    provider = await startProvider((_path, body) => ({ events: chunks(body.model, ['One', ' two']), hang: true }));
    const limiter = limiterWith(prices);
    const fetch = meteredFetch({ limiter, identity: { user: 'u1' }, prices, acquire: { onUnknownUsage: 'counted' } });
    const body = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Count' }], stream: true, max_tokens: 50 };
    const response = await fetch(`${provider.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect(response.headers.get('content-type')).toBe('text/event-stream');
    const reader = response.body!.getReader();
    let text = '';
    while (!text.includes(' two')) text += new TextDecoder().decode((await reader.read()).value);
    await reader.cancel();
    await provider.disconnected;
    const input = (await estimateChatCompletion(body)).inputTokens;
    const output = await countTokens('One two', 'gpt-4o-mini');
    // Settling runs as the cancel completes; poll briefly for the record and release to land.
    for (let i = 0; i < 50 && (await usedOf(limiter, { user: 'u1' })).tpm !== input + output; i++) await new Promise((r) => setTimeout(r, 10));
    expect(await usedOf(limiter, { user: 'u1' })).toEqual({ rpm: 1, tpm: input + output, 'daily-usd': prices.costOf('gpt-4o-mini', { inputTokens: input, outputTokens: output }) });
  });

  it('meters Anthropic-style /v1/messages, passes other requests through, and releases on an error status', async () => {
    provider = await startProvider((path) => (path.endsWith('/messages') ? { json: MESSAGE } : path.endsWith('/models') ? { json: { data: [] } } : { status: 500, json: {} }));
    const limiter = limiterWith(prices);
    const fetch = meteredFetch({ limiter, identity: { user: 'u1' }, prices });
    const post = (path: string, body: object) => fetch(`${provider!.url}${path}`, { method: 'POST', body: JSON.stringify(body) });
    expect((await post('/v1/messages', { model: 'claude-sonnet-4-5', max_tokens: 100, messages: [{ role: 'user', content: 'Hi' }] })).status).toBe(200);
    expect(await (await fetch(`${provider.url}/v1/models`)).json()).toEqual({ data: [] });
    expect((await post('/v1/chat/completions', { model: 'gpt-4o', messages: [] })).status).toBe(500);
    expect(await usedOf(limiter, { user: 'u1' })).toEqual({ rpm: 2, tpm: 5090, 'daily-usd': 0.02188125 });
    await expect(fetch(`${provider.url}/v1/chat/completions`, { method: 'POST', body: 'not json' })).rejects.toBeInstanceOf(InvalidInputError);
    expect(provider.requests).toHaveLength(3);
  });
});

describe('meteredFetch: the reservation is a hard cap', () => {
  const post = (fetch: typeof globalThis.fetch, path: string, body: object) =>
    fetch(`${provider!.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

  it('sends the output it reserved as the cap, and a stream that ends without its usage keeps the reservation', async () => {
    // An upstream that ignores include_usage: the stream ends, and its usage never came.
    provider = await startProvider((_path, body) => ({ events: chunks(body.model, ['Hi']) }));
    const limiter = limiterWith(prices);
    const fetch = meteredFetch({ limiter, identity: { user: 'u1' }, prices });
    const body = { model: 'gpt-4o', messages: [{ role: 'user', content: 'Hi' }], stream: true };
    await (await post(fetch, '/v1/chat/completions', body)).text();
    expect(provider.requests[0]!.body.max_completion_tokens).toBe(4_096);
    const reserved = await estimateChatCompletion(body, { prices });
    for (let i = 0; i < 50 && (await usedOf(limiter, { user: 'u1' })).tpm !== reserved.tokens; i++) await new Promise((r) => setTimeout(r, 10));
    expect(await usedOf(limiter, { user: 'u1' })).toEqual({ rpm: 1, tpm: reserved.tokens, 'daily-usd': reserved.cost });
  });

  it("writes maxTokensParam into chat requests only: other formats get their own cap field", async () => {
    provider = await startProvider((path, body) => ({ json: path.endsWith('/messages') ? MESSAGE : completion(body, { prompt: 10, completion: 1 }) }));
    const fetch = meteredFetch({ limiter: limiterWith(prices), identity: { user: 'u1' }, prices, maxTokensParam: 'max_tokens' });
    await post(fetch, '/v1/chat/completions', { model: 'gpt-4o', messages: [{ role: 'user', content: 'Hi' }] });
    await post(fetch, '/v1/responses', { model: 'gpt-4o', input: 'Hi' });
    await post(fetch, '/v1/messages', { model: 'claude-sonnet-4-5', messages: [{ role: 'user', content: 'Hi' }] });
    const sent = provider.requests.map((request) => request.body);
    expect(sent[0]).toMatchObject({ max_tokens: 4_096 });
    expect(sent[0]).not.toHaveProperty('max_completion_tokens');
    expect(sent[1]).toMatchObject({ max_output_tokens: 4_096 });
    expect(sent[1]).not.toHaveProperty('max_tokens');
    expect(sent[2]).toMatchObject({ max_tokens: 4_096 });
  });

  it('sets max_tokens on an Anthropic request without one, and keeps the reservation when the upstream drops the connection', async () => {
    provider = await startProvider((_path, _body, i) => (i === 0 ? { json: MESSAGE } : { drop: true }));
    const limiter = limiterWith(prices);
    const fetch = meteredFetch({ limiter, identity: { user: 'u1' }, prices });
    const body = { model: 'claude-sonnet-4-5', messages: [{ role: 'user', content: 'Hi' }] };
    expect((await post(fetch, '/v1/messages', body)).status).toBe(200);
    expect(provider.requests[0]!.body.max_tokens).toBe(4_096);
    await expect(post(fetch, '/v1/messages', body)).rejects.toThrow();
    const reserved = await estimateAnthropicMessage(body, { prices });
    expect(await usedOf(limiter, { user: 'u1' })).toEqual({ rpm: 2, tpm: 5090 + reserved.tokens, 'daily-usd': (21_881_250 + Math.round(reserved.cost! * 1e9)) / 1e9 });
  });
});

