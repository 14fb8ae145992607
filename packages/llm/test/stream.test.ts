import { describe, expect, it } from 'vitest';
import { countTokens, genaiPrices, meterEventStream, sseMeter, sseParser, streamMeter, type StreamEnd } from '../src/index.js';
import type { Usage } from '@tollgate/core';
import { CHAT_CHUNKS, CHAT_TOOL_CHUNKS_CUT, MESSAGE_EVENTS, RESPONSE_EVENTS, sse } from './fixtures.js';

const prices = genaiPrices();
const bytes = (text: string) => new TextEncoder().encode(text);

describe('stream meters over parsed chunks', () => {
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

  it('OpenAI Responses: response.completed carries the usage; cut off, the deltas count', async () => {
    const meter = streamMeter('openai-responses', { model: 'gpt-4.1', inputTokens: 40, prices });
    for (const event of RESPONSE_EVENTS) meter.push(event);
    // 37 × $2 + 11 × $8 per million.
    expect(await meter.usage()).toEqual({ model: 'gpt-4.1-2025-04-14', inputTokens: 37, outputTokens: 11, cost: 0.000162 });
    const cut = streamMeter('openai-responses', { model: 'gpt-4.1', inputTokens: 40 });
    for (const event of RESPONSE_EVENTS.slice(0, 5)) cut.push(event);
    expect(await cut.usage()).toEqual({ model: 'gpt-4.1-2025-04-14', inputTokens: 40, outputTokens: await countTokens('Hi there!', 'gpt-4.1') });
  });

  it('Anthropic: message_start bills the input, message_delta the cumulative output', async () => {
    const meter = streamMeter('anthropic', { model: 'claude-sonnet-4-5', inputTokens: 3000, prices });
    for (const event of MESSAGE_EVENTS) meter.push(event);
    // 25 × $3 + 2,000 × $0.30 + 15 × $15 per million.
    expect(await meter.usage()).toEqual({ model: 'claude-sonnet-4-5-20250929', inputTokens: 2025, cachedInputTokens: 2000, outputTokens: 15, cost: 0.0009 });
  });

  it('Anthropic cut off: the input message_start reported, plus the output received', async () => {
    const meter = streamMeter('anthropic', { inputTokens: 3000 });
    for (const event of MESSAGE_EVENTS.slice(0, 4)) meter.push(event);
    expect(meter.complete).toBe(false);
    // The input is what Anthropic billed, not the estimate; "Hello" is 2 tokens by the ratio.
    expect(await meter.usage()).toEqual({ model: 'claude-sonnet-4-5-20250929', inputTokens: 2025, cachedInputTokens: 2000, outputTokens: 2 });
  });

  it('Anthropic: message_delta input counts (newer API versions) override message_start', async () => {
    const meter = streamMeter('anthropic');
    meter.push(MESSAGE_EVENTS[0]);
    meter.push({ type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { input_tokens: 30, cache_read_input_tokens: null, output_tokens: 9 } });
    expect(await meter.usage()).toEqual({ model: 'claude-sonnet-4-5-20250929', inputTokens: 2030, cachedInputTokens: 2000, outputTokens: 9 });
  });
});

describe('stream meters: usage that cannot be trusted', () => {
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

  it('Anthropic: a malformed message_delta leaves the stream incomplete, and the input message_start billed stands', async () => {
    const meter = streamMeter('anthropic', { inputTokens: 3000 });
    for (const event of MESSAGE_EVENTS.slice(0, 6)) meter.push(event);
    meter.push({ type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 'many' } });
    expect(meter.complete).toBe(false);
    expect(await meter.usage()).toMatchObject({ inputTokens: 2025, cachedInputTokens: 2000 });
  });

  it('prices a served model name the table does not know as the model asked for', async () => {
    const meter = streamMeter('anthropic', { model: 'claude-sonnet-4-5', prices });
    for (const event of MESSAGE_EVENTS) meter.push(event.type === 'message_start' ? { ...event, message: { ...(event as { message: object }).message, model: 'anthropic/claude-sonnet-4.5' } } : event);
    // 25 × $3 + 2,000 × $0.30 + 15 × $15 per million.
    expect(await meter.usage()).toEqual({ model: 'anthropic/claude-sonnet-4.5', inputTokens: 2025, cachedInputTokens: 2000, outputTokens: 15, cost: 0.0009 });
  });
});

describe('SSE', () => {
  it('parses events split at every byte, with CRLF, CR, comments and multi-line data', () => {
    const text = ': keep-alive\r\nevent: a\r\ndata: one\r\ndata: two\r\n\r\ndata:three\r\rdata: é🚀\n\n';
    const encoded = bytes(text);
    const parser = sseParser();
    const events = [];
    for (let i = 0; i < encoded.length; i++) events.push(...parser.push(encoded.subarray(i, i + 1)));
    events.push(...parser.end());
    expect(events).toEqual([{ event: 'a', data: 'one\ntwo' }, { data: 'three' }, { data: 'é🚀' }]);
  });

  for (const [format, events, framing] of [
    ['openai-chat', CHAT_CHUNKS, 'openai-chat'],
    ['openai-responses', RESPONSE_EVENTS, 'named'],
    ['anthropic', MESSAGE_EVENTS, 'named'],
  ] as const) {
    it(`meters raw ${format} bytes, however they are split, exactly as the parsed events`, async () => {
      const parsed = streamMeter(format);
      for (const event of events) parsed.push(event);
      const raw = bytes(sse(events, framing));
      for (const size of [1, 7, 64, raw.length]) {
        const meter = sseMeter(format);
        for (let i = 0; i < raw.length; i += size) meter.write(raw.subarray(i, i + size));
        expect(meter.complete).toBe(true);
        expect(await meter.usage()).toEqual(await parsed.usage());
      }
    });
  }
});

function source(chunks: Uint8Array[], hang = false): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream({
    pull(controller) {
      if (i < chunks.length) controller.enqueue(chunks[i++]!);
      else if (!hang) controller.close();
      // Hanging: the provider is still generating when the client goes away.
      else return new Promise(() => undefined);
    },
  });
}

describe('meterEventStream', () => {
  it('passes the bytes through unchanged and settles once at the end', async () => {
    const raw = bytes(sse(CHAT_CHUNKS, 'openai-chat'));
    const settled: Array<[Usage, StreamEnd]> = [];
    const body = meterEventStream(source([raw.subarray(0, 100), raw.subarray(100)]), 'openai-chat', { prices }, (usage, end) => settled.push([usage, end]));
    expect(new Uint8Array(await new Response(body).arrayBuffer())).toEqual(raw);
    expect(settled).toEqual([[{ model: 'gpt-4o-mini-2024-07-18', inputTokens: 9, outputTokens: 7, cost: 0.00000555 }, { complete: true, how: 'done' }]]);
  });

  it('settles a client disconnect with the estimated input plus the output received', async () => {
    const raw = bytes(sse(CHAT_CHUNKS.slice(0, 3), 'openai-chat').replace('data: [DONE]\n\n', ''));
    let cancelled = false;
    const upstream = source([raw], true);
    const settled: Array<[Usage, StreamEnd]> = [];
    const body = meterEventStream(
      new ReadableStream({ pull: (c) => upstream.getReader().read().then((r) => (r.done ? c.close() : c.enqueue(r.value))), cancel: () => void (cancelled = true) }),
      'openai-chat',
      { model: 'gpt-4o-mini', inputTokens: 120 },
      (usage, end) => settled.push([usage, end]),
    );
    const reader = body.getReader();
    await reader.read();
    await reader.cancel('client went away');
    expect(cancelled).toBe(true);
    expect(settled).toEqual([[{ model: 'gpt-4o-mini-2024-07-18', inputTokens: 120, outputTokens: await countTokens('Hello there', 'gpt-4o') }, { complete: false, how: 'cancelled' }]]);
  });

  it('passes a malformed usage chunk through and settles the stream as incomplete', async () => {
    const events = [...CHAT_CHUNKS.slice(0, -1), { ...CHAT_CHUNKS.at(-1)!, usage: { prompt_tokens: -1, completion_tokens: 'x' } }];
    const raw = bytes(sse(events, 'openai-chat'));
    const settled: StreamEnd[] = [];
    const body = meterEventStream(source([raw]), 'openai-chat', { model: 'gpt-4o-mini', inputTokens: 50 }, (_usage, end) => settled.push(end));
    expect(new Uint8Array(await new Response(body).arrayBuffer())).toEqual(raw);
    expect(settled).toEqual([{ complete: false, how: 'done' }]);
  });

  it('settles when the upstream fails, and still fails the body', async () => {
    const raw = bytes(sse(MESSAGE_EVENTS.slice(0, 4), 'named'));
    let sent = false;
    const failing = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (!sent) {
          sent = true;
          controller.enqueue(raw);
        } else controller.error(new Error('socket hang up'));
      },
    });
    const settled: StreamEnd[] = [];
    const body = meterEventStream(failing, 'anthropic', undefined, (_usage, end) => settled.push(end));
    await expect(new Response(body).text()).rejects.toThrow('socket hang up');
    expect(settled).toEqual([{ complete: false, how: 'error' }]);
  });
});
