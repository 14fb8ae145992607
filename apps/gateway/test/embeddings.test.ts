import { costOf, estimateEmbeddings } from '@tollgate/llm';
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { client, eventually, gatewayWith, POLICY, usedOf, writeConfig } from './support.js';

const alice = { user: 'alice' };
const nano = (usd: number) => Math.round(usd * 1e9);
const DOCUMENTS = ['The gateway keeps every agent within its budget.', 'Cheaper models take over as spending grows.', 'Limits reset at midnight.'];

describe('embeddings through the gateway, with the official openai SDK', () => {
  it('embeds an array of inputs, sends the request as it is, and records exactly its prompt_tokens', async () => {
    const forwarded: Record<string, unknown>[] = [];
    const gateway = await gatewayWith(writeConfig(), { onSimulatedRequest: (body) => forwarded.push(body) });
    const body = { model: 'text-embedding-3-small', input: DOCUMENTS };

    // alice's tier has a ladder: an embedding, which has no output, keeps its model and gets no cap.
    const { data, response } = await client(gateway, 'sk-test-alice').embeddings.create(body).withResponse();

    expect(data.data.map((item) => item.index)).toEqual([0, 1, 2]);
    expect(data.data[0]!.embedding).toHaveLength(8);
    expect(forwarded[0]).toMatchObject({ model: 'text-embedding-3-small', input: DOCUMENTS });
    expect(Object.keys(forwarded[0]!).filter((field) => field.startsWith('max_'))).toEqual([]);
    expect(response.headers.get('x-tollgate-model')).toBe('text-embedding-3-small');
    expect(response.headers.get('x-tollgate-degraded')).toBe('false');
    expect(response.headers.get('x-tollgate-max-tokens')).toBeNull();
    const tokens = data.usage.prompt_tokens;
    expect(tokens).toBe((await estimateEmbeddings(body)).inputTokens);
    const used = await eventually(() => usedOf(gateway.policy.limiter, alice), (u) => u.inflight === 0 && (u.tpm ?? 0) > 0);
    expect(used.tpm).toBe(tokens);
    expect(nano(used['daily-usd']!)).toBe(nano(costOf('text-embedding-3-small', { inputTokens: tokens, outputTokens: 0 })));
  });

  it('refuses with a 429 the SDK raises as RateLimitError once the token budget is spent', async () => {
    const gateway = await gatewayWith(writeConfig(POLICY.replace('resource: tokens, limit: 100000,', 'resource: tokens, limit: 60,')));
    const openai = client(gateway, 'sk-test-alice');

    let refusal: unknown;
    let served = 0;
    for (let i = 0; i < 20 && refusal === undefined; i++) await openai.embeddings.create({ model: 'text-embedding-3-small', input: DOCUMENTS }).then(() => served++, (error: unknown) => (refusal = error));

    expect(served).toBeGreaterThan(0);
    expect(refusal).toBeInstanceOf(OpenAI.RateLimitError);
    expect((refusal as InstanceType<typeof OpenAI.RateLimitError>).error).toMatchObject({ code: 'rate_limit_exceeded', limit: 'tpm' });
    expect((await usedOf(gateway.policy.limiter, alice)).tpm).toBeLessThanOrEqual(60);
  });

  it('refuses an unknown API key with a 401 and a missing one too', async () => {
    const gateway = await gatewayWith(writeConfig());

    const wrong = await client(gateway, 'sk-not-a-key').embeddings.create({ model: 'text-embedding-3-small', input: 'hi' }).catch((e: unknown) => e);
    const missing = await fetch(`${gateway.url}/v1/embeddings`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });

    expect(wrong).toBeInstanceOf(OpenAI.AuthenticationError);
    expect(missing.status).toBe(401);
  });
});
