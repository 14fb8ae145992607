import { countChatCompletionTokens as count4o } from 'gpt-tokenizer/model/gpt-4o';
import { describe, expect, it } from 'vitest';
import { countTokens, estimateResponse, genaiPrices, openaiResponseUsage, streamMeter } from '../../src/index.js';
import { ENGLISH } from '../corpus.js';
import { RESPONSE, RESPONSE_EVENTS } from '../fixtures.js';

const prices = genaiPrices();

describe('estimateResponse', () => {
  it('counts instructions, string and item inputs, and max_output_tokens', async () => {
    const simple = await estimateResponse({ model: 'gpt-4o', instructions: 'Be brief.', input: ENGLISH, max_output_tokens: 500 });
    const messages = [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: ENGLISH }];
    expect(simple.inputTokens).toBe(count4o!({ messages: messages as never }));
    expect(simple.outputTokens).toBe(500);
    const items = await estimateResponse({
      model: 'gpt-4o',
      input: [{ role: 'user', content: [{ type: 'input_text', text: ENGLISH }] }, { type: 'function_call_output', call_id: 'c1', output: '{"ok":true}' }],
    });
    expect(items.inputTokens).toBeGreaterThan(simple.inputTokens - 10);
    expect(items.outputTokens).toBe(4096);
  });
});


describe('openaiResponseUsage', () => {
  it('OpenAI Responses API', () => {
    // 36 × $2 + 87 × $8 per million (gpt-4.1).
    expect(openaiResponseUsage(RESPONSE, { prices })).toEqual({ model: 'gpt-4.1-2025-04-14', inputTokens: 36, outputTokens: 87, cost: 0.000768 });
  });
});

describe('the Responses stream meter', () => {
  it('OpenAI Responses: response.completed carries the usage; cut off, the deltas count', async () => {
    const meter = streamMeter('openai-responses', { model: 'gpt-4.1', inputTokens: 40, prices });
    for (const event of RESPONSE_EVENTS) meter.push(event);
    // 37 × $2 + 11 × $8 per million.
    expect(await meter.usage()).toEqual({ model: 'gpt-4.1-2025-04-14', inputTokens: 37, outputTokens: 11, cost: 0.000162 });
    const cut = streamMeter('openai-responses', { model: 'gpt-4.1', inputTokens: 40 });
    for (const event of RESPONSE_EVENTS.slice(0, 5)) cut.push(event);
    expect(await cut.usage()).toEqual({ model: 'gpt-4.1-2025-04-14', inputTokens: 40, outputTokens: await countTokens('Hi there!', 'gpt-4.1') });
  });
});
