import { ConfigurationError, type Usage } from '@tollgate/core';
import { describe, expect, it } from 'vitest';
import { countTokens, genaiPrices, hideInjectedUsage, meterEventChunks, sseMeter, streamMeter, type StreamEnd, type StreamFormat } from '../src/index.js';
import { CHAT_CHUNKS, CHAT_TOOL_CHUNKS_CUT, MESSAGE_EVENTS, RESPONSE_EVENTS, sse } from './fixtures.js';

const prices = genaiPrices();
const bytes = (text: string) => new TextEncoder().encode(text);
const text = (parts: Array<Uint8Array | undefined>) => new TextDecoder().decode(Buffer.concat(parts.filter((part) => part !== undefined)));

/** `raw` in pieces of `size` bytes. */
const split = (raw: Uint8Array, size: number) => Array.from({ length: Math.ceil(raw.length / size) }, (_, i) => raw.subarray(i * size, (i + 1) * size));

/** What `hideInjectedUsage()` makes of `chunks`. */
async function hidden(chunks: Uint8Array[]): Promise<string> {
  const source = new ReadableStream<Uint8Array>({
    start(controller) {
      chunks.forEach((chunk) => controller.enqueue(chunk));
      controller.close();
    },
  });
  return new Response(source.pipeThrough(hideInjectedUsage())).text();
}

/** A chat stream as OpenAI sends it with `include_usage`: `"usage": null` last on every chunk, then the usage-only chunk. */
const WITH_INJECTED_USAGE = [...CHAT_CHUNKS.slice(0, -1).map((chunk) => ({ ...chunk, usage: null })), CHAT_CHUNKS.at(-1)!];

describe('meterEventChunks', () => {
  for (const [shape, events] of [
    ['the usage last, as OpenAI writes it', WITH_INJECTED_USAGE],
    ['the usage first, as other servers may', [...CHAT_CHUNKS.slice(0, -1).map((chunk): object => ({ usage: null, ...(chunk as object) })), CHAT_CHUNKS.at(-1)!]],
  ] as const) {
    it(`meters and hides the injected usage in one pass, as sseMeter and hideInjectedUsage do apart (${shape}), however the bytes are split`, async () => {
      const raw = bytes(sse(events, 'openai-chat'));
      const apart = sseMeter('openai-chat', { prices });
      apart.write(raw);
      for (const size of [1, 7, 64, raw.length]) {
        const settled: Array<[Usage, StreamEnd]> = [];
        const chunks = meterEventChunks('openai-chat', { prices }, (usage, end) => settled.push([usage, end]), { hideInjectedUsage: true });
        const passed = split(raw, size).map((chunk) => chunks.pass(chunk));
        passed.push(chunks.end());
        await chunks.settle('done');

        expect(text(passed)).toBe(await hidden(split(raw, size)));
        expect(text(passed)).not.toContain('"usage"');
        expect(settled).toEqual([[await apart.usage(), { complete: true, how: 'done', toolCalls: [] }]]);
      }
    });
  }

  it('cuts the usage from the text of a chunk, the rest of its bytes as they came', async () => {
    const chunk = '{"id":"c1","choices":[{"index":0,"delta":{"content":"a \\"usage\\": null, é"},"finish_reason":null}],"usage":null}';
    const chunks = meterEventChunks('openai-chat', undefined, () => undefined, { hideInjectedUsage: true });

    expect(text([chunks.pass(bytes(`data: ${chunk}\n\n`))])).toBe(`data: ${chunk.replace(',"usage":null}', '}')}\n\n`);
  });

  it('passes each chunk itself on when it hides nothing', () => {
    const raw = bytes(sse(MESSAGE_EVENTS, 'named'));
    const chunks = meterEventChunks('anthropic', undefined, () => undefined);

    expect(chunks.pass(raw)).toBe(raw);
    expect(chunks.end()).toBeUndefined();
  });

  it('settles once, at once when the consumer is gone, with what went through', async () => {
    const gone = new AbortController();
    const settled: Array<[Usage, StreamEnd]> = [];
    const chunks = meterEventChunks('openai-chat', { model: 'gpt-4o-mini', inputTokens: 12 }, (usage, end) => settled.push([usage, end]), { gone: gone.signal });
    chunks.pass(bytes(sse(CHAT_CHUNKS.slice(0, 3), 'openai-chat').replace('data: [DONE]\n\n', '')));

    gone.abort();
    await chunks.settle('error');
    await chunks.settle('done');

    expect(settled).toEqual([[{ model: 'gpt-4o-mini-2024-07-18', inputTokens: 12, outputTokens: await countTokens('Hello there', 'gpt-4o') }, { complete: false, how: 'cancelled', toolCalls: [] }]]);
  });

  it('refuses to hide a usage that a format reports unasked, and a missing callback', () => {
    expect(() => meterEventChunks('anthropic', undefined, () => undefined, { hideInjectedUsage: true })).toThrow(ConfigurationError);
    expect(() => meterEventChunks('openai-chat', undefined, undefined as never)).toThrow(/meterEventChunks needs an onUsage/);
  });
});

describe('events of text alone, left unparsed until their text is counted', () => {
  /** The usage of `events` pushed parsed, and of their SSE bytes written to an SSE meter, split at every `size` bytes. */
  async function bothWays(format: StreamFormat, events: readonly object[], framing: 'openai-chat' | 'named', size: number) {
    const parsed = streamMeter(format, { model: 'gpt-4o-mini', inputTokens: 40, prices });
    for (const event of events) parsed.push(event);
    const raw = sseMeter(format, { model: 'gpt-4o-mini', inputTokens: 40, prices });
    for (const chunk of split(bytes(sse(events, framing)), size)) raw.write(chunk);
    return { parsed: [await parsed.usage(), parsed.complete, parsed.toolCalls()], raw: [await raw.usage(), raw.complete, raw.toolCalls()] };
  }

  for (const [what, format, events, framing] of [
    ['a chat stream cut off', 'openai-chat', WITH_INJECTED_USAGE.slice(0, 4), 'openai-chat'],
    ['a chat stream calling a tool, cut off', 'openai-chat', [...WITH_INJECTED_USAGE.slice(0, 2), ...CHAT_TOOL_CHUNKS_CUT, WITH_INJECTED_USAGE[2]!], 'openai-chat'],
    ['a Responses stream cut off', 'openai-responses', RESPONSE_EVENTS.slice(0, -1), 'named'],
    ['an Anthropic stream cut off', 'anthropic', MESSAGE_EVENTS.slice(0, -2), 'named'],
  ] as const) {
    it(`counts ${what} as the parsed events count`, async () => {
      for (const size of [1, 13, 4096]) {
        const { parsed, raw } = await bothWays(format, events, framing, size);
        expect(raw).toEqual(parsed);
        expect((parsed[0] as Usage).outputTokens).toBeGreaterThan(0);
      }
    });
  }

  it('counts a long stream cut off, whose unread events it reads as they pass a bound, as the parsed events count', async () => {
    const long = [WITH_INJECTED_USAGE[0]!, ...Array.from({ length: 3000 }, (_, i) => ({ ...WITH_INJECTED_USAGE[1]!, choices: [{ index: 0, delta: { content: ` w${i}` }, finish_reason: null }] }))];
    const { parsed, raw } = await bothWays('openai-chat', long, 'openai-chat', 8192);

    expect(raw).toEqual(parsed);
    // Every delta's text is at least one token.
    expect((parsed[0] as Usage).outputTokens).toBeGreaterThanOrEqual(3000);
  });

  it('reads at once a chunk that carries a usage or a tool call, whatever its text says', async () => {
    const named = WITH_INJECTED_USAGE[0]!;
    const running = { ...WITH_INJECTED_USAGE[1]!, usage: { prompt_tokens: 31, completion_tokens: 1, total_tokens: 32 } };
    const saysUsage = { ...WITH_INJECTED_USAGE[2]!, choices: [{ index: 0, delta: { content: 'usage' }, finish_reason: null }] };
    const { parsed, raw } = await bothWays('openai-chat', [named, running, saysUsage, CHAT_TOOL_CHUNKS_CUT[0]!], 'openai-chat', 4096);

    expect(raw).toEqual(parsed);
    // The running count's input wins over the estimate; the tool call opened.
    expect(parsed[0]).toMatchObject({ inputTokens: 31 });
    expect(parsed[2]).toEqual(['get_weather']);
  });
});
