import { countTokens } from '@tollgate/llm';
import { afterAll, describe, expect, it } from 'vitest';
import { BodyThread } from '../src/http/body-thread.js';
import { LONG_TEXT_CHARS } from '../src/http/body-protocol.js';
import { countedTexts, serializedBody } from '../src/http/long-texts.js';

const thread = new BodyThread();
afterAll(() => thread.close());

/** Every string in `value`, object keys included. */
function stringsOf(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (typeof value !== 'object' || value === null) return [];
  if (Array.isArray(value)) return value.flatMap(stringsOf);
  return Object.entries(value).flatMap(([key, item]) => [key, ...stringsOf(item)]);
}

/** Text that JSON escapes, with characters of one, two, three and four UTF-8 bytes. */
const TRICKY = 'quote " backslash \\ newline \n tab \t nul \u0000 é 東京 🚀 ';
const body = {
  model: 'gpt-4o',
  max_tokens: 5,
  messages: [
    { role: 'system', content: 'short and sweet' },
    { role: 'user', content: TRICKY.repeat(2_000) },
    { role: 'user', content: [{ type: 'text', text: 'x'.repeat(100_000) }] },
  ],
  tools: [{ type: 'function', function: { name: 'f', description: 'word '.repeat(1_000), parameters: { type: 'object' } } }],
};

describe('the body thread', () => {
  it("takes a large body's long texts out, leaving stand-ins; sent upstream, the body is the same JSON", async () => {
    const parsed = await thread.parse(Buffer.from(JSON.stringify(body)), []);

    if (!('body' in parsed)) throw new Error(`refused: ${parsed.refused}`);
    expect(Math.max(...stringsOf(parsed.body).map((text) => text.length))).toBeLessThan(LONG_TEXT_CHARS);
    expect(parsed.texts?.ends).toHaveLength(3);
    expect((parsed.body as typeof body).messages[0]!.content).toBe('short and sweet');
    expect(JSON.parse(Buffer.from(serializedBody(parsed.body, parsed.texts)).toString('utf8'))).toEqual(body);
  });

  it("counts each long text for the body's model and the ladder's, never below the tokenizer's count", async () => {
    const parsed = await thread.parse(Buffer.from(JSON.stringify(body)), ['gpt-4', 'claude-haiku-4-5']);
    if (!('body' in parsed) || parsed.texts === null) throw new Error('no long texts');
    const { standIn, tokens } = countedTexts(parsed.texts);
    const standIns = stringsOf(parsed.body).filter((text) => new RegExp(standIn).test(text));
    const texts = [TRICKY.repeat(2_000), 'x'.repeat(100_000), 'word '.repeat(1_000)];

    for (const model of ['gpt-4o', 'gpt-4', 'claude-haiku-4-5']) {
      for (const [index, text] of texts.entries()) expect(tokens(standIns[index]!, model)).toBeGreaterThanOrEqual(await countTokens(text, model));
    }
    // A model it was not counted for: the text's JSON bytes, which no tokenizer exceeds.
    expect(tokens(standIns[1]!, 'gpt-3.5-turbo')).toBe(100_002);
  });

  it("refuses what the event loop's parser refuses, and object keys of 2048 characters or more", async () => {
    const refusal = async (text: string) => {
      const parsed = await thread.parse(Buffer.from(text), []);
      return 'refused' in parsed ? parsed.refused : 'parsed';
    };
    const long = 'x'.repeat(100_000);

    expect(await refusal(`{"model":"gpt-4o","messages":[${long}`)).toBe('json');
    expect(await refusal(`{"model":"gpt-4o","__proto__":{"polluted":true},"x":"${long}"}`)).toBe('json');
    expect(await refusal(`{"x":"${long}","y":${'['.repeat(64)}${']'.repeat(64)}}`)).toBe('depth');
    expect(await refusal(`{"${'k'.repeat(LONG_TEXT_CHARS)}":1,"x":"${long}"}`)).toBe('key');
    expect(await refusal(`{"${'k'.repeat(LONG_TEXT_CHARS - 1)}":1,"x":"${long}"}`)).toBe('parsed');
  });

  it('answers bodies that arrive together, each with its own texts', async () => {
    const bodies = Array.from({ length: 8 }, (_, i) => ({ model: 'gpt-4o', messages: [{ role: 'user', content: String(i).repeat(10_000 + i) }] }));

    const parsed = await Promise.all(bodies.map((each) => thread.parse(Buffer.from(JSON.stringify(each)), [])));

    expect(parsed.map((each) => ('body' in each ? JSON.parse(Buffer.from(serializedBody(each.body, each.texts)).toString('utf8')) : each))).toEqual(bodies);
  });
});
