import { estimateChatCompletion, genaiPrices } from '@tollgate/llm';
import { describe, expect, it, vi } from 'vitest';
import { client, gatewayWith, HELLO, writeConfig } from './support.js';

/** What the gateway reserves for a request sent as it is: its output estimate is the cap it must send. */
const reservedOutput = async (body: Record<string, unknown>) => (await estimateChatCompletion(body, { prices: genaiPrices() })).outputTokens;

describe('the output cap sent upstream is what was reserved', () => {
  it('sets max_completion_tokens to the reserved output on a tier without a ladder, when the request sets none', async () => {
    const forwarded: Record<string, unknown>[] = [];
    const gateway = await gatewayWith(writeConfig(), { onSimulatedRequest: (body) => forwarded.push(body) });
    const body = { model: 'gpt-4o', messages: HELLO };

    // bob's tier (pro) has no degradation ladder.
    const { response } = await client(gateway, 'sk-test-bob').chat.completions.create(body).withResponse();

    const cap = await reservedOutput(body);
    expect(forwarded[0]).toMatchObject({ model: 'gpt-4o', max_completion_tokens: cap });
    expect(forwarded[0]).not.toHaveProperty('max_tokens');
    expect(response.headers.get('x-tollgate-max-tokens')).toBe(String(cap));
  });

  it('caps each of n choices at its share of the reserved output', async () => {
    const forwarded: Record<string, unknown>[] = [];
    const gateway = await gatewayWith(writeConfig(), { onSimulatedRequest: (body) => forwarded.push(body) });
    const body = { model: 'gpt-4o', messages: HELLO, n: 2 };

    await client(gateway, 'sk-test-bob').chat.completions.create(body);

    expect(forwarded[0]).toMatchObject({ n: 2, max_completion_tokens: (await reservedOutput(body)) / 2 });
  });

  it('never sends a dearer model or more output than was reserved when the decision\'s step differs from the one estimated', async () => {
    const forwarded: Record<string, unknown>[] = [];
    const gateway = await gatewayWith(writeConfig(), { onSimulatedRequest: (body) => forwarded.push(body) });
    // The estimate reads the caller's step with check; here it sees the last step (gpt-4o-mini, 64
    // tokens), as it would just before a refund moves the caller back to the first step, which the
    // decision then picks (gpt-4o, 512 tokens).
    const check = gateway.policy.limiter.check;
    vi.spyOn(gateway.policy.limiter, 'check').mockImplementationOnce(async (...args) => ({ ...(await check(...args)), degrade: { step: 1, model: 'gpt-4o-mini', maxTokens: 64, usageRatio: 0.9 } }));

    const { response } = await client(gateway, 'sk-test-alice').chat.completions.create({ model: 'gpt-4o', messages: HELLO, max_tokens: 400 }).withResponse();

    expect(forwarded[0]).toMatchObject({ model: 'gpt-4o-mini', max_tokens: 64 });
    expect(response.headers.get('x-tollgate-model')).toBe('gpt-4o-mini');
    expect(response.headers.get('x-tollgate-max-tokens')).toBe('64');
  });
});
