import { InvalidInputError } from '@tollgate/core';
import { countChatCompletionTokens as count4o } from 'gpt-tokenizer/model/gpt-4o';
import { countChatCompletionTokens as count4 } from 'gpt-tokenizer/model/gpt-4-turbo';
import { describe, expect, it } from 'vitest';
import { approximateTokens, countTokens, estimateAnthropicMessage, estimateChatCompletion, estimateResponse, genaiPrices, preloadTokenizer } from '../src/index.js';
import { CJK, CODE, CONVERSATIONS, EMOJI, ENGLISH, MIXED, SPECIAL, WEATHER_TOOL } from './corpus.js';

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

describe('the conservative ratio (other providers)', () => {
  it('is above what the OpenAI tokenizers count, on every text of the corpus', async () => {
    for (const text of [ENGLISH, CODE, CJK, EMOJI, SPECIAL, MIXED, 'a', '']) {
      const bpe = Math.max(await countTokens(text, 'gpt-4o'), await countTokens(text, 'gpt-4'));
      expect(approximateTokens(text), text.slice(0, 20)).toBeGreaterThanOrEqual(bpe);
    }
  });

  it('is documented arithmetic: a token per 2.5 ASCII characters, per 2 bytes of BMP characters, 4 per emoji', () => {
    expect(approximateTokens('abcde')).toBe(2);
    expect(approximateTokens('東京')).toBe(3); // 6 bytes
    expect(approximateTokens('🚀')).toBe(4); // astral: 4 bytes, a token each
    expect(approximateTokens('é')).toBe(1);
  });

  it('estimates Anthropic requests: system, blocks, tools and max_tokens', async () => {
    const estimate = await estimateAnthropicMessage({
      model: 'claude-sonnet-4-5',
      max_tokens: 1024,
      system: 'Be brief.',
      messages: [{ role: 'user', content: [{ type: 'text', text: ENGLISH }] }],
    });
    // 2 framings of 5, then each text by the ratio.
    const input = 10 + approximateTokens('Be brief.') + approximateTokens(ENGLISH);
    expect(estimate).toEqual({ model: 'claude-sonnet-4-5', inputTokens: input, outputTokens: 1024, tokens: input + 1024 });
    const withTools = await estimateAnthropicMessage({
      model: 'claude-sonnet-4-5',
      max_tokens: 1024,
      system: 'Be brief.',
      messages: [{ role: 'user', content: [{ type: 'text', text: ENGLISH }] }],
      tools: [{ name: 'get_weather', input_schema: WEATHER_TOOL.function.parameters }],
    });
    expect(withTools.inputTokens - estimate.inputTokens).toBeGreaterThan(530);
  });

  it('uses a counter of your own when you give one', async () => {
    const estimate = await estimateAnthropicMessage(
      { model: 'claude-haiku-4-5', max_tokens: 10, messages: [{ role: 'user', content: 'four words right here' }] },
      { countTokens: (text) => text.split(' ').length },
    );
    expect(estimate.inputTokens).toBe(5 + 5 + 4);
  });
});

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

describe('the output reserved when a request sets no cap', () => {
  it("is defaultMaxTokens, or the model's maximum output when that is lower", async () => {
    const messages = [{ role: 'user', content: 'Hi' }];
    const raised = { defaultMaxTokens: 20_000 };
    expect((await estimateChatCompletion({ model: 'gpt-4o', messages }, raised)).outputTokens).toBe(16_384);
    expect((await estimateChatCompletion({ model: 'gpt-3.5-turbo', messages }, raised)).outputTokens).toBe(4_096);
    expect((await estimateChatCompletion({ model: 'gpt-4o-2024-05-13', messages }, raised)).outputTokens).toBe(4_096);
    expect((await estimateChatCompletion({ model: 'gpt-4o-2024-08-06', messages, n: 2 }, raised)).outputTokens).toBe(2 * 16_384);
    expect((await estimateChatCompletion({ model: 'o3', messages }, raised)).outputTokens).toBe(20_000);
    expect((await estimateAnthropicMessage({ model: 'claude-3-haiku-20240307', messages }, raised)).outputTokens).toBe(4_096);
    expect((await estimateAnthropicMessage({ model: 'claude-3-5-sonnet-20241022', messages }, raised)).outputTokens).toBe(8_192);
    expect((await estimateResponse({ model: 'gpt-4o-mini', input: 'Hi' }, raised)).outputTokens).toBe(16_384);
    // A cap the request sets is its own: not lowered to the table's figure.
    expect((await estimateChatCompletion({ model: 'gpt-3.5-turbo', messages, max_tokens: 5_000 })).outputTokens).toBe(5_000);
  });
});

describe('Anthropic prompt caching in the reservation', () => {
  const prices = genaiPrices();
  const text = (cache?: object) => ({ type: 'text', text: ENGLISH, ...(cache && { cache_control: cache }) });

  it('reserves a prompt with cache_control blocks at the cache-write rate, and 1-hour writes at theirs', async () => {
    const plain = await estimateAnthropicMessage({ model: 'claude-sonnet-4-5', max_tokens: 100, messages: [{ role: 'user', content: [text()] }] }, { prices });
    const fiveMinutes = await estimateAnthropicMessage({ model: 'claude-sonnet-4-5', max_tokens: 100, system: [text({ type: 'ephemeral' })], messages: [{ role: 'user', content: 'Hi' }] }, { prices });
    const oneHour = await estimateAnthropicMessage(
      { model: 'claude-sonnet-4-5', max_tokens: 100, system: [text({ type: 'ephemeral', ttl: '5m' })], messages: [{ role: 'user', content: [text({ type: 'ephemeral', ttl: '1h' })] }] },
      { prices },
    );
    // $3 plain, $3.75 a 5-minute write, $6 a 1-hour write, per million input tokens; $15 per million out.
    expect(plain.cost).toBe(prices.costOf('claude-sonnet-4-5', { inputTokens: plain.inputTokens, outputTokens: 100 }));
    expect(fiveMinutes.cost).toBe(prices.costOf('claude-sonnet-4-5', { inputTokens: fiveMinutes.inputTokens, cacheWriteTokens: fiveMinutes.inputTokens, outputTokens: 100 }));
    expect(oneHour.cost).toBe(
      prices.costOf('claude-sonnet-4-5', { inputTokens: oneHour.inputTokens, cacheWriteTokens: oneHour.inputTokens, cacheWrite1hTokens: oneHour.inputTokens, outputTokens: 100 }),
    );
    expect(oneHour.cost).toBe((oneHour.inputTokens * 6 + 100 * 15) / 1e6);
  });

  it('counts cache_control on tools and on the request itself', async () => {
    const tool = { name: 'get_weather', input_schema: WEATHER_TOOL.function.parameters, cache_control: { type: 'ephemeral', ttl: '1h' } };
    const withTool = await estimateAnthropicMessage({ model: 'claude-haiku-4-5', max_tokens: 10, tools: [tool], messages: [{ role: 'user', content: 'Hi' }] }, { prices });
    expect(withTool.cost).toBe((withTool.inputTokens * 2 + 10 * 5) / 1e6);
    const automatic = await estimateAnthropicMessage({ model: 'claude-haiku-4-5', max_tokens: 10, cache_control: { type: 'ephemeral' }, messages: [{ role: 'user', content: 'Hi' }] }, { prices });
    expect(automatic.cost).toBe((automatic.inputTokens * 1.25 + 10 * 5) / 1e6);
  });
});

