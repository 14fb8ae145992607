import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { tollgate } from '../src/index.js';
import { bearer, create, limiterWith, listen } from './support.js';

/**
 * An OpenAI-compatible endpoint behind the plugin, limited to one request per 2 s per API key: the
 * official SDK must read our 429 as its own RateLimitError and honour `retry-after-ms`.
 */
async function chatServer() {
  const limiter = limiterWith([{ name: 'rps', scope: 'apiKey', resource: 'requests', limit: 1, window: '2s' }], {}, Date.now);
  const statuses: number[] = [];
  const app = create();
  // Before the reply goes out, so the list is complete when the client has its answer.
  app.addHook('onSend', async (_request, reply) => {
    statuses.push(reply.statusCode);
  });
  // The SDK's `Authorization: Bearer <apiKey>` is this app's authentication.
  await app.register(tollgate, { limiter, identify: (request) => ({ apiKey: bearer(request) }) });
  app.post('/v1/chat/completions', async (request) => ({
    id: `chatcmpl-${statuses.length}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: (request.body as { model: string }).model,
    choices: [{ index: 0, message: { role: 'assistant', content: 'Hello!', refusal: null }, finish_reason: 'stop', logprobs: null }],
    usage: { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 },
  }));
  return { baseURL: `${await listen(app)}/v1`, statuses };
}

const ask = (client: OpenAI) => client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }] });

describe('the official openai SDK against the tollgate plugin', () => {
  it('retries a 429 after the retry-after-ms the server sent, and then succeeds', async () => {
    const { baseURL, statuses } = await chatServer();
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
    const { baseURL, statuses } = await chatServer();
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
});
