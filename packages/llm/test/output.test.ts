import { ConfigurationError, InvalidInputError } from '@tollgate/core';
import { describe, expect, it } from 'vitest';
import { estimateChatCompletion, maxOutputTokens, withOutputCap } from '../src/index.js';

describe('maxOutputTokens', () => {
  it('knows the models whose limit their providers state, dated, prefixed and fine-tuned names included', () => {
    expect(maxOutputTokens('gpt-4o')).toBe(16_384);
    expect(maxOutputTokens('gpt-4o-2024-08-06')).toBe(16_384);
    expect(maxOutputTokens('gpt-4o-2024-05-13')).toBe(4_096);
    expect(maxOutputTokens('openai/gpt-4o-mini')).toBe(16_384);
    expect(maxOutputTokens('ft:gpt-4o-mini-2024-07-18:acme::abc123')).toBe(16_384);
    expect(maxOutputTokens('gpt-4-turbo-2024-04-09')).toBe(4_096);
    expect(maxOutputTokens('gpt-3.5-turbo')).toBe(4_096);
    expect(maxOutputTokens('o3-2025-04-16')).toBe(100_000);
    expect(maxOutputTokens('claude-3-haiku-20240307')).toBe(4_096);
    expect(maxOutputTokens('anthropic:claude-3-5-haiku-20241022')).toBe(8_192);
    expect(maxOutputTokens('claude-opus-4-1-20250805')).toBe(32_000);
    expect(maxOutputTokens('claude-sonnet-4-5-20250929')).toBe(64_000);
    expect(maxOutputTokens('claude-sonnet-4.5')).toBe(64_000);
  });

  it('is undefined for a model it has no figure for', () => {
    for (const model of ['gpt-4o-audio-preview', 'o1-mini', 'gemini-2.5-pro', 'my-finetune', '']) expect(maxOutputTokens(model), model).toBeUndefined();
  });
});

describe('withOutputCap', () => {
  const messages = [{ role: 'user', content: 'Hi' }];

  it('sets the format\'s field when the request has none, or the field asked for', () => {
    expect(withOutputCap({ model: 'gpt-4o', messages }, 'openai-chat', 500)).toEqual({ model: 'gpt-4o', messages, max_completion_tokens: 500 });
    expect(withOutputCap({ model: 'gpt-4o', messages }, 'openai-chat', 500, { field: 'max_tokens' })).toEqual({ model: 'gpt-4o', messages, max_tokens: 500 });
    expect(withOutputCap({ model: 'gpt-5', input: 'Hi' }, 'openai-responses', 500)).toEqual({ model: 'gpt-5', input: 'Hi', max_output_tokens: 500 });
    expect(withOutputCap({ model: 'claude-haiku-4-5', messages }, 'anthropic', 500)).toEqual({ model: 'claude-haiku-4-5', messages, max_tokens: 500 });
  });

  it('lowers every limit the request sets, never raises one, and leaves the request itself unchanged', () => {
    const body = { model: 'gpt-4o', messages, max_tokens: 800, max_completion_tokens: 300 };
    expect(withOutputCap(body, 'openai-chat', 500)).toEqual({ ...body, max_tokens: 500, max_completion_tokens: 300 });
    expect(body.max_tokens).toBe(800);
  });

  it('caps a request at what its estimate reserved', async () => {
    const body = { model: 'gpt-4o', messages, n: 2 };
    const demand = await estimateChatCompletion(body);
    expect(withOutputCap(body, 'openai-chat', demand.outputTokens / body.n).max_completion_tokens).toBe(4_096);
  });

  it('refuses an unknown format, a cap that is not a positive whole number, and a malformed limit', () => {
    expect(() => withOutputCap({}, 'gemini' as never, 10)).toThrow(ConfigurationError);
    for (const cap of [0, -1, 1.5, Number.NaN, '10']) expect(() => withOutputCap({}, 'anthropic', cap as never), String(cap)).toThrow(InvalidInputError);
    expect(() => withOutputCap({ max_tokens: -1 }, 'anthropic', 10)).toThrow(/^\[tollgate\] \[llm\] max_tokens must be a positive whole number/);
  });
});
