import OpenAI from 'openai';
import { expect, it } from 'vitest';
import type { LimitConfig } from '@tollgate/core';

/** What an OpenAI-compatible test endpoint allows: one request per 2 s per API key. */
export const OPENAI_ENDPOINT_LIMITS: LimitConfig[] = [{ name: 'rps', scope: 'apiKey', resource: 'requests', limit: 1, window: '2s' }];

/** A minimal valid Chat Completions response, as the endpoint under test answers. */
export function chatCompletion(model: string, id: number) {
  return {
    id: `chatcmpl-${id}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model,
    choices: [{ index: 0, message: { role: 'assistant', content: 'Hello!', refusal: null }, finish_reason: 'stop', logprobs: null }],
    usage: { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 },
  };
}

/** A started endpoint: its `/v1` base URL and the statuses it has answered, in order. */
export interface ChatEndpoint {
  baseURL: string;
  statuses: number[];
}

const ask = (client: OpenAI) => client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }] });

/**
 * The official openai SDK against an adapter's endpoint limited by `OPENAI_ENDPOINT_LIMITS`
 * (identified by the SDK's `Authorization: Bearer <apiKey>`): it must honour our `retry-after-ms`
 * and surface our 429 as its own `RateLimitError`. Registers the tests in the caller's `describe`.
 */
export function openAiSdkCases(start: () => Promise<ChatEndpoint>): void {
  it('retries a 429 after the retry-after-ms the server sent, and then succeeds', async () => {
    const { baseURL, statuses } = await start();
    const client = new OpenAI({ apiKey: 'sk-test-retrying', baseURL, maxRetries: 2 });

    const first = await ask(client);
    expect(first.choices[0]?.message.content).toBe('Hello!');
    const started = Date.now();
    const second = await ask(client);
    const waited = Date.now() - started;

    expect(second.choices[0]?.message.content).toBe('Hello!');
    expect(statuses).toEqual([200, 429, 200]);
    // The window is 2 s: the SDK waited for the server's retry-after-ms, not its own sub-second backoff.
    expect(waited).toBeGreaterThanOrEqual(1_000);
    expect(waited).toBeLessThan(15_000);
  });

  it('surfaces the 429 as OpenAI.RateLimitError carrying our error body when it may not retry', async () => {
    const { baseURL, statuses } = await start();
    const client = new OpenAI({ apiKey: 'sk-test-impatient', baseURL, maxRetries: 0 });

    await ask(client);
    const error: unknown = await ask(client).then(
      () => undefined,
      (rejection: unknown) => rejection,
    );

    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
    const limited = error as InstanceType<typeof OpenAI.RateLimitError>;
    expect(limited.status).toBe(429);
    expect(limited.code).toBe('rate_limit_exceeded');
    expect(limited.error).toMatchObject({ type: 'requests', code: 'rate_limit_exceeded', limit: 'rps', param: null });
    expect(Number(limited.headers.get('retry-after-ms'))).toBeGreaterThan(0);
    expect(statuses).toEqual([200, 429]);

    // Another API key is another caller.
    const other = new OpenAI({ apiKey: 'sk-test-other', baseURL, maxRetries: 0 });
    expect((await ask(other)).choices[0]?.message.content).toBe('Hello!');
  });
}
