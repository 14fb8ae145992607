import { createAnthropic } from '@ai-sdk/anthropic';
import Anthropic from '@anthropic-ai/sdk';
import { costOf, estimateAnthropicMessage, genaiPrices } from '@tollgate/llm';
import { generateText, streamText } from 'ai';
import { describe, expect, it } from 'vitest';
import type { RunningGateway } from '../src/gateway.js';
import { startSimulatedUpstream } from '../src/simulated/upstream.js';
import { afterTest, eventually, gatewayWith, leaveMidStream, logLines, POLICY, usedOf, writeConfig } from './support.js';

const alice = { user: 'alice' };
const bob = { user: 'bob' };
const nano = (usd: number) => Math.round(usd * 1e9);
const MODEL = 'claude-sonnet-4-6';
const HELLO: Anthropic.MessageParam[] = [{ role: 'user', content: 'Hello from the gateway tests' }];

/** Anthropic's SDK pointed at the gateway (it adds `/v1` itself), retries off unless asked. */
const anthropic = (gateway: RunningGateway, apiKey: string, maxRetries = 0) => new Anthropic({ apiKey, baseURL: gateway.url, maxRetries });

/** What the gateway reserves for a request sent as it is. */
const reservation = (body: Record<string, unknown>) => estimateAnthropicMessage(body, { prices: genaiPrices() });

describe('Anthropic\'s Messages API through the gateway, with the official @anthropic-ai/sdk', () => {
  it('answers messages.create, forwards the version headers and the upstream\'s own key, and records exactly the usage it reported', async () => {
    const forwarded: Array<{ body: Record<string, unknown>; headers: Headers }> = [];
    const gateway = await gatewayWith(writeConfig(), { onSimulatedRequest: (body, headers) => forwarded.push({ body, headers }) });

    const { data, response } = await anthropic(gateway, 'sk-test-bob').messages.create({ model: MODEL, max_tokens: 300, messages: HELLO }, { headers: { 'anthropic-beta': 'tools-2024-04-04' } }).withResponse();

    expect(data.type).toBe('message');
    expect(data.content[0]).toMatchObject({ type: 'text', text: expect.stringMatching(/^\(simulated\) /) });
    expect(forwarded[0]!.body).toMatchObject({ model: MODEL, max_tokens: 300 });
    expect(forwarded[0]!.headers.get('anthropic-version')).toBe('2023-06-01');
    expect(forwarded[0]!.headers.get('anthropic-beta')).toBe('tools-2024-04-04');
    expect(forwarded[0]!.headers.get('x-api-key')).not.toBe('sk-test-bob');
    expect(response.headers.get('x-tollgate-model')).toBe(MODEL);
    expect(response.headers.get('ratelimit')).toMatch(/"rpm";r=999;t=\d+/);
    const { input_tokens: input, output_tokens: output } = data.usage;
    const used = await eventually(() => usedOf(gateway.policy.limiter, bob), (u) => (u.tpm ?? 0) > 0);
    expect(used.tpm).toBe(input + output);
    expect(nano(used['daily-usd']!)).toBe(nano(costOf(MODEL, { inputTokens: input, outputTokens: output })));
  });

  it('streams with messages.stream, and records the usage of message_start and message_delta', async () => {
    const log = logLines();
    const gateway = await gatewayWith(writeConfig(POLICY, { logLevel: 'info' }), { logStream: log.stream });
    const client = anthropic(gateway, 'sk-test-bob');

    const stream = client.messages.stream({ model: MODEL, max_tokens: 300, messages: HELLO });
    const streamed: string[] = [];
    stream.on('text', (text) => streamed.push(text));
    const final = await stream.finalMessage();

    const whole = await client.messages.create({ model: MODEL, max_tokens: 300, messages: HELLO });
    expect(streamed.join('')).toBe((whole.content[0] as Anthropic.TextBlock).text);
    expect(final.usage).toMatchObject({ input_tokens: whole.usage.input_tokens, output_tokens: whole.usage.output_tokens });
    const used = await eventually(() => usedOf(gateway.policy.limiter, bob), (u) => u.rpm === 2);
    expect(used.tpm).toBe(2 * (whole.usage.input_tokens + whole.usage.output_tokens));
    expect(log.lines).toContainEqual(expect.objectContaining({ user: 'bob', usage: 'reported', metered: 'stream', msg: 'message' }));
  });

  it('lowers max_tokens to the ladder step\'s cap, and never moves a Claude request to the step\'s GPT model', async () => {
    const forwarded: Record<string, unknown>[] = [];
    const gateway = await gatewayWith(writeConfig(), { onSimulatedRequest: (body) => forwarded.push(body) });

    // alice's first step names gpt-4o (cheaper than Claude Sonnet) with a 512-token cap.
    const { response } = await anthropic(gateway, 'sk-test-alice').messages.create({ model: MODEL, max_tokens: 2000, messages: HELLO }).withResponse();

    expect(forwarded[0]).toMatchObject({ model: MODEL, max_tokens: 512 });
    expect(response.headers.get('x-tollgate-model')).toBe(MODEL);
    expect(response.headers.get('x-tollgate-max-tokens')).toBe('512');
    expect(response.headers.get('x-tollgate-degraded')).toBe('true');
  });

  it('keeps the whole reservation of a stream cut before message_delta', async () => {
    const gateway = await gatewayWith(writeConfig(POLICY, { chunkDelayMs: 50 }));
    const body = { model: MODEL, max_tokens: 300, messages: HELLO };

    const used = await leaveMidStream(gateway, 'alice', (signal) => anthropic(gateway, 'sk-test-alice').messages.create({ ...body, stream: true }, { signal }));

    const reserved = await reservation(body);
    expect(used.tpm).toBe(reserved.tokens);
    expect(nano(used['daily-usd']!)).toBe(nano(costOf(MODEL, reserved)));
  });

  it('refuses with Anthropic\'s 429 (rate_limit_error, retry-after), which the SDK raises as RateLimitError, never spending past the budget', async () => {
    // Room for a few calls: each reserves about $0.0015.
    const gateway = await gatewayWith(writeConfig(POLICY.replace('resource: cost, limit: 10,', 'resource: cost, limit: 0.01,')));
    const client = anthropic(gateway, 'sk-test-bob');

    let refusal: unknown;
    for (let i = 0; i < 50 && refusal === undefined; i++) await client.messages.create({ model: MODEL, max_tokens: 100, messages: HELLO }).catch((error: unknown) => (refusal = error));

    expect(refusal).toBeInstanceOf(Anthropic.RateLimitError);
    const error = refusal as InstanceType<typeof Anthropic.RateLimitError>;
    expect(error.error).toMatchObject({ type: 'error', error: { type: 'rate_limit_error', message: expect.stringMatching(/daily-usd/) } });
    expect(Number(error.headers?.get('retry-after'))).toBeGreaterThan(0);
    expect((await usedOf(gateway.policy.limiter, bob))['daily-usd']).toBeLessThanOrEqual(0.01);
  });

  it('authenticates by x-api-key or Authorization: Bearer, and answers a bad key with Anthropic\'s 401', async () => {
    const gateway = await gatewayWith(writeConfig());

    const byBearer = await new Anthropic({ authToken: 'sk-test-bob', baseURL: gateway.url, maxRetries: 0 }).messages.create({ model: MODEL, max_tokens: 20, messages: HELLO });
    const wrong = await anthropic(gateway, 'sk-not-a-key').messages.create({ model: MODEL, max_tokens: 20, messages: HELLO }).catch((e: unknown) => e);

    expect(byBearer.type).toBe('message');
    expect(wrong).toBeInstanceOf(Anthropic.AuthenticationError);
    expect((wrong as InstanceType<typeof Anthropic.AuthenticationError>).error).toMatchObject({ type: 'error', error: { type: 'authentication_error' } });
  });

  it('prices prompt-cache writes and reads at their own rates', async () => {
    const gateway = await gatewayWith(writeConfig());
    const client = anthropic(gateway, 'sk-test-bob');
    const system: Anthropic.TextBlockParam[] = [{ type: 'text', text: 'You plan trips for travellers on a budget. '.repeat(200), cache_control: { type: 'ephemeral' } }];

    const written = await client.messages.create({ model: MODEL, max_tokens: 50, system, messages: HELLO });
    const read = await client.messages.create({ model: MODEL, max_tokens: 50, system, messages: HELLO });

    expect(written.usage.cache_creation_input_tokens).toBeGreaterThan(1000);
    expect(read.usage.cache_read_input_tokens).toBe(written.usage.cache_creation_input_tokens);
    const cost = ({ input_tokens, cache_creation_input_tokens: write, cache_read_input_tokens: cached, output_tokens }: Anthropic.Usage) =>
      costOf(MODEL, { inputTokens: input_tokens + (write ?? 0) + (cached ?? 0), outputTokens: output_tokens, cacheWriteTokens: write ?? 0, cachedInputTokens: cached ?? 0 });
    const used = await eventually(() => usedOf(gateway.policy.limiter, bob), (u) => u.rpm === 2);
    expect(nano(used['daily-usd']!)).toBe(nano(cost(written.usage)) + nano(cost(read.usage)));
    // A read costs a tenth of the input rate, a write more than it.
    expect(cost(read.usage)).toBeLessThan(cost(written.usage) / 2);
  });

  it('passes messages.countTokens to the upstream, uncounted', async () => {
    const gateway = await gatewayWith(writeConfig());

    const counted = await anthropic(gateway, 'sk-test-bob').messages.countTokens({ model: MODEL, messages: HELLO });

    expect(counted.input_tokens).toBe((await reservation({ model: MODEL, max_tokens: 1, messages: HELLO })).inputTokens);
    expect(await usedOf(gateway.policy.limiter, bob)).toMatchObject({ rpm: 0, tpm: 0 });
  });

  it('answers a request that is no JSON object with Anthropic\'s 400, uncounted', async () => {
    const gateway = await gatewayWith(writeConfig());

    const response = await fetch(`${gateway.url}/v1/messages`, { method: 'POST', headers: { 'x-api-key': 'sk-test-bob', 'content-type': 'application/json' }, body: '[1]' });

    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ type: 'error', error: { type: 'invalid_request_error', message: 'The request body must be a JSON object.' } });
    expect(await usedOf(gateway.policy.limiter, bob)).toMatchObject({ rpm: 0 });
  });
});

describe('the AI SDK\'s Anthropic provider through the gateway', () => {
  it('generateText and streamText, each recorded exactly', async () => {
    const gateway = await gatewayWith(writeConfig());
    const model = createAnthropic({ apiKey: 'sk-test-bob', baseURL: `${gateway.url}/v1` })(MODEL);

    const generated = await generateText({ model, prompt: 'Hello from the AI SDK', maxOutputTokens: 200, maxRetries: 0 });
    const streamed = streamText({ model, prompt: 'Hello from the AI SDK', maxOutputTokens: 200, maxRetries: 0 });
    const text = await streamed.text;
    const usage = await streamed.usage;

    expect(generated.text).toMatch(/^\(simulated\) /);
    expect(text).toBe(generated.text);
    const used = await eventually(() => usedOf(gateway.policy.limiter, bob), (u) => u.rpm === 2);
    expect(used.tpm).toBe(generated.usage.inputTokens! + generated.usage.outputTokens! + usage.inputTokens! + usage.outputTokens!);
  });
});

describe('routing by path between two upstreams', () => {
  it('sends chat completions to the OpenAI upstream and messages to the Anthropic one', async () => {
    const openaiSeen: string[] = [];
    const anthropicSeen: string[] = [];
    const openaiUpstream = await startSimulatedUpstream({ chunkDelayMs: 0, onRequest: (body) => openaiSeen.push(String(body.model)) });
    const anthropicUpstream = await startSimulatedUpstream({ chunkDelayMs: 0, onRequest: (body) => anthropicSeen.push(String(body.model)) });
    afterTest(async () => void (await Promise.all([openaiUpstream.close(), anthropicUpstream.close()])));
    const upstreams = `upstreams:\n  openai: { baseUrl: "${openaiUpstream.baseUrl}", apiKey: ${openaiUpstream.apiKey} }\n  anthropic: { baseUrl: "${anthropicUpstream.baseUrl}", apiKey: ${anthropicUpstream.apiKey} }\n`;
    const gateway = await gatewayWith(writeConfig(upstreams + POLICY));

    await anthropic(gateway, 'sk-test-bob').messages.create({ model: MODEL, max_tokens: 20, messages: HELLO });
    const chat = await fetch(`${gateway.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: 'Bearer sk-test-bob', 'content-type': 'application/json' }, body: JSON.stringify({ model: 'gpt-4o', messages: HELLO }) });

    expect(chat.status).toBe(200);
    expect(openaiSeen).toEqual(['gpt-4o']);
    expect(anthropicSeen).toEqual([MODEL]);
  });

  it('answers an API without an upstream, and any unknown path, with that API\'s own 404', async () => {
    const openaiUpstream = await startSimulatedUpstream({ chunkDelayMs: 0 });
    afterTest(() => openaiUpstream.close());
    const gateway = await gatewayWith(writeConfig(`upstream: { baseUrl: "${openaiUpstream.baseUrl}", apiKey: ${openaiUpstream.apiKey} }\n${POLICY}`));
    const post = (path: string, headers: Record<string, string>) => fetch(`${gateway.url}${path}`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: '{}' });

    const messages = await post('/v1/messages', { 'x-api-key': 'sk-test-bob' });
    const unknown = await post('/v1/unknown', { authorization: 'Bearer sk-test-bob' });

    expect(messages.status).toBe(404);
    expect(await messages.json()).toEqual({ type: 'error', error: { type: 'not_found_error', message: expect.stringMatching(/no Anthropic upstream.*upstreams\.anthropic/) } });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toEqual({ error: { message: 'Invalid URL (POST /v1/unknown)', type: 'invalid_request_error', param: null, code: null } });
    expect(await usedOf(gateway.policy.limiter, bob)).toMatchObject({ rpm: 0 });
  });
});
