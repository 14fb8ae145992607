import { InvalidInputError } from '@tollgate/core';
import { describe, expect, it } from 'vitest';
import { aiSdkUsage, anthropicUsage, genaiPrices, openaiChatUsage, openaiResponseUsage } from '../src/index.js';
import { CHAT_COMPLETION, MESSAGE, RESPONSE } from './fixtures.js';

const prices = genaiPrices();

describe('usage from responses, whatever the format', () => {
  it('is undefined for a response without usage, and refuses malformed counts', () => {
    expect(openaiChatUsage({ ...CHAT_COMPLETION, usage: undefined })).toBeUndefined();
    expect(anthropicUsage({ ...MESSAGE, usage: null })).toBeUndefined();
    expect(() => openaiChatUsage({ usage: { prompt_tokens: -5, completion_tokens: 1 } })).toThrow(InvalidInputError);
    expect(() => anthropicUsage({ usage: { input_tokens: '10' } })).toThrow(/^\[tollgate\] \[llm\] usage.input_tokens must be/);
    expect(() => openaiResponseUsage('nope')).toThrow(InvalidInputError);
  });

  it('says how much of the output was reasoning, where the API reports it, and refuses more reasoning than output', () => {
    const chat = openaiChatUsage({ model: 'o3', usage: { prompt_tokens: 10, completion_tokens: 50, completion_tokens_details: { reasoning_tokens: 42 } } });
    const response = openaiResponseUsage({ model: 'o3', usage: { input_tokens: 10, output_tokens: 50, output_tokens_details: { reasoning_tokens: 30 } } });

    expect(chat).toMatchObject({ outputTokens: 50, reasoningTokens: 42 });
    expect(response).toMatchObject({ outputTokens: 50, reasoningTokens: 30 });
    expect(openaiChatUsage({ model: 'gpt-4o', usage: { prompt_tokens: 10, completion_tokens: 5, completion_tokens_details: { reasoning_tokens: 0 } } })).not.toHaveProperty('reasoningTokens');
    expect(() => openaiChatUsage({ usage: { prompt_tokens: 10, completion_tokens: 5, completion_tokens_details: { reasoning_tokens: 6 } } })).toThrow(/reasoning tokens \(6\) are part of the output tokens/);
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
});
