import { costOf, estimateChatCompletion } from '@tollgate/llm';
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { admin, client, eventually, gatewayWith, HELLO, leaveMidStream, POLICY, usedOf, writeConfig } from './support.js';

const alice = { user: 'alice' };
const aliceKey = { user: 'alice', apiKey: 'alice-key' };
const nano = (usd: number) => Math.round(usd * 1e9);

describe('chat completions through the gateway, with the official openai SDK', () => {
  it('answers a chat, passes the upstream\'s headers, and records exactly the usage it reported', async () => {
    const forwarded: Record<string, unknown>[] = [];
    const gateway = await gatewayWith(writeConfig(), { onSimulatedRequest: (body) => forwarded.push(body) });

    const { data: completion, response } = await client(gateway, 'sk-test-alice').chat.completions.create({ model: 'gpt-4o', messages: HELLO, max_tokens: 40 }).withResponse();

    expect(completion.object).toBe('chat.completion');
    expect(completion.choices[0]!.message.content).toMatch(/^\(simulated\) /);
    expect(response.headers.get('x-request-id')).toMatch(/^req_sim_/);
    expect(response.headers.get('x-tollgate-upstream')).toBe('simulated');
    expect(response.headers.get('x-tollgate-model')).toBe('gpt-4o');
    expect(response.headers.get('x-tollgate-degraded')).toBe('false');
    expect(response.headers.get('ratelimit')).toMatch(/"rpm";r=99;t=\d+/);
    // The caller's own key never goes upstream; the simulated upstream's does.
    expect(forwarded).toHaveLength(1);
    const usage = completion.usage!;
    const used = await eventually(() => usedOf(gateway.policy.limiter, aliceKey), (u) => u.inflight === 0);
    expect(used.tpm).toBe(usage.prompt_tokens + usage.completion_tokens);
    expect(nano(used['daily-usd']!)).toBe(nano(costOf('gpt-4o', { inputTokens: usage.prompt_tokens, outputTokens: usage.completion_tokens })));
    expect(used['key-rpm']).toBe(1);
  });

  it('streams, hides the usage chunk it asked for from a client that did not, and records the stream\'s usage', async () => {
    const gateway = await gatewayWith(writeConfig());
    const openai = client(gateway, 'sk-test-alice');
    const body = { model: 'gpt-4o', messages: HELLO, max_tokens: 40 };

    const chunks: OpenAI.ChatCompletionChunk[] = [];
    for await (const chunk of await openai.chat.completions.create({ ...body, stream: true })) chunks.push(chunk);

    expect(chunks.length).toBeGreaterThan(3);
    expect(chunks.every((chunk) => chunk.choices.length === 1 && !('usage' in chunk))).toBe(true);
    const text = chunks.map((chunk) => chunk.choices[0]!.delta.content ?? '').join('');
    // The same request unstreamed gets the same deterministic reply: its usage is what the stream cost.
    const same = await openai.chat.completions.create(body);
    expect(text).toBe(same.choices[0]!.message.content);
    const { prompt_tokens: input, completion_tokens: output } = same.usage!;
    const used = await eventually(() => usedOf(gateway.policy.limiter, alice), (u) => u.inflight === 0);
    expect(used.tpm).toBe(2 * (input + output));
    expect(nano(used['daily-usd']!)).toBe(2 * nano(costOf('gpt-4o', { inputTokens: input, outputTokens: output })));
  });

  it('passes the usage chunk to a client that asked for it', async () => {
    const gateway = await gatewayWith(writeConfig());

    const chunks: OpenAI.ChatCompletionChunk[] = [];
    const stream = await client(gateway, 'sk-test-alice').chat.completions.create({ model: 'gpt-4o', messages: HELLO, max_tokens: 30, stream: true, stream_options: { include_usage: true } });
    for await (const chunk of stream) chunks.push(chunk);

    const last = chunks.at(-1)!;
    expect(last.choices).toEqual([]);
    const used = await eventually(() => usedOf(gateway.policy.limiter, alice), (u) => u.inflight === 0);
    expect(used.tpm).toBe(last.usage!.total_tokens);
  });

  it('answers over the limit with a 429 the SDK raises as RateLimitError, and counts per key as well as per user', async () => {
    const gateway = await gatewayWith(writeConfig(POLICY.replace('limit: 100, window: 1m }\n      - { name: tpm', 'limit: 3, window: 1m }\n      - { name: tpm').replace('name: key-rpm, scope: apiKey, resource: requests, limit: 100', 'name: key-rpm, scope: apiKey, resource: requests, limit: 2')));
    const first = client(gateway, 'sk-test-alice');
    const second = client(gateway, 'sk-test-alice-2');

    await first.chat.completions.create({ model: 'gpt-4o', messages: HELLO });
    await first.chat.completions.create({ model: 'gpt-4o', messages: HELLO });
    const keyLimited = await first.chat.completions.create({ model: 'gpt-4o', messages: HELLO }).catch((error: unknown) => error);
    await second.chat.completions.create({ model: 'gpt-4o', messages: HELLO });
    const userLimited = await second.chat.completions.create({ model: 'gpt-4o', messages: HELLO }).catch((error: unknown) => error);

    expect(keyLimited).toBeInstanceOf(OpenAI.RateLimitError);
    expect((keyLimited as InstanceType<typeof OpenAI.RateLimitError>).error).toMatchObject({ code: 'rate_limit_exceeded', limit: 'key-rpm', type: 'requests' });
    expect(userLimited).toBeInstanceOf(OpenAI.RateLimitError);
    const limited = userLimited as InstanceType<typeof OpenAI.RateLimitError>;
    expect(limited.error).toMatchObject({ code: 'rate_limit_exceeded', limit: 'rpm' });
    expect(Number(limited.headers.get('retry-after-ms'))).toBeGreaterThan(0);
    expect(await usedOf(gateway.policy.limiter, alice)).toMatchObject({ rpm: 3 });
  });

  it('makes the SDK wait for retry-after-ms and retry a short refusal on its own', async () => {
    const gateway = await gatewayWith(writeConfig(POLICY.replace('limit: 100, window: 1m }\n      - { name: tpm', 'limit: 1, window: 2s }\n      - { name: tpm')));
    const openai = client(gateway, 'sk-test-alice', { maxRetries: 2 });

    await openai.chat.completions.create({ model: 'gpt-4o', messages: HELLO });
    const retried = await openai.chat.completions.create({ model: 'gpt-4o', messages: HELLO });

    expect(retried.object).toBe('chat.completion');
    const metrics = await (await fetch(`${gateway.url}/metrics`)).text();
    expect(metrics).toContain('tollgate_decisions_total{outcome="allowed",limit=""} 2');
    expect(metrics).toMatch(/tollgate_decisions_total\{outcome="limited",limit="rpm"\} [12]\n/);
  });

  it('degrades as the daily budget fills (cheaper model, fewer tokens), then refuses, never spending past the budget', async () => {
    // gpt-4o costs about $0.0003 a request here: the budget holds a few, then gpt-4o-mini takes over.
    const forwarded: Record<string, unknown>[] = [];
    const gateway = await gatewayWith(writeConfig(POLICY.replace('resource: cost, limit: 1,', 'resource: cost, limit: 0.002,')), { onSimulatedRequest: (body) => forwarded.push(body) });
    const openai = client(gateway, 'sk-test-alice');

    const served: Array<{ model: string; degraded: string | null; step: string | null }> = [];
    let refusal: unknown;
    for (let i = 0; i < 400 && refusal === undefined; i++) {
      try {
        const { data, response } = await openai.chat.completions.create({ model: 'gpt-4o', messages: HELLO, max_tokens: 100 }).withResponse();
        served.push({ model: data.model, degraded: response.headers.get('x-tollgate-degraded'), step: response.headers.get('x-tollgate-degrade-step') });
      } catch (error) {
        refusal = error;
      }
    }

    const firstCheap = served.findIndex((s) => s.model === 'gpt-4o-mini');
    expect(firstCheap).toBeGreaterThan(0);
    expect(served.slice(0, firstCheap).every((s) => s.model === 'gpt-4o' && s.degraded === 'false' && s.step === '0')).toBe(true);
    expect(served.slice(firstCheap).every((s) => s.model === 'gpt-4o-mini' && s.degraded === 'true' && s.step === '1')).toBe(true);
    // What went upstream is what the headers said: the step's model, and its 64-token cap on the 100 asked.
    expect(forwarded.at(-1)).toMatchObject({ model: 'gpt-4o-mini', max_tokens: 64 });
    expect(refusal).toBeInstanceOf(OpenAI.RateLimitError);
    expect((refusal as InstanceType<typeof OpenAI.RateLimitError>).error).toMatchObject({ limit: 'daily-usd', type: 'cost' });
    const used = await eventually(() => usedOf(gateway.policy.limiter, alice), (u) => u.inflight === 0);
    expect(used['daily-usd']).toBeLessThanOrEqual(0.002);
  });

  it('never moves a request to a dearer model than it asked for', async () => {
    const forwarded: Record<string, unknown>[] = [];
    const gateway = await gatewayWith(writeConfig(), { onSimulatedRequest: (body) => forwarded.push(body) });

    // Step 0 of alice's ladder names gpt-4o; she asks for the cheaper gpt-4o-mini and keeps it, capped.
    const { data, response } = await client(gateway, 'sk-test-alice').chat.completions.create({ model: 'gpt-4o-mini', messages: HELLO, max_tokens: 2000 }).withResponse();

    expect(data.model).toBe('gpt-4o-mini');
    expect(forwarded[0]).toMatchObject({ model: 'gpt-4o-mini', max_tokens: 512 });
    expect(response.headers.get('x-tollgate-model')).toBe('gpt-4o-mini');
    expect(response.headers.get('x-tollgate-requested-model')).toBeNull();
    expect(response.headers.get('x-tollgate-degraded')).toBe('true');
  });

  it('frees the in-flight slot and charges the whole reservation of a stream the client leaves mid-way', async () => {
    const gateway = await gatewayWith(writeConfig(POLICY, { chunkDelayMs: 50 }));

    const used = await leaveMidStream(gateway, 'alice', (signal) => client(gateway, 'sk-test-alice').chat.completions.create({ model: 'gpt-4o', messages: HELLO, stream: true }, { signal }));

    // Its usage never came: the reservation (the prompt and step 0's 512-token cap, which was sent) stays charged.
    const reserved = await estimateChatCompletion({ model: 'gpt-4o', messages: HELLO, max_completion_tokens: 512 });
    expect(used.tpm).toBe(reserved.tokens);
    expect(nano(used['daily-usd']!)).toBe(nano(costOf('gpt-4o', reserved)));
  });

  it('passes an upstream error through in OpenAI\'s shape, and charges no tokens for it', async () => {
    const gateway = await gatewayWith(writeConfig());
    const openai = client(gateway, 'sk-test-bob'); // pro: no ladder, so the model asked for is the model sent

    const notFound = await openai.chat.completions.create({ model: 'gpt-4-turbo', messages: HELLO }).catch((e: unknown) => e);
    const unpriced = await openai.chat.completions.create({ model: 'my-local-llama', messages: HELLO }).catch((e: unknown) => e);

    expect(notFound).toBeInstanceOf(OpenAI.NotFoundError);
    expect((notFound as InstanceType<typeof OpenAI.NotFoundError>).code).toBe('model_not_found');
    // genai-prices knows no such model and a cost limit applies: refused before anything is sent.
    expect(unpriced).toBeInstanceOf(OpenAI.BadRequestError);
    expect((unpriced as InstanceType<typeof OpenAI.BadRequestError>).code).toBe('model_not_priced');
    // Advice for an API client, not for a library user: no price tables or `cost` fields.
    expect((unpriced as Error).message).toMatch(/The model "my-local-llama" has no price at this gateway, so its cost cannot be budgeted\. Ask the gateway's operator/);
    expect((unpriced as Error).message).not.toMatch(/price table|`cost`/);
    const used = await eventually(() => usedOf(gateway.policy.limiter, { user: 'bob' }), (u) => u.tpm === 0);
    expect(used).toMatchObject({ rpm: 1, tpm: 0, 'daily-usd': 0 });
  });

  it('a token or budget refusal says what the request reserved, and why when its output cap was the default', async () => {
    const gateway = await gatewayWith(writeConfig(POLICY.replace('resource: tokens, limit: 1000000, window: 1m', 'resource: tokens, limit: 3000, window: 1m')));
    const openai = client(gateway, 'sk-test-bob');
    const refused = await openai.chat.completions.create({ model: 'gpt-4o', messages: HELLO }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(OpenAI.RateLimitError);
    expect((refused as Error).message).toMatch(/This request reserved \d+ tokens: \d+ for its prompt and 4096 for its output, the default cap since it sets no max_completion_tokens or max_tokens\. Set a lower cap to fit\./);
    const capped = await openai.chat.completions.create({ model: 'gpt-4o', messages: HELLO, max_tokens: 5_000 }).catch((e: unknown) => e);
    expect((capped as Error).message).toMatch(/This request reserved \d+ tokens: \d+ for its prompt and 5000 for its output\./);
  });

  it('refuses a malformed body with a 400 and charges nothing', async () => {
    const gateway = await gatewayWith(writeConfig());

    const error = await client(gateway, 'sk-test-alice').chat.completions.create({ model: 'gpt-4o', messages: 'hi' as never }).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect((error as InstanceType<typeof OpenAI.BadRequestError>).message).toMatch(/messages must be an array/);
    expect(await usedOf(gateway.policy.limiter, alice)).toMatchObject({ rpm: 0 });
  });

  it('lists the upstream\'s models', async () => {
    const gateway = await gatewayWith(writeConfig());

    const models = await client(gateway, 'sk-test-bob').models.list();

    expect(models.data.map((model) => model.id)).toContain('gpt-4o-mini');
  });
});

describe('authentication', () => {
  it('answers an unknown or missing API key with a 401 the SDK raises as AuthenticationError', async () => {
    const gateway = await gatewayWith(writeConfig());

    const wrong = await client(gateway, 'sk-not-a-key').chat.completions.create({ model: 'gpt-4o', messages: HELLO }).catch((e: unknown) => e);
    const missing = await fetch(`${gateway.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });

    expect(wrong).toBeInstanceOf(OpenAI.AuthenticationError);
    expect((wrong as InstanceType<typeof OpenAI.AuthenticationError>).code).toBe('invalid_api_key');
    expect(missing.status).toBe(401);
    expect((await missing.json()).error.message).toMatch(/didn't provide an API key/);
  });

  it('refuses the admin API without the admin token, or with another', async () => {
    const gateway = await gatewayWith(writeConfig());

    const none = await fetch(`${gateway.url}/admin/api/overview`);
    const wrong = await admin(gateway, 'GET', '/admin/api/overview', undefined, 'not-the-token');
    const reset = await admin(gateway, 'POST', '/admin/api/users/alice/reset', {}, 'sk-test-alice');

    expect([none.status, wrong.status, reset.status]).toEqual([401, 401, 401]);
    expect((await none.json()).error.message).toMatch(/Authorization: Bearer <admin token>/);
  });
});

describe('the admin API', () => {
  it('shows usage, resets a user, and moves a user to another tier at once', async () => {
    const gateway = await gatewayWith(writeConfig());
    const openai = client(gateway, 'sk-test-alice');
    await openai.chat.completions.create({ model: 'gpt-4o', messages: HELLO });

    const overview = await eventually(async () => (await admin(gateway, 'GET', '/admin/api/overview')).json(), (o) => o.users[0].limits.find((l: { name: string }) => l.name === 'inflight').used === 0);
    expect(overview.upstream).toBe('simulated');
    expect(overview.users.map((u: { id: string }) => u.id)).toEqual(['alice', 'bob']);
    expect(overview.users[0]).toMatchObject({ tier: 'free', degrade: { step: 0, budget: 'daily-usd' }, keys: [{ id: 'alice-key' }, { id: 'alice-second' }] });
    expect(overview.users[0].limits.find((l: { name: string }) => l.name === 'rpm').used).toBe(1);
    expect(overview.users[0].spend.used).toBeGreaterThan(0);
    expect(overview.hour).toHaveLength(60);
    expect(overview.hour.at(-1).requests).toBe(1);

    expect((await admin(gateway, 'POST', '/admin/api/users/alice/reset', {})).status).toBe(200);
    expect(await usedOf(gateway.policy.limiter, aliceKey)).toMatchObject({ rpm: 0, tpm: 0, 'daily-usd': 0, 'key-rpm': 0 });

    const moved = await admin(gateway, 'PUT', '/admin/api/users/alice/tier', { tier: 'pro' });
    expect(moved.status).toBe(200);
    const { response } = await openai.chat.completions.create({ model: 'gpt-4o', messages: HELLO }).withResponse();
    expect(response.headers.get('x-tollgate-tier')).toBe('pro');

    expect((await admin(gateway, 'PUT', '/admin/api/users/alice/tier', { tier: 'gold' })).status).toBe(400);
    expect((await admin(gateway, 'PUT', '/admin/api/users/nobody/tier', { tier: 'pro' })).status).toBe(404);
    expect((await admin(gateway, 'POST', '/admin/api/users/alice/reset', { limit: 'nope' })).status).toBe(400);
  });
});

describe('metrics', () => {
  it('counts decisions by outcome and limit, and times the store', async () => {
    const gateway = await gatewayWith(writeConfig(POLICY.replace('limit: 100, window: 1m }\n      - { name: tpm', 'limit: 1, window: 1m }\n      - { name: tpm')));
    const openai = client(gateway, 'sk-test-alice');
    await openai.chat.completions.create({ model: 'gpt-4o', messages: HELLO });
    await openai.chat.completions.create({ model: 'gpt-4o', messages: HELLO }).catch(() => undefined);

    const text = await (await fetch(`${gateway.url}/metrics`)).text();

    expect(text).toContain('tollgate_decisions_total{outcome="allowed",limit=""} 1');
    expect(text).toContain('tollgate_decisions_total{outcome="limited",limit="rpm"} 1');
    expect(text).toMatch(/tollgate_store_latency_seconds_count\{result="ok"\} [1-9]/);
    expect(text).toContain('tollgate_upstream_responses_total{status="200"} 1');
    expect(text).toMatch(/tollgate_tokens_total\{kind="output"\} [1-9]/);
  });
});

describe('per IP', () => {
  const ipLimited = `limits:\n  - { name: ip-rpm, scope: ip, resource: requests, limit: 1, window: 1m }\n${POLICY}`;
  const from = (gateway: Awaited<ReturnType<typeof gatewayWith>>, ip: string) =>
    new OpenAI({ apiKey: 'sk-test-alice', baseURL: `${gateway.url}/v1`, maxRetries: 0, defaultHeaders: { 'x-forwarded-for': ip } })
      .chat.completions.create({ model: 'gpt-4o', messages: HELLO })
      .then(() => 200, (error: InstanceType<typeof OpenAI.APIError>) => error.status);

  it('limits by the socket\'s address, whatever X-Forwarded-For a client sends', async () => {
    const gateway = await gatewayWith(writeConfig(ipLimited));

    expect([await from(gateway, '198.51.100.1'), await from(gateway, '198.51.100.2')]).toEqual([200, 429]);
  });

  it('limits by the client\'s address behind the proxies listen.trustProxy names', async () => {
    const gateway = await gatewayWith(writeConfig(ipLimited, { listen: '{ host: 127.0.0.1, port: 0, trustProxy: 1 }' }));

    expect([await from(gateway, '198.51.100.1'), await from(gateway, '198.51.100.2'), await from(gateway, '198.51.100.1')]).toEqual([200, 200, 429]);
  });
});
