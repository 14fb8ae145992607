import { ConfigurationError, createLimiter, InvalidInputError } from '@tollgate/core';
import { MemoryStore } from '@tollgate/store-memory';
import { usedOf } from '@tollgate/test-kit';
import { countTokens as cl100k } from 'gpt-tokenizer/encoding/cl100k_base';
import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { approximateTokens, estimateEmbeddings, genaiPrices, meteredFetch, openaiEmbeddingsUsage, streamMeter, withOutputCap } from '../../src/index.js';
import { CJK, CODE, EMOJI, ENGLISH, MIXED, SPECIAL } from '../corpus.js';
import { limiterWith } from '../limiters.js';
import { startProvider, type Provider } from '../provider.js';

const prices = genaiPrices();
const TEXTS = [ENGLISH, CODE, CJK, EMOJI, SPECIAL, MIXED];
// What the API counts: the inputs' tokens in text-embedding-3's encoding, special-token look-alikes as plain text.
const reference = (text: string) => cl100k(text, { allowedSpecial: new Set(), disallowedSpecial: new Set() });
const sum = (values: number[]) => values.reduce((total, value) => total + value, 0);

/** An embeddings response as OpenAI documents it (`encoding_format: 'float'`). */
function embeddings(body: Record<string, any>, usage: object | undefined) {
  const inputs: unknown[] = Array.isArray(body.input) && typeof body.input[0] !== 'number' ? body.input : [body.input];
  return {
    object: 'list',
    data: inputs.map((_, index) => ({ object: 'embedding', index, embedding: [0.0023064255, -0.009327292, -0.0028842222] })),
    model: body.model,
    ...(usage && { usage }),
  };
}

describe('estimateEmbeddings', () => {
  it("is never below the tokens the model's tokenizer counts, and exact on text: a string, or every string of an array", async () => {
    for (const text of TEXTS) {
      const estimate = await estimateEmbeddings({ model: 'text-embedding-3-small', input: text });
      expect(estimate.inputTokens, text.slice(0, 20)).toBeGreaterThanOrEqual(reference(text));
      expect(estimate.inputTokens, text.slice(0, 20)).toBe(reference(text));
    }
    const batch = await estimateEmbeddings({ model: 'text-embedding-3-large', input: TEXTS });
    expect(batch).toEqual({ model: 'text-embedding-3-large', inputTokens: sum(TEXTS.map(reference)), outputTokens: 0, tokens: sum(TEXTS.map(reference)) });
  });

  it('counts token ids one each, in one array or in several', async () => {
    expect((await estimateEmbeddings({ model: 'text-embedding-ada-002', input: [1820, 4062, 14198, 39935] })).inputTokens).toBe(4);
    expect((await estimateEmbeddings({ model: 'text-embedding-ada-002', input: [[1820, 4062], [14198], []] })).inputTokens).toBe(3);
    expect((await estimateEmbeddings({ model: 'text-embedding-3-small', input: ['Hello world', [9906, 1917]] })).inputTokens).toBe(reference('Hello world') + 2);
  });

  it('counts a model without a local tokenizer by the conservative ratio, never below the tokenizer', async () => {
    const estimate = await estimateEmbeddings({ model: 'nomic-embed-text', input: TEXTS });
    expect(estimate.inputTokens).toBe(sum(TEXTS.map(approximateTokens)));
    expect(estimate.inputTokens).toBeGreaterThanOrEqual(sum(TEXTS.map(reference)));
  });

  it('prices the input at the model\'s rate when given a price source, and reserves no output', async () => {
    const estimate = await estimateEmbeddings({ model: 'text-embedding-3-small', input: ENGLISH }, { prices });
    // $0.02 per million input tokens.
    expect(estimate.outputTokens).toBe(0);
    expect(estimate.cost).toBe(Math.ceil(estimate.inputTokens * 0.02 * 1e3) / 1e9);
  });

  it('refuses malformed requests with InvalidInputError', async () => {
    const bad: unknown[] = [
      null,
      { input: 'Hi' },
      { model: 'text-embedding-3-small' },
      { model: 'text-embedding-3-small', input: { text: 'Hi' } },
      { model: 'text-embedding-3-small', input: [1.5] },
      { model: 'text-embedding-3-small', input: ['Hi', { text: 'there' }] },
      { model: 'text-embedding-3-small', input: [['Hi']] },
      { model: 'text-embedding-3-small', input: [[-1]] },
    ];
    for (const body of bad) {
      const error = await estimateEmbeddings(body).catch((e: unknown) => e);
      expect(error, JSON.stringify(body)).toBeInstanceOf(InvalidInputError);
      expect((error as Error).message).toMatch(/^\[tollgate\] \[llm\] /);
    }
  });
});

describe('openaiEmbeddingsUsage', () => {
  const response = embeddings({ model: 'text-embedding-3-small', input: ['a', 'b'] }, { prompt_tokens: 8, total_tokens: 8 });

  it('reads prompt_tokens as the input, with no output, priced exactly', () => {
    expect(openaiEmbeddingsUsage(response)).toEqual({ model: 'text-embedding-3-small', inputTokens: 8, outputTokens: 0 });
    // 8 × $0.02 per million.
    expect(openaiEmbeddingsUsage(response, { prices })).toEqual({ model: 'text-embedding-3-small', inputTokens: 8, outputTokens: 0, cost: 0.00000016 });
  });

  it('reads total_tokens when it is all a server reports; none is no usage; a malformed count throws', () => {
    expect(openaiEmbeddingsUsage({ ...response, usage: { total_tokens: 8 } })).toEqual({ model: 'text-embedding-3-small', inputTokens: 8, outputTokens: 0 });
    expect(openaiEmbeddingsUsage({ ...response, usage: undefined })).toBeUndefined();
    expect(openaiEmbeddingsUsage({ ...response, usage: {} })).toBeUndefined();
    expect(() => openaiEmbeddingsUsage({ ...response, usage: { prompt_tokens: -8 } })).toThrow(/^\[tollgate\] \[llm\] usage.prompt_tokens must be/);
    expect(() => openaiEmbeddingsUsage('nope')).toThrow(InvalidInputError);
  });

  it('prices a served model name the table does not know as the model asked for', () => {
    expect(openaiEmbeddingsUsage({ ...response, model: 'azure/text-embedding-3-small' }, { prices, model: 'text-embedding-3-small' })?.cost).toBe(0.00000016);
  });
});

describe('embeddings have no stream and no output to cap', () => {
  it('streamMeter and withOutputCap refuse the format by name', () => {
    expect(() => streamMeter('openai-embeddings' as never)).toThrow(ConfigurationError);
    expect(() => withOutputCap({ model: 'text-embedding-3-small', input: 'Hi' }, 'openai-embeddings' as never, 10)).toThrow(ConfigurationError);
  });
});

describe('meteredFetch: POST /v1/embeddings', () => {
  let provider: Provider | undefined;
  afterEach(async () => {
    await provider?.close();
    provider = undefined;
  });

  it('meters the openai SDK\'s embeddings.create: the input the provider reports, priced; the body sent as asked', async () => {
    provider = await startProvider((_path, body) => ({ json: embeddings(body, { prompt_tokens: 21, total_tokens: 21 }) }));
    // A ladder names generation models: it must never replace an embedding model.
    const limiter = limiterWith(prices, { degrade: { budget: 'daily-usd', steps: [{ model: 'gpt-4o-mini', maxTokens: 256 }] } });
    const openai = new OpenAI({ apiKey: 'sk-test', baseURL: `${provider.url}/v1`, maxRetries: 0, fetch: meteredFetch({ limiter, identity: { user: 'u1' }, prices }) });
    const result = await openai.embeddings.create({ model: 'text-embedding-3-small', input: ['first document', 'second document'], encoding_format: 'float' });
    expect(result.data).toHaveLength(2);
    expect(provider.requests[0]!.body).toEqual({ model: 'text-embedding-3-small', input: ['first document', 'second document'], encoding_format: 'float' });
    expect(await usedOf(limiter, { user: 'u1' })).toEqual({ rpm: 1, tpm: 21, 'daily-usd': prices.costOf('text-embedding-3-small', { inputTokens: 21 }) });
  });

  it('a response without usage keeps the reservation: the estimated input', async () => {
    provider = await startProvider((_path, body) => ({ json: embeddings(body, undefined) }));
    const limiter = limiterWith(prices);
    const fetch = meteredFetch({ limiter, identity: { user: 'u1' }, prices });
    const body = { model: 'text-embedding-3-small', input: ENGLISH };
    const response = await fetch(`${provider.url}/v1/embeddings`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect(response.status).toBe(200);
    const reserved = await estimateEmbeddings(body, { prices });
    expect(await usedOf(limiter, { user: 'u1' })).toEqual({ rpm: 1, tpm: reserved.tokens, 'daily-usd': reserved.cost });
  });

  it('answers a refusal with a 429 and sends nothing', async () => {
    provider = await startProvider((_path, body) => ({ json: embeddings(body, { prompt_tokens: 1, total_tokens: 1 }) }));
    const limiter = createLimiter({ store: new MemoryStore(), limits: [{ name: 'tpm', scope: 'user', resource: 'tokens', limit: 10, window: '1m' }] });
    const fetch = meteredFetch({ limiter, identity: { user: 'u1' } });
    const response = await fetch(`${provider.url}/v1/embeddings`, { method: 'POST', body: JSON.stringify({ model: 'text-embedding-3-small', input: ENGLISH }) });
    expect(response.status).toBe(429);
    expect(provider.requests).toHaveLength(0);
  });
});
