/**
 * The AI SDK middleware under the real `ai` (`generateText`, `streamText`, a multi-step tool loop)
 * and `@ai-sdk/openai`, against a loopback provider: every step reserved and recorded exactly, the
 * cap sent on every step, refusals the AI SDK retries only when the wait is short, a cut stream
 * that keeps its reservation, and per-call leases released.
 */
import { createOpenAI } from '@ai-sdk/openai';
import { APICallError, type LanguageModelV4Middleware } from '@ai-sdk/provider';
import { createLimiter, type Lease, type Limiter } from '@tollgate/core';
import { MemoryStore } from '@tollgate/store-memory';
import { usedOf } from '@tollgate/test-kit';
import { generateText, jsonSchema, stepCountIs, streamText, tool, wrapLanguageModel } from 'ai';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { AiSdkRefusedError, tollgateMiddleware, type TollgateMiddlewareOptions } from '../src/ai-sdk-middleware.js';
import { genaiPrices, LlmRefusedError } from '../src/index.js';
import { limiterWith } from './limiters.js';
import { startProvider, type Provider } from './provider.js';
import { chunks, DEFAULT_CAP, MODEL, recorded, SERVED, toolLoop, TOTAL_TOKENS } from './tool-loop.js';

const prices = genaiPrices();
const user = { user: 'u1' };
type Json = Record<string, any>;

let provider: Provider | undefined;
afterEach(async () => {
  await provider?.close();
  provider = undefined;
});

/** The model, over the loopback provider, wrapped with the middleware. */
function modelWith(options: TollgateMiddlewareOptions) {
  const openai = createOpenAI({ apiKey: 'sk-test', baseURL: provider!.url });
  return wrapLanguageModel({ model: openai.chat(MODEL), middleware: tollgateMiddleware({ prices, ...options }) });
}

const weather = tool({
  description: 'The weather in a city',
  inputSchema: jsonSchema<{ city: string }>({ type: 'object', properties: { city: { type: 'string' } }, required: ['city'] }),
  execute: async ({ city }) => ({ city, sky: 'sunny' }),
});

const TOTAL_COST = recorded.reduce((sum, usage) => sum + usage.cost!, 0);

/** A lease whose `step` and `record` calls are watched (and still made). */
async function watchedLease(limiter: Limiter, acquire?: Parameters<Limiter['acquire']>[2]) {
  const decision = await limiter.acquire(user, undefined, acquire);
  if (!decision.allowed) throw new Error('the workflow was refused');
  return { lease: decision.lease, step: vi.spyOn(decision.lease, 'step'), record: vi.spyOn(decision.lease, 'record') };
}

/** Checks that each of the loop's steps reserved its estimate, capped at the output it reserved, and recorded exactly. */
function expectStepsMetered(watched: Awaited<ReturnType<typeof watchedLease>>, caps: number[]) {
  expect(provider!.requests.map((request) => request.body.max_tokens)).toEqual(caps);
  expect(watched.step).toHaveBeenCalledTimes(caps.length);
  watched.step.mock.calls.forEach(([demand], index) => {
    expect(demand).toMatchObject({ model: MODEL, outputTokens: caps[index] });
    expect(demand!.inputTokens).toBeGreaterThan(0);
    expect(demand!.tokens).toBe(demand!.inputTokens! + caps[index]!);
  });
  expect(watched.record.mock.calls).toEqual(recorded.map((usage) => [usage, undefined]));
}

describe('tollgateMiddleware on one workflow lease', () => {
  it('generateText: a tool loop reserves, caps and records every step', async () => {
    provider = await startProvider(toolLoop);
    const limiter = limiterWith(prices);
    const watched = await watchedLease(limiter);
    const result = await generateText({
      model: modelWith({ lease: watched.lease }),
      prompt: 'What is the weather in Paris?',
      tools: { weather },
      stopWhen: stepCountIs(5),
    });
    expect(result.text).toBe('Sunny in Paris.');
    expect(result.steps).toHaveLength(2);
    expectStepsMetered(watched, [DEFAULT_CAP, DEFAULT_CAP]);
    // The second step's prompt carries the first step's call and the tool's result.
    expect(watched.step.mock.calls[1]![0]!.inputTokens).toBeGreaterThan(watched.step.mock.calls[0]![0]!.inputTokens!);
    await watched.lease.release();
    expect(await usedOf(limiter, { user: 'u1' })).toMatchObject({ rpm: 1, tpm: TOTAL_TOKENS });
    expect((await usedOf(limiter, { user: 'u1' }))['daily-usd']).toBeCloseTo(TOTAL_COST, 9);
  });

  it('streamText: a tool loop reserves, caps and records every step from its finish part', async () => {
    provider = await startProvider(toolLoop);
    const limiter = limiterWith(prices);
    const watched = await watchedLease(limiter);
    const result = streamText({
      model: modelWith({ lease: watched.lease }),
      prompt: 'What is the weather in Paris?',
      tools: { weather },
      stopWhen: stepCountIs(5),
    });
    expect(await result.text).toBe('Sunny in Paris.');
    expectStepsMetered(watched, [DEFAULT_CAP, DEFAULT_CAP]);
    expect(provider.requests.every((request) => request.body.stream === true)).toBe(true);
    await watched.lease.release();
    expect(await usedOf(limiter, { user: 'u1' })).toMatchObject({ rpm: 1, tpm: TOTAL_TOKENS });
  });

  it("lowers an asked maxOutputTokens to the degradation step's maxTokens, on every step", async () => {
    provider = await startProvider(toolLoop);
    const limiter = limiterWith(prices);
    const watched = await watchedLease(limiter);
    // The step's model is the caller's to apply: the wrapped model stays as it is.
    const degrade = { step: 1, usageRatio: 0.6, model: 'gpt-4o-mini', maxTokens: 1_000 };
    await generateText({
      model: modelWith({ lease: watched.lease, degrade }),
      prompt: 'What is the weather in Paris?',
      tools: { weather },
      stopWhen: stepCountIs(5),
      maxOutputTokens: 3_000,
    });
    expectStepsMetered(watched, [1_000, 1_000]);
    expect(provider.requests.map((request) => request.body.model)).toEqual([MODEL, MODEL]);
    await watched.lease.release();
  });

  it("a refused step stops the loop with an error the AI SDK does not retry: the lease's step cap", async () => {
    provider = await startProvider(toolLoop);
    const limiter = limiterWith(prices);
    const watched = await watchedLease(limiter, { maxSteps: 1 });
    const refused = generateText({
      model: modelWith({ lease: watched.lease }),
      prompt: 'What is the weather in Paris?',
      tools: { weather },
      stopWhen: stepCountIs(5),
    });
    const error = await refused.catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(AiSdkRefusedError);
    expect(error).toBeInstanceOf(LlmRefusedError);
    expect(APICallError.isInstance(error)).toBe(true);
    expect(error).toMatchObject({ isRetryable: false, statusCode: 429, decision: { reason: 'lease-cap' } });
    // The first step ran and was recorded; the second was never sent, nor retried.
    expect(provider.requests).toHaveLength(1);
    expect(watched.step).toHaveBeenCalledTimes(2);
    expect(watched.record.mock.calls).toEqual([[recorded[0], undefined]]);
    await watched.lease.release();
  });

  it('a stream cut before its usage is recorded as partial, and the lease keeps its reservation', async () => {
    // The answer's text, then nothing: no finish, no usage, the connection left open.
    provider = await startProvider((_path, body) => ({ ...chunks({ ...body, messages: [{ role: 'tool' }] }, false), hang: true }));
    const limiter = limiterWith(prices);
    const watched = await watchedLease(limiter);
    const abort = new AbortController();
    const result = streamText({ model: modelWith({ lease: watched.lease }), prompt: 'What is the weather in Paris?', abortSignal: abort.signal });
    for await (const text of result.textStream) {
      expect(text).toBe('Sunny');
      abort.abort();
      break;
    }
    await provider.disconnected;
    await vi.waitFor(() => expect(watched.record).toHaveBeenCalledTimes(1));
    const [usage, options] = watched.record.mock.calls[0]!;
    const reserved = watched.step.mock.calls[0]![0]!;
    expect(options).toEqual({ partial: true });
    expect(usage).toMatchObject({ model: SERVED, inputTokens: reserved.inputTokens });
    await watched.lease.release();
    // The provider may have generated all it was allowed to: the whole reservation stays charged.
    expect((await usedOf(limiter, { user: 'u1' })).tpm).toBe(reserved.tokens);
    expect(provider.requests[0]!.body.max_tokens).toBe(DEFAULT_CAP);
  });
});

describe('tollgateMiddleware per call', () => {
  it('each step is its own request, recorded exactly, and every lease is released', async () => {
    provider = await startProvider(toolLoop);
    const limiter = limiterWith(prices, {}, [{ name: 'inflight', scope: 'user', resource: 'concurrency', limit: 1 }]);
    const acquire = vi.spyOn(limiter, 'acquire');
    const model = modelWith({ limiter, identity: user });
    await generateText({ model, prompt: 'What is the weather in Paris?', tools: { weather }, stopWhen: stepCountIs(5) });
    const streamed = streamText({ model, prompt: 'What is the weather in Paris?', tools: { weather }, stopWhen: stepCountIs(5) });
    expect(await streamed.text).toBe('Sunny in Paris.');
    expect(provider.requests.map((request) => request.body.max_tokens)).toEqual([DEFAULT_CAP, DEFAULT_CAP, DEFAULT_CAP, DEFAULT_CAP]);
    expect(acquire).toHaveBeenCalledTimes(4);
    for (const [, demand] of acquire.mock.calls) expect(demand).toMatchObject({ model: MODEL, outputTokens: DEFAULT_CAP });
    // One slot in flight: a lease left unreleased would have refused the next step.
    expect(await usedOf(limiter, { user: 'u1' })).toMatchObject({ rpm: 4, tpm: 2 * TOTAL_TOKENS, inflight: 0 });
  });

  it('a short wait is retried by the AI SDK after retry-after-ms, and the retry is admitted anew', async () => {
    provider = await startProvider(toolLoop);
    const limiter = createLimiter({ store: new MemoryStore(), limits: [{ name: 'burst', scope: 'user', resource: 'requests', limit: 1, window: 300 }], prices });
    const model = modelWith({ limiter, identity: user });
    await generateText({ model, prompt: 'Hello' });
    const acquire = vi.spyOn(limiter, 'acquire');
    await generateText({ model, prompt: 'Hello again' });
    expect(acquire.mock.results).toHaveLength(2);
    expect(await acquire.mock.results[0]!.value).toMatchObject({ allowed: false, reason: 'limited' });
    expect(provider.requests).toHaveLength(2);
  });

  it('a long wait is thrown at once, not retried, with the status and headers of a 429', async () => {
    provider = await startProvider(toolLoop);
    const limiter = createLimiter({ store: new MemoryStore(), limits: [{ name: 'rpm', scope: 'user', resource: 'requests', limit: 1, window: '1m' }], prices });
    const acquire = vi.spyOn(limiter, 'acquire');
    const model = modelWith({ limiter, identity: user });
    await generateText({ model, prompt: 'Hello' });
    const error = await generateText({ model, prompt: 'Hello again' }).catch((caught: unknown) => caught);
    expect(APICallError.isInstance(error)).toBe(true);
    const refusal = error as AiSdkRefusedError;
    expect(refusal).toMatchObject({ statusCode: 429, isRetryable: false, decision: { deniedBy: [{ name: 'rpm' }] } });
    expect(Number(refusal.responseHeaders['retry-after-ms'])).toBeGreaterThan(5_000);
    expect(JSON.parse(refusal.responseBody)).toMatchObject({ error: { code: 'rate_limit_exceeded' } });
    expect(acquire).toHaveBeenCalledTimes(2);
    expect(provider.requests).toHaveLength(1);
  });

  it('a failed call releases its lease; a provider error is not charged its output', async () => {
    provider = await startProvider(() => ({ status: 400, json: { error: { message: 'bad request', type: 'invalid_request_error' } } }));
    const limiter = limiterWith(prices, {}, [{ name: 'inflight', scope: 'user', resource: 'concurrency', limit: 1 }]);
    const model = modelWith({ limiter, identity: user });
    await expect(generateText({ model, prompt: 'Hello' })).rejects.toSatisfy((error) => APICallError.isInstance(error) && error.statusCode === 400);
    expect(await usedOf(limiter, { user: 'u1' })).toMatchObject({ rpm: 1, tpm: 0, inflight: 0 });
  });
});

describe('tollgateMiddleware options', () => {
  it('is an AI SDK language-model middleware, and refuses options that cannot work', () => {
    const limiter = limiterWith(prices);
    const middleware: LanguageModelV4Middleware = tollgateMiddleware({ limiter, identity: user });
    expect(middleware.specificationVersion).toBe('v4');
    expect(() => tollgateMiddleware({ limiter, identity: user, retryableWithinMs: -1 })).toThrow(/retryableWithinMs must be a number of ms/);
    expect(() => tollgateMiddleware({ limiter })).toThrow(/identity is required/);
    expect(() => tollgateMiddleware({ lease: {} as Lease })).toThrow(/lease must be the lease of an allowed acquire/);
  });
});
