import { InvalidInputError } from '@tollgate/core';
import { countChatCompletionTokens as count4o } from 'gpt-tokenizer/model/gpt-4o';
import { countChatCompletionTokens as count4 } from 'gpt-tokenizer/model/gpt-4-turbo';
import { describe, expect, it } from 'vitest';
import { countTokens, estimateChatCompletion, genaiPrices, openaiChatUsage, preloadTokenizer, streamMeter } from '../../src/index.js';
import { CONVERSATIONS, ENGLISH } from '../corpus.js';
import { CHAT_CHUNKS, CHAT_COMPLETION, CHAT_TOOL_CHUNKS_CUT } from '../fixtures.js';

const prices = genaiPrices();

/** What the API counts, as gpt-tokenizer renders a chat (message framing and function definitions). */
function reference(model: 'gpt-4o' | 'gpt-4', conversation: (typeof CONVERSATIONS)[number]): number {
  const counter = model === 'gpt-4o' ? count4o : count4;
  const functions = conversation.tools?.map((tool) => tool.function);
  return counter!({ messages: conversation.messages, ...(functions && { functions: functions as never }) });
}

describe('estimateChatCompletion with the tokenizer (OpenAI models)', () => {
  for (const model of ['gpt-4o', 'gpt-4'] as const) {
    it(`is never below the input tokens the API counts, on a varied corpus (${model})`, async () => {
      for (const conversation of CONVERSATIONS) {
        const estimate = await estimateChatCompletion({ model, messages: conversation.messages, tools: conversation.tools, max_tokens: 100 });
        const actual = reference(model, conversation);
        expect(estimate.inputTokens, conversation.name).toBeGreaterThanOrEqual(actual);
        // Conservative, not wild: within 5% plus the tool definitions' JSON overhead.
        expect(estimate.inputTokens, conversation.name).toBeLessThanOrEqual(Math.ceil(actual * 1.05) + (conversation.tools ? 80 : 2));
      }
    });
  }

  it('counts plain messages exactly as the API does', async () => {
    const messages = [{ role: 'system', content: 'You are a helpful assistant.' }, { role: 'user', content: ENGLISH }];
    const estimate = await estimateChatCompletion({ model: 'gpt-4o', messages });
    expect(estimate.inputTokens).toBe(count4o!({ messages: messages as never }));
  });

  it('reserves max_completion_tokens (or max_tokens, or the default) times n', async () => {
    const messages = [{ role: 'user', content: 'Hi' }];
    const input = (await estimateChatCompletion({ model: 'gpt-4o', messages })).inputTokens;
    expect(await estimateChatCompletion({ model: 'gpt-4o', messages, max_tokens: 300, n: 3 })).toEqual({ model: 'gpt-4o', inputTokens: input, outputTokens: 900, tokens: input + 900 });
    expect((await estimateChatCompletion({ model: 'gpt-4o', messages, max_tokens: 300, max_completion_tokens: 200 })).outputTokens).toBe(200);
    expect((await estimateChatCompletion({ model: 'gpt-4o', messages })).outputTokens).toBe(4096);
    expect((await estimateChatCompletion({ model: 'gpt-4o', messages }, { defaultMaxTokens: 50 })).outputTokens).toBe(50);
  });

  it('counts images at a fixed cost and tool calls by their JSON', async () => {
    const text = await estimateChatCompletion({ model: 'gpt-4o', messages: [{ role: 'user', content: [{ type: 'text', text: 'What is this?' }] }] });
    const image = await estimateChatCompletion({
      model: 'gpt-4o',
      messages: [{ role: 'user', content: [{ type: 'text', text: 'What is this?' }, { type: 'image_url', image_url: { url: 'https://example.com/a.png' } }] }],
    });
    expect(image.inputTokens - text.inputTokens).toBe(1445);
    const call = { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } };
    const withCall = await estimateChatCompletion({
      model: 'gpt-4o',
      messages: [{ role: 'user', content: 'Weather?' }, { role: 'assistant', content: null, tool_calls: [call] }, { role: 'tool', tool_call_id: 'call_1', content: '18°C' }],
    });
    expect(withCall.inputTokens).toBeGreaterThan(30);
  });

  it('prices the estimate exactly when given a price source', async () => {
    const estimate = await estimateChatCompletion({ model: 'gpt-4o', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 1000 }, { prices: genaiPrices() });
    // (input × $2.50 + 1,000 × $10) per million.
    expect(estimate.cost).toBe((estimate.inputTokens * 2.5 + 10_000) / 1e6);
  });

  it('counts a prompt without spaces at a bounded cost, never below the tokenizer, letting other work run', async () => {
    await preloadTokenizer('gpt-4o'); // so that loading it is not what lets the timer run
    let ran = false;
    setTimeout(() => (ran = true), 0);
    // 40,000 characters in one pre-token: the tokenizer alone would hold the event loop for seconds.
    const estimating = estimateChatCompletion({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x'.repeat(40_000) }], max_tokens: 10 });
    expect(ran).toBe(false);
    const { inputTokens } = await estimating;
    expect(ran).toBe(true);
    expect(inputTokens).toBeGreaterThanOrEqual(40_000 / 8); // what o200k counts: 8 x's a token
    expect(inputTokens).toBeLessThanOrEqual(40_000 + 32); // its UTF-8 bytes, the seams and the framing
  });

  it('refuses malformed requests with InvalidInputError', async () => {
    const bad: unknown[] = [
      null,
      'gpt-4o',
      { messages: [] },
      { model: 'gpt-4o' },
      { model: 'gpt-4o', messages: 'hi' },
      { model: 'gpt-4o', messages: ['hi'] },
      { model: 'gpt-4o', messages: [], max_tokens: -1 },
      { model: 'gpt-4o', messages: [], max_tokens: Number.NaN },
      { model: 'gpt-4o', messages: [], n: 0 },
      { model: 'gpt-4o', messages: [], tools: {} },
    ];
    for (const body of bad) {
      const error = await estimateChatCompletion(body).catch((e: unknown) => e);
      expect(error, JSON.stringify(body)).toBeInstanceOf(InvalidInputError);
      expect((error as Error).message).toMatch(/^\[tollgate\] \[llm\] /);
    }
  });
});


describe('openaiChatUsage', () => {
  it('OpenAI Chat Completions: prompt, cached and completion tokens, priced exactly', () => {
    expect(openaiChatUsage(CHAT_COMPLETION)).toEqual({ model: 'gpt-4o-2024-08-06', inputTokens: 1200, cachedInputTokens: 1000, outputTokens: 800 });
    expect(openaiChatUsage(CHAT_COMPLETION, { prices })).toEqual({ model: 'gpt-4o-2024-08-06', inputTokens: 1200, cachedInputTokens: 1000, outputTokens: 800, cost: 0.00975 });
  });

  it('reads Responses-style input_tokens and output_tokens on a chat completion', () => {
    const usage = { input_tokens: 1200, input_tokens_details: { cached_tokens: 1000 }, output_tokens: 800, total_tokens: 2000 };
    expect(openaiChatUsage({ ...CHAT_COMPLETION, usage }, { prices })).toEqual({ model: 'gpt-4o-2024-08-06', inputTokens: 1200, cachedInputTokens: 1000, outputTokens: 800, cost: 0.00975 });
  });
});

describe('the chat stream meter', () => {
  it('OpenAI chat: the include_usage chunk is the exact usage', async () => {
    const meter = streamMeter('openai-chat', { model: 'gpt-4o-mini', inputTokens: 50, prices });
    for (const chunk of CHAT_CHUNKS) meter.push(chunk);
    expect(meter.complete).toBe(true);
    // 9 × $0.15 + 7 × $0.60 per million.
    expect(await meter.usage()).toEqual({ model: 'gpt-4o-mini-2024-07-18', inputTokens: 9, outputTokens: 7, cost: 0.00000555 });
  });

  it('OpenAI chat cut off: the estimated input plus the text received, counted with the tokenizer', async () => {
    const meter = streamMeter('openai-chat', { model: 'gpt-4o-mini', inputTokens: 50 });
    for (const chunk of CHAT_CHUNKS.slice(0, 3)) meter.push(chunk);
    expect(meter.complete).toBe(false);
    expect(await meter.usage()).toEqual({ model: 'gpt-4o-mini-2024-07-18', inputTokens: 50, outputTokens: await countTokens('Hello there', 'gpt-4o') });
  });

  it('OpenAI chat cut off mid tool call: the arguments so far count as output', async () => {
    const meter = streamMeter('openai-chat', { model: 'gpt-4o-mini', inputTokens: 80 });
    for (const chunk of CHAT_TOOL_CHUNKS_CUT) meter.push(chunk);
    expect((await meter.usage()).outputTokens).toBe(await countTokens('get_weather{"city":"Paris"}', 'gpt-4o'));
  });
});

describe('the chat stream meter: usage that cannot be trusted', () => {
  const usageChunk = (usage: unknown) => ({ ...CHAT_CHUNKS.at(-1)!, usage });

  it('OpenAI chat: an empty, partial or malformed usage chunk leaves the stream incomplete, without throwing', async () => {
    for (const usage of [{}, { total_tokens: 16 }, { prompt_tokens: 9 }, { prompt_tokens: -9, completion_tokens: 7 }, { prompt_tokens: '9', completion_tokens: 7 }]) {
      const meter = streamMeter('openai-chat', { model: 'gpt-4o-mini', inputTokens: 50 });
      for (const chunk of [...CHAT_CHUNKS.slice(0, -1), usageChunk(usage)]) meter.push(chunk);
      expect(meter.complete, JSON.stringify(usage)).toBe(false);
      expect(await meter.usage(), JSON.stringify(usage)).toEqual({ model: 'gpt-4o-mini-2024-07-18', inputTokens: 50, outputTokens: await countTokens('Hello there, how can I help?', 'gpt-4o') });
    }
  });

  it('OpenAI chat: a running count on a chunk still generating is not the final usage', async () => {
    const meter = streamMeter('openai-chat', { model: 'gpt-4o-mini', inputTokens: 50 });
    meter.push(CHAT_CHUNKS[0]);
    meter.push({ ...CHAT_CHUNKS[1], usage: { prompt_tokens: 9, completion_tokens: 1, total_tokens: 10 } });
    expect(meter.complete).toBe(false);
    meter.push({ ...CHAT_CHUNKS[4], usage: { prompt_tokens: 9, completion_tokens: 7, total_tokens: 16 } });
    expect(meter.complete).toBe(true);
    expect(await meter.usage()).toEqual({ model: 'gpt-4o-mini-2024-07-18', inputTokens: 9, outputTokens: 7 });
  });
});
