import { describe, expect, it } from 'vitest';
import { approximateTokens, countTokens, estimateAnthropicMessage, estimateChatCompletion, estimateResponse } from '../src/index.js';
import { CJK, CODE, EMOJI, ENGLISH, MIXED, SPECIAL } from './corpus.js';

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

  it('uses a counter of your own when you give one', async () => {
    const estimate = await estimateAnthropicMessage(
      { model: 'claude-haiku-4-5', max_tokens: 10, messages: [{ role: 'user', content: 'four words right here' }] },
      { countTokens: (text) => text.split(' ').length },
    );
    expect(estimate.inputTokens).toBe(5 + 5 + 4);
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

