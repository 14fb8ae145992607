/**
 * The AI SDK middleware under each supported major of the real `ai`, with that major's own OpenAI
 * provider, against a loopback provider: `ai` 5 (LanguageModelV2), 6 (V3) and 7 (V4). In each, a
 * `generateText` and a `streamText` multi-step tool loop reserve, cap and record every step
 * exactly, and a refusal is the major's `APICallError`, not retried when the wait is long.
 * (`ai-sdk-middleware.test.ts` covers the rest of the middleware's behaviour on `ai` 7.)
 */
import { createOpenAI } from '@ai-sdk/openai';
import { APICallError, type LanguageModelV4Middleware } from '@ai-sdk/provider';
import { createLimiter, type Limiter } from '@tollgate/core';
import { MemoryStore } from '@tollgate/store-memory';
import { usedOf } from '@tollgate/test-kit';
import * as ai7 from 'ai';
import * as ai5 from 'ai5';
import * as ai6 from 'ai6';
import { createOpenAI as createOpenAI5 } from 'ai-sdk-openai5';
import { createOpenAI as createOpenAI6 } from 'ai-sdk-openai6';
import { APICallError as APICallError5, type LanguageModelV2Middleware } from 'ai-sdk-provider5';
import { APICallError as APICallError6, type LanguageModelV3Middleware } from 'ai-sdk-provider6';
import { afterEach, describe, expect, expectTypeOf, it, vi } from 'vitest';
import { tollgateMiddleware, type TollgateMiddlewareOptions } from '../src/ai-sdk-middleware.js';
import { genaiPrices } from '../src/index.js';
import { limiterWith } from './limiters.js';
import { startProvider, type Provider } from './provider.js';
import { DEFAULT_CAP, MODEL, recorded, toolLoop, TOTAL_TOKENS } from './tool-loop.js';

const prices = genaiPrices();
const user = { user: 'u1' };
type Json = Record<string, any>;

let provider: Provider | undefined;
afterEach(async () => {
  await provider?.close();
  provider = undefined;
});

const schema = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } as const;
const execute = async ({ city }: { city: string }) => ({ city, sky: 'sunny' });
const PROMPT = 'What is the weather in Paris?';

/**
 * One major of the AI SDK: the same loop and refusal, written with that major's functions. Each
 * runs the middleware as its users would write it for that major (its `specificationVersion`).
 */
interface Major {
  generate(options: TollgateMiddlewareOptions): Promise<{ text: string; steps: unknown[] }>;
  stream(options: TollgateMiddlewareOptions): PromiseLike<string>;
  isApiCallError(error: unknown): boolean;
}

const majors: Array<[string, () => Major]> = [
  [
    'ai 5 (LanguageModelV2)',
    () => {
      const model = (options: TollgateMiddlewareOptions) =>
        ai5.wrapLanguageModel({ model: createOpenAI5({ apiKey: 'sk-test', baseURL: provider!.url }).chat(MODEL), middleware: tollgateMiddleware({ prices, ...options, specificationVersion: 'v2' }) });
      const tools = { weather: ai5.tool({ description: 'The weather in a city', inputSchema: ai5.jsonSchema<{ city: string }>(schema), execute }) };
      return {
        generate: (options) => ai5.generateText({ model: model(options), prompt: PROMPT, tools, stopWhen: ai5.stepCountIs(5) }),
        stream: (options) => ai5.streamText({ model: model(options), prompt: PROMPT, tools, stopWhen: ai5.stepCountIs(5) }).text,
        isApiCallError: (error) => APICallError5.isInstance(error),
      };
    },
  ],
  [
    'ai 6 (LanguageModelV3)',
    () => {
      const model = (options: TollgateMiddlewareOptions) =>
        ai6.wrapLanguageModel({ model: createOpenAI6({ apiKey: 'sk-test', baseURL: provider!.url }).chat(MODEL), middleware: tollgateMiddleware({ prices, ...options, specificationVersion: 'v3' }) });
      const tools = { weather: ai6.tool({ description: 'The weather in a city', inputSchema: ai6.jsonSchema<{ city: string }>(schema), execute }) };
      return {
        generate: (options) => ai6.generateText({ model: model(options), prompt: PROMPT, tools, stopWhen: ai6.stepCountIs(5) }),
        stream: (options) => ai6.streamText({ model: model(options), prompt: PROMPT, tools, stopWhen: ai6.stepCountIs(5) }).text,
        isApiCallError: (error) => APICallError6.isInstance(error),
      };
    },
  ],
  [
    'ai 7 (LanguageModelV4)',
    () => {
      const model = (options: TollgateMiddlewareOptions) =>
        ai7.wrapLanguageModel({ model: createOpenAI({ apiKey: 'sk-test', baseURL: provider!.url }).chat(MODEL), middleware: tollgateMiddleware({ prices, ...options }) });
      const tools = { weather: ai7.tool({ description: 'The weather in a city', inputSchema: ai7.jsonSchema<{ city: string }>(schema), execute }) };
      return {
        generate: (options) => ai7.generateText({ model: model(options), prompt: PROMPT, tools, stopWhen: ai7.stepCountIs(5) }),
        stream: (options) => ai7.streamText({ model: model(options), prompt: PROMPT, tools, stopWhen: ai7.stepCountIs(5) }).text,
        isApiCallError: (error) => APICallError.isInstance(error),
      };
    },
  ],
];

/** A workflow's lease whose `step` and `record` calls are watched (and still made). */
async function watchedLease(limiter: Limiter) {
  const decision = await limiter.acquire(user);
  if (!decision.allowed) throw new Error('the workflow was refused');
  return { lease: decision.lease, step: vi.spyOn(decision.lease, 'step'), record: vi.spyOn(decision.lease, 'record') };
}

describe.each(majors)('tollgateMiddleware under %s', (_name, major) => {
  it('generateText: a tool loop on one lease reserves, caps and records every step exactly', async () => {
    provider = await startProvider(toolLoop);
    const limiter = limiterWith(prices);
    const watched = await watchedLease(limiter);

    const result = await major().generate({ lease: watched.lease });

    expect(result.text).toBe('Sunny in Paris.');
    expect(result.steps).toHaveLength(2);
    expect(provider.requests.map((request) => request.body.max_tokens)).toEqual([DEFAULT_CAP, DEFAULT_CAP]);
    expect(watched.step).toHaveBeenCalledTimes(2);
    for (const [demand] of watched.step.mock.calls) expect(demand).toMatchObject({ model: MODEL, outputTokens: DEFAULT_CAP });
    // The second step's prompt carries the first step's call and the tool's result.
    expect(watched.step.mock.calls[1]![0]!.inputTokens).toBeGreaterThan(watched.step.mock.calls[0]![0]!.inputTokens!);
    expect(watched.record.mock.calls).toEqual(recorded.map((usage) => [usage, undefined]));
    await watched.lease.release();
    expect(await usedOf(limiter, { user: 'u1' })).toMatchObject({ rpm: 1, tpm: TOTAL_TOKENS });
  });

  it('streamText: a tool loop per call records every step from its finish part and releases every lease', async () => {
    provider = await startProvider(toolLoop);
    const limiter = limiterWith(prices, {}, [{ name: 'inflight', scope: 'user', resource: 'concurrency', limit: 1 }]);
    const acquire = vi.spyOn(limiter, 'acquire');

    expect(await major().stream({ limiter, identity: user })).toBe('Sunny in Paris.');

    expect(provider.requests.every((request) => request.body.stream === true)).toBe(true);
    expect(provider.requests.map((request) => request.body.max_tokens)).toEqual([DEFAULT_CAP, DEFAULT_CAP]);
    expect(acquire).toHaveBeenCalledTimes(2);
    // One slot in flight: a lease left unreleased would have refused the second step.
    const usage = await usedOf(limiter, { user: 'u1' });
    expect(usage).toMatchObject({ rpm: 2, tpm: TOTAL_TOKENS, inflight: 0 });
    expect(usage['daily-usd']).toBeCloseTo(recorded.reduce((sum, step) => sum + step.cost!, 0), 9);
  });

  it("a refusal with a long wait is the major's APICallError with a 429, thrown at once and not retried", async () => {
    provider = await startProvider(toolLoop);
    const limiter = createLimiter({ store: new MemoryStore(), limits: [{ name: 'rpm', scope: 'user', resource: 'requests', limit: 1, window: '1m' }], prices });
    const acquire = vi.spyOn(limiter, 'acquire');

    // The loop's first step is admitted, its second refused.
    const error = await major()
      .generate({ limiter, identity: user })
      .catch((caught: unknown) => caught);

    expect(major().isApiCallError(error)).toBe(true);
    expect(error).toMatchObject({ statusCode: 429, isRetryable: false, decision: { deniedBy: [{ name: 'rpm' }] } });
    expect(acquire).toHaveBeenCalledTimes(2);
    expect(provider.requests).toHaveLength(1);
  });
});

describe('tollgateMiddleware types', () => {
  it("is each major's middleware type, by its specificationVersion (ai 7's by default)", () => {
    const limiter = limiterWith(prices);
    const v2: LanguageModelV2Middleware = tollgateMiddleware({ limiter, identity: user, specificationVersion: 'v2' });
    const v3: LanguageModelV3Middleware = tollgateMiddleware({ limiter, identity: user, specificationVersion: 'v3' });
    const v4: LanguageModelV4Middleware = tollgateMiddleware({ limiter, identity: user });

    expect(v2.middlewareVersion).toBe('v2');
    expect('specificationVersion' in v2).toBe(false);
    expect(v3.specificationVersion).toBe('v3');
    expect(v4.specificationVersion).toBe('v4');
    expectTypeOf(tollgateMiddleware({ limiter, identity: user, specificationVersion: 'v4' })).toEqualTypeOf(tollgateMiddleware({ limiter, identity: user }));
    expect(() => tollgateMiddleware({ limiter, identity: user, specificationVersion: 'v1' as never })).toThrow(/specificationVersion must be 'v2' \(ai 5\), 'v3' \(ai 6\) or 'v4' \(ai 7\)/);
  });
});
