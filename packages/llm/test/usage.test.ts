import { InvalidInputError } from '@tollgate/core';
import { describe, expect, it } from 'vitest';
import { aiSdkUsage, anthropicUsage, genaiPrices, openaiChatUsage, openaiResponseUsage } from '../src/index.js';
import { AI_SDK_RESULT, CHAT_COMPLETION, MESSAGE, RESPONSE } from './fixtures.js';

const prices = genaiPrices();

describe('usage from responses', () => {
  it('OpenAI Chat Completions: prompt, cached and completion tokens, priced exactly', () => {
    expect(openaiChatUsage(CHAT_COMPLETION)).toEqual({ model: 'gpt-4o-2024-08-06', inputTokens: 1200, cachedInputTokens: 1000, outputTokens: 800 });
    expect(openaiChatUsage(CHAT_COMPLETION, { prices })).toEqual({ model: 'gpt-4o-2024-08-06', inputTokens: 1200, cachedInputTokens: 1000, outputTokens: 800, cost: 0.00975 });
  });

  it('OpenAI Responses API', () => {
    // 36 × $2 + 87 × $8 per million (gpt-4.1).
    expect(openaiResponseUsage(RESPONSE, { prices })).toEqual({ model: 'gpt-4.1-2025-04-14', inputTokens: 36, outputTokens: 87, cost: 0.000768 });
  });

  it('Anthropic Messages: cache writes and reads are input tokens, and the cost prices the writes', () => {
    expect(anthropicUsage(MESSAGE)).toEqual({ model: 'claude-sonnet-4-5-20250929', inputTokens: 4835, outputTokens: 255 });
    // 100 × $3 + 4,735 × $3.75 + 255 × $15 per million.
    expect(anthropicUsage(MESSAGE, { prices })).toEqual({ model: 'claude-sonnet-4-5-20250929', inputTokens: 4835, outputTokens: 255, cost: 0.02188125 });
    const read = { ...MESSAGE, usage: { input_tokens: 10, cache_read_input_tokens: 5000, cache_creation_input_tokens: 0, output_tokens: 20 } };
    expect(anthropicUsage(read)).toEqual({ model: 'claude-sonnet-4-5-20250929', inputTokens: 5010, cachedInputTokens: 5000, outputTokens: 20 });
  });

  it('AI SDK 6: every step, each at its own model', () => {
    // Step 1 on gpt-4o: 200 × $2.50 + 40 × $10; step 2 on gpt-4o-mini: 300 × $0.15 + 20 × $0.60.
    expect(aiSdkUsage(AI_SDK_RESULT, { prices })).toEqual({ model: 'gpt-4o-mini-2024-07-18', inputTokens: 500, outputTokens: 60, cost: 0.000957 });
    const { steps: _, ...single } = AI_SDK_RESULT;
    expect(aiSdkUsage(single)).toEqual({ model: 'gpt-4o-mini-2024-07-18', inputTokens: 500, outputTokens: 60 });
  });

  it('AI SDK 5 and 4 shapes, and an Anthropic cache write under AI SDK 5', () => {
    expect(aiSdkUsage({ usage: { inputTokens: 100, outputTokens: 5, totalTokens: 105, cachedInputTokens: 60 }, response: { modelId: 'gpt-4o' } })).toEqual({
      model: 'gpt-4o',
      inputTokens: 100,
      cachedInputTokens: 60,
      outputTokens: 5,
    });
    expect(aiSdkUsage({ usage: { promptTokens: 7, completionTokens: 3, totalTokens: 10 } })).toEqual({ inputTokens: 7, outputTokens: 3 });
    const v5anthropic = {
      usage: { inputTokens: 100, outputTokens: 255, totalTokens: 355 },
      providerMetadata: { anthropic: { cacheCreationInputTokens: 4735 } },
      response: { modelId: 'claude-sonnet-4-5-20250929' },
    };
    expect(aiSdkUsage(v5anthropic, { prices })).toEqual({ model: 'claude-sonnet-4-5-20250929', inputTokens: 4835, outputTokens: 255, cost: 0.02188125 });
  });

  it('is undefined for a response without usage, and refuses malformed counts', () => {
    expect(openaiChatUsage({ ...CHAT_COMPLETION, usage: undefined })).toBeUndefined();
    expect(anthropicUsage({ ...MESSAGE, usage: null })).toBeUndefined();
    expect(() => openaiChatUsage({ usage: { prompt_tokens: -5, completion_tokens: 1 } })).toThrow(InvalidInputError);
    expect(() => anthropicUsage({ usage: { input_tokens: '10' } })).toThrow(/^\[tollgate\] \[llm\] usage.input_tokens must be/);
    expect(() => openaiResponseUsage('nope')).toThrow(InvalidInputError);
  });

  it('leaves the cost to core for a model the table does not know', () => {
    expect(openaiChatUsage({ model: 'my-local-llama', usage: { prompt_tokens: 5, completion_tokens: 2 } }, { prices })).toEqual({ model: 'my-local-llama', inputTokens: 5, outputTokens: 2 });
  });

  it('a chat usage without both counts is not usable: {} and { total_tokens } are undefined', () => {
    expect(openaiChatUsage({ ...CHAT_COMPLETION, usage: {} })).toBeUndefined();
    expect(openaiChatUsage({ ...CHAT_COMPLETION, usage: { total_tokens: 2000 } }, { prices })).toBeUndefined();
    expect(openaiChatUsage({ ...CHAT_COMPLETION, usage: { prompt_tokens: 1200, total_tokens: 2000 } })).toBeUndefined();
    expect(openaiResponseUsage({ ...RESPONSE, usage: { total_tokens: 123 } })).toBeUndefined();
    expect(anthropicUsage({ ...MESSAGE, usage: {} })).toBeUndefined();
    expect(anthropicUsage({ ...MESSAGE, usage: { output_tokens: 255 } })).toBeUndefined();
  });

  it('reads Responses-style input_tokens and output_tokens on a chat completion', () => {
    const usage = { input_tokens: 1200, input_tokens_details: { cached_tokens: 1000 }, output_tokens: 800, total_tokens: 2000 };
    expect(openaiChatUsage({ ...CHAT_COMPLETION, usage }, { prices })).toEqual({ model: 'gpt-4o-2024-08-06', inputTokens: 1200, cachedInputTokens: 1000, outputTokens: 800, cost: 0.00975 });
  });

  it('prices a served model name the table does not know as the model asked for, cache writes included', () => {
    const served = { ...MESSAGE, model: 'anthropic/claude-sonnet-4.5' };
    expect(anthropicUsage(served, { prices })).toEqual({ model: 'anthropic/claude-sonnet-4.5', inputTokens: 4835, outputTokens: 255 });
    // 100 × $3 + 4,735 × $3.75 + 255 × $15 per million, at the price of the model asked for.
    expect(anthropicUsage(served, { prices, model: 'claude-sonnet-4-5' })).toEqual({ model: 'anthropic/claude-sonnet-4.5', inputTokens: 4835, outputTokens: 255, cost: 0.02188125 });
    // A response that names no model is the model asked for.
    const { model: _, ...anonymous } = CHAT_COMPLETION;
    expect(openaiChatUsage(anonymous, { prices, model: 'gpt-4o' })).toEqual({ model: 'gpt-4o', inputTokens: 1200, cachedInputTokens: 1000, outputTokens: 800, cost: 0.00975 });
    // A served name the table knows wins over the model asked for.
    expect(openaiChatUsage(CHAT_COMPLETION, { prices, model: 'gpt-4o-mini' })?.cost).toBe(0.00975);
    expect(aiSdkUsage({ usage: { inputTokens: 100, outputTokens: 5, totalTokens: 105 }, response: { modelId: 'azure/gpt-4o' } }, { prices, model: 'gpt-4o' })?.cost).toBe(0.0003);
  });

  it('AI SDK 5 Gemini thinking: reasoning left out of outputTokens is counted from totalTokens; AI SDK 6 already counts it', () => {
    // gemini-2.5-pro, 150k in, 2k text and 18k thinking out: 150,000 × $1.25 + 20,000 × $10 per million.
    const v5 = { usage: { inputTokens: 150_000, outputTokens: 2_000, totalTokens: 170_000, reasoningTokens: 18_000 }, response: { modelId: 'gemini-2.5-pro' } };
    expect(aiSdkUsage(v5, { prices })).toEqual({ model: 'gemini-2.5-pro', inputTokens: 150_000, outputTokens: 20_000, cost: 0.3875 });
    const v6 = {
      usage: {
        inputTokens: 150_000,
        inputTokenDetails: { noCacheTokens: 150_000, cacheReadTokens: 0, cacheWriteTokens: undefined },
        outputTokens: 20_000,
        outputTokenDetails: { textTokens: 2_000, reasoningTokens: 18_000 },
        totalTokens: 170_000,
      },
      response: { modelId: 'gemini-2.5-pro' },
    };
    expect(aiSdkUsage(v6, { prices })).toEqual({ model: 'gemini-2.5-pro', inputTokens: 150_000, outputTokens: 20_000, cost: 0.3875 });
    // The same rule summed over steps.
    expect(aiSdkUsage({ steps: [v5, v5] }, { prices })).toMatchObject({ inputTokens: 300_000, outputTokens: 40_000, cost: 0.775 });
    // AI SDK 5's Anthropic provider: totalTokens leaves the cache out as inputTokens does.
    const v5anthropic = {
      usage: { inputTokens: 100, outputTokens: 255, totalTokens: 355, cachedInputTokens: 2_000 },
      providerMetadata: { anthropic: { cacheCreationInputTokens: 4735 } },
      response: { modelId: 'claude-sonnet-4-5-20250929' },
    };
    expect(aiSdkUsage(v5anthropic)).toEqual({ model: 'claude-sonnet-4-5-20250929', inputTokens: 6835, cachedInputTokens: 2_000, outputTokens: 255 });
  });

  it('an AI SDK usage without counts is not usable, nor a result with such a step', () => {
    expect(aiSdkUsage({ usage: { inputTokens: undefined, outputTokens: undefined, totalTokens: undefined } })).toBeUndefined();
    const empty = { response: { modelId: 'gpt-4o' }, usage: { inputTokens: undefined, outputTokens: undefined, totalTokens: undefined } };
    expect(aiSdkUsage({ ...AI_SDK_RESULT, steps: [AI_SDK_RESULT.steps[0], empty] })).toBeUndefined();
  });
});
