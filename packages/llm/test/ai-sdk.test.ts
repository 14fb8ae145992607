import { describe, expect, it } from 'vitest';
import { aiSdkUsage, genaiPrices } from '../src/index.js';
import { AI_SDK_RESULT } from './fixtures.js';

const prices = genaiPrices();

describe('aiSdkUsage', () => {
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

  it('AI SDK 5 Gemini thinking: reasoning left out of outputTokens is counted from totalTokens; AI SDK 6 already counts it', () => {
    // gemini-2.5-pro, 150k in, 2k text and 18k thinking out: 150,000 × $1.25 + 20,000 × $10 per million.
    const v5 = { usage: { inputTokens: 150_000, outputTokens: 2_000, totalTokens: 170_000, reasoningTokens: 18_000 }, response: { modelId: 'gemini-2.5-pro' } };
    expect(aiSdkUsage(v5, { prices })).toEqual({ model: 'gemini-2.5-pro', inputTokens: 150_000, outputTokens: 20_000, reasoningTokens: 18_000, cost: 0.3875 });
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
    expect(aiSdkUsage(v6, { prices })).toEqual({ model: 'gemini-2.5-pro', inputTokens: 150_000, outputTokens: 20_000, reasoningTokens: 18_000, cost: 0.3875 });
    // The same rule summed over steps.
    expect(aiSdkUsage({ steps: [v5, v5] }, { prices })).toMatchObject({ inputTokens: 300_000, outputTokens: 40_000, reasoningTokens: 36_000, cost: 0.775 });
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
