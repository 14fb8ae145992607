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


describe('texts counted ahead (countedTexts)', () => {
  const STAND_IN = /counted-ahead-(\d+)/g;
  const counts = [1_000, 7];
  const countedTexts = { standIn: STAND_IN, tokens: (standIn: string) => counts[Number(standIn.slice('counted-ahead-'.length))]! };
  const chat = (content: unknown) => ({ model: 'gpt-4o', max_tokens: 1, messages: [{ role: 'user', content }] });

  it('count a text that is a stand-in as the stand-in says, and the text around one as its own tokens plus two at each cut', async () => {
    const empty = (await estimateChatCompletion(chat(''))).inputTokens;
    expect((await estimateChatCompletion(chat('counted-ahead-0'), { countedTexts })).inputTokens).toBe(empty + 1_000);
    const around = (await estimateChatCompletion(chat('Hello counted-ahead-0 and counted-ahead-1'), { countedTexts })).inputTokens;
    const pieces = (await countTokens('Hello ', 'gpt-4o')) + (await countTokens(' and ', 'gpt-4o'));
    expect(around).toBe(empty + pieces + 1_000 + 7 + 3 * 2);
  });

  it('find stand-ins in the JSON a part is counted by, and ask for each with the model', async () => {
    const asked: string[] = [];
    const tokens = (standIn: string, model: string) => {
      asked.push(`${standIn} ${model}`);
      return 500;
    };
    const toolUse = { model: 'claude-haiku-4-5', max_tokens: 1, messages: [{ role: 'assistant', content: [{ type: 'tool_use', id: 't', name: 'f', input: { text: 'counted-ahead-1' } }] }] };
    const plain = (await estimateAnthropicMessage(toolUse)).inputTokens;
    const json = approximateTokens('{"text":"counted-ahead-1"}');
    const around = approximateTokens('{"text":"') + approximateTokens('"}');
    expect((await estimateAnthropicMessage(toolUse, { countedTexts: { standIn: STAND_IN, tokens } })).inputTokens).toBe(plain - json + around + 500 + 2 * 2);
    expect(asked).toEqual(['counted-ahead-1 claude-haiku-4-5']);
  });

  it('are refused, changing nothing, when the stand-in pattern is not global or the count is no whole number', async () => {
    await expect(estimateChatCompletion(chat('x'), { countedTexts: { standIn: /counted-ahead-\d+/, tokens: () => 1 } })).rejects.toThrow(/countedTexts.standIn must be a global regular expression/);
    await expect(estimateChatCompletion(chat('counted-ahead-0'), { countedTexts: { standIn: STAND_IN, tokens: () => -1 } })).rejects.toThrow(/countedTexts.tokens returned number -1/);
  });
});
