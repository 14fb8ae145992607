import { costOf, estimateResponse, genaiPrices } from '@tollgate/llm';
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { client, eventually, gatewayWith, leaveMidStream, logLines, POLICY, usedOf, writeConfig } from './support.js';

const alice = { user: 'alice' };
const bob = { user: 'bob' };
const nano = (usd: number) => Math.round(usd * 1e9);
const INPUT = 'Hello from the gateway tests';

/** What the gateway reserves for a request sent as it is. */
const reservation = (body: Record<string, unknown>) => estimateResponse(body, { prices: genaiPrices() });

describe('the Responses API through the gateway, with the official openai SDK', () => {
  it('answers, caps max_output_tokens at the reserved output, and records exactly the usage it reported', async () => {
    const forwarded: Record<string, unknown>[] = [];
    const gateway = await gatewayWith(writeConfig(), { onSimulatedRequest: (body) => forwarded.push(body) });
    const body = { model: 'gpt-4o', input: INPUT };

    // bob's tier (pro) has no ladder: the cap is what the estimate reserved for a request without one.
    const { data, response } = await client(gateway, 'sk-test-bob').responses.create(body).withResponse();

    expect(data.object).toBe('response');
    expect(data.output_text).toMatch(/^\(simulated\) /);
    const cap = (await reservation(body)).outputTokens;
    expect(forwarded[0]).toMatchObject({ model: 'gpt-4o', max_output_tokens: cap });
    expect(response.headers.get('x-tollgate-max-tokens')).toBe(String(cap));
    expect(response.headers.get('x-tollgate-model')).toBe('gpt-4o');
    expect(response.headers.get('ratelimit')).toMatch(/"rpm";r=999;t=\d+/);
    const { input_tokens: input, output_tokens: output } = data.usage!;
    const used = await eventually(() => usedOf(gateway.policy.limiter, bob), (u) => (u.tpm ?? 0) > 0);
    expect(used.tpm).toBe(input + output);
    expect(nano(used['daily-usd']!)).toBe(nano(costOf('gpt-4o', { inputTokens: input, outputTokens: output })));
  });

  it('lowers a larger max_output_tokens to the ladder step\'s cap and says so', async () => {
    const forwarded: Record<string, unknown>[] = [];
    const gateway = await gatewayWith(writeConfig(), { onSimulatedRequest: (body) => forwarded.push(body) });

    // alice's first step caps at 512 tokens.
    const { response } = await client(gateway, 'sk-test-alice').responses.create({ model: 'gpt-4o', input: INPUT, max_output_tokens: 2000 }).withResponse();

    expect(forwarded[0]).toMatchObject({ model: 'gpt-4o', max_output_tokens: 512 });
    expect(response.headers.get('x-tollgate-max-tokens')).toBe('512');
    expect(response.headers.get('x-tollgate-degraded')).toBe('true');
  });

  it('streams, and records the usage response.completed carries', async () => {
    const log = logLines();
    const gateway = await gatewayWith(writeConfig(POLICY, { logLevel: 'info' }), { logStream: log.stream });
    const openai = client(gateway, 'sk-test-alice');
    const body = { model: 'gpt-4o', input: INPUT, max_output_tokens: 400 };

    const events: OpenAI.Responses.ResponseStreamEvent[] = [];
    for await (const event of await openai.responses.create({ ...body, stream: true })) events.push(event);

    const completed = events.at(-1)!;
    expect(completed.type).toBe('response.completed');
    const { usage } = (completed as OpenAI.Responses.ResponseCompletedEvent).response;
    const text = events.flatMap((event) => (event.type === 'response.output_text.delta' ? [event.delta] : [])).join('');
    expect(text).toBe((await openai.responses.create(body)).output_text);
    const used = await eventually(() => usedOf(gateway.policy.limiter, alice), (u) => u.rpm === 2 && u.inflight === 0);
    expect(used.tpm).toBe(2 * (usage!.input_tokens + usage!.output_tokens));
    expect(log.lines).toContainEqual(expect.objectContaining({ user: 'alice', usage: 'reported', metered: 'stream', msg: 'response' }));
  });

  it('keeps the whole reservation of a stream cut before response.completed', async () => {
    const gateway = await gatewayWith(writeConfig(POLICY, { chunkDelayMs: 50 }));
    const body = { model: 'gpt-4o', input: INPUT };

    const used = await leaveMidStream(gateway, 'alice', (signal) => client(gateway, 'sk-test-alice').responses.create({ ...body, stream: true }, { signal }));

    // Its usage never came: the reservation (the prompt and step 0's 512-token cap, which was sent) stays charged.
    const reserved = await reservation({ ...body, max_output_tokens: 512 });
    expect(used.tpm).toBe(reserved.tokens);
    expect(nano(used['daily-usd']!)).toBe(nano(costOf('gpt-4o', reserved)));
  });

  it('refuses with a 429 the SDK raises as RateLimitError once the budget is spent, never spending past it', async () => {
    const gateway = await gatewayWith(writeConfig(POLICY.replace('resource: cost, limit: 10,', 'resource: cost, limit: 0.001,')));
    const openai = client(gateway, 'sk-test-bob');

    let refusal: unknown;
    for (let i = 0; i < 50 && refusal === undefined; i++) await openai.responses.create({ model: 'gpt-4o', input: INPUT, max_output_tokens: 100 }).catch((error: unknown) => (refusal = error));

    expect(refusal).toBeInstanceOf(OpenAI.RateLimitError);
    expect((refusal as InstanceType<typeof OpenAI.RateLimitError>).error).toMatchObject({ code: 'rate_limit_exceeded', limit: 'daily-usd' });
    expect((await usedOf(gateway.policy.limiter, bob))['daily-usd']).toBeLessThanOrEqual(0.001);
  });

  it('passes previous_response_id and store through untouched', async () => {
    const forwarded: Record<string, unknown>[] = [];
    const gateway = await gatewayWith(writeConfig(), { onSimulatedRequest: (body) => forwarded.push(body) });
    const openai = client(gateway, 'sk-test-bob');

    const first = await openai.responses.create({ model: 'gpt-4o', input: INPUT, store: true });
    const second = await openai.responses.create({ model: 'gpt-4o', input: 'And again', previous_response_id: first.id, store: false });

    expect(forwarded[1]).toMatchObject({ previous_response_id: first.id, store: false });
    expect(second).toMatchObject({ previous_response_id: first.id, store: false });
  });

  it('refuses an unknown API key with a 401 and a missing one too', async () => {
    const gateway = await gatewayWith(writeConfig());

    const wrong = await client(gateway, 'sk-not-a-key').responses.create({ model: 'gpt-4o', input: INPUT }).catch((e: unknown) => e);
    const missing = await fetch(`${gateway.url}/v1/responses`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });

    expect(wrong).toBeInstanceOf(OpenAI.AuthenticationError);
    expect(missing.status).toBe(401);
  });
});
