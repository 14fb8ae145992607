import { describe, expect, it } from 'vitest';
import { countTokens, genaiPrices, hideInjectedUsage, hideInjectedUsageFrom, meterEventIterable, meterEventStream, sseMeter, sseParser, streamMeter, type StreamEnd } from '../src/index.js';
import type { Usage } from '@tollgate/core';
import { CHAT_CHUNKS, MESSAGE_EVENTS, RESPONSE_EVENTS, sse } from './fixtures.js';

const prices = genaiPrices();
const bytes = (text: string) => new TextEncoder().encode(text);
/** `raw` in pieces of `size` bytes. */
const split = (raw: Uint8Array, size: number) => Array.from({ length: Math.ceil(raw.length / size) }, (_, i) => raw.subarray(i * size, (i + 1) * size));

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

  it('drops a byte-order mark at the start of a stream only, whole or split, and keeps one later', () => {
    const events = ['\uFEFFdata: one\n\n', '\uFEFFdata: two\n\n', 'data: \uFEFFthree\n\n'];
    const encoded = bytes(events.join(''));
    for (const chunks of [...[1, 2, 4, encoded.length].map((size) => split(encoded, size)), events.map(bytes)]) {
      const parser = sseParser();
      const parsed = chunks.flatMap((chunk) => parser.push(chunk));
      parsed.push(...parser.end());
      // A mark after the start is part of the line: its field is no longer "data".
      expect(parsed).toEqual([{ data: 'one' }, { data: '\uFEFFthree' }]);
    }
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
    expect(settled).toEqual([[{ model: 'gpt-4o-mini-2024-07-18', inputTokens: 9, outputTokens: 7, cost: 0.00000555 }, { complete: true, how: 'done', toolCalls: [] }]]);
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
    expect(settled).toEqual([[{ model: 'gpt-4o-mini-2024-07-18', inputTokens: 120, outputTokens: await countTokens('Hello there', 'gpt-4o') }, { complete: false, how: 'cancelled', toolCalls: [] }]]);
  });

  it('passes a malformed usage chunk through and settles the stream as incomplete', async () => {
    const events = [...CHAT_CHUNKS.slice(0, -1), { ...CHAT_CHUNKS.at(-1)!, usage: { prompt_tokens: -1, completion_tokens: 'x' } }];
    const raw = bytes(sse(events, 'openai-chat'));
    const settled: StreamEnd[] = [];
    const body = meterEventStream(source([raw]), 'openai-chat', { model: 'gpt-4o-mini', inputTokens: 50 }, (_usage, end) => settled.push(end));
    expect(new Uint8Array(await new Response(body).arrayBuffer())).toEqual(raw);
    expect(settled).toEqual([{ complete: false, how: 'done', toolCalls: [] }]);
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
    expect(settled).toEqual([{ complete: false, how: 'error', toolCalls: [] }]);
  });
});

/** Yields `chunks`, then throws `failure` if given; records whether the consumer stopped it early. */
function chunksOf(chunks: Uint8Array[], failure?: Error): AsyncIterable<Uint8Array> & { stopped: boolean } {
  const iterable = {
    stopped: false,
    async *[Symbol.asyncIterator]() {
      try {
        for (const chunk of chunks) yield chunk;
        if (failure) throw failure;
      } finally {
        iterable.stopped = true;
      }
    },
  };
  return iterable;
}

const joined = async (body: AsyncIterable<Uint8Array>) => {
  const parts: Uint8Array[] = [];
  for await (const part of body) parts.push(part);
  return new TextDecoder().decode(Buffer.concat(parts));
};

describe('meterEventIterable (Node streams and other async iterables)', () => {
  it('yields the bytes unchanged and settles once at the end, as meterEventStream does', async () => {
    const raw = bytes(sse(CHAT_CHUNKS, 'openai-chat'));
    const settled: Array<[Usage, StreamEnd]> = [];

    const text = await joined(meterEventIterable(chunksOf([raw.subarray(0, 100), raw.subarray(100)]), 'openai-chat', { prices }, (usage, end) => settled.push([usage, end])));

    expect(text).toBe(new TextDecoder().decode(raw));
    expect(settled).toEqual([[{ model: 'gpt-4o-mini-2024-07-18', inputTokens: 9, outputTokens: 7, cost: 0.00000555 }, { complete: true, how: 'done', toolCalls: [] }]]);
  });

  it('a consumer that stops early stops the source first, then settles the output received as cancelled', async () => {
    const raw = bytes(sse(CHAT_CHUNKS.slice(0, 3), 'openai-chat').replace('data: [DONE]\n\n', ''));
    const upstream = chunksOf([raw, bytes('data: {}\n\n')]);
    const seen: string[] = [];
    const metered = meterEventIterable(upstream, 'openai-chat', { model: 'gpt-4o-mini', inputTokens: 120 }, (usage, end) => void seen.push(`stopped=${upstream.stopped} ${usage.outputTokens} ${end.how} ${end.complete}`));

    await metered.next();
    await metered.return(undefined);

    expect(seen).toEqual([`stopped=true ${await countTokens('Hello there', 'gpt-4o')} cancelled false`]);
  });

  it('settles when the source fails, and still fails the consumer', async () => {
    const settled: StreamEnd[] = [];

    await expect(joined(meterEventIterable(chunksOf([bytes(sse(MESSAGE_EVENTS.slice(0, 4), 'named'))], new Error('socket hang up')), 'anthropic', undefined, (_usage, end) => settled.push(end)))).rejects.toThrow('socket hang up');

    expect(settled).toEqual([{ complete: false, how: 'error', toolCalls: [] }]);
  });

  it('refuses a missing callback at once', () => {
    expect(() => meterEventIterable(chunksOf([]), 'openai-chat', undefined, undefined as never)).toThrow(/meterEventIterable needs an onUsage/);
  });
});

describe('hiding the usage a proxy asked for', () => {
  it('gives the same bytes from an async iterable as from a web stream', async () => {
    const withUsage = CHAT_CHUNKS.map((chunk) => ({ usage: null, ...(chunk as object) }));
    const raw = bytes(sse(withUsage, 'openai-chat'));
    const halves = () => [raw.subarray(0, 77), raw.subarray(77)];

    const fromIterable = await joined(hideInjectedUsageFrom(chunksOf(halves())));
    const fromStream = await new Response(source(halves()).pipeThrough(hideInjectedUsage())).text();

    expect(fromIterable).toBe(fromStream);
    expect(fromIterable).not.toContain('"usage"');
    expect(fromIterable).toContain('data: [DONE]');
  });
});

describe('meterEventIterable with a signal that the consumer is gone', () => {
  it('settles at once when it aborts, as cancelled, while a read of the source is still pending', async () => {
    const raw = bytes(sse(CHAT_CHUNKS.slice(0, 3), 'openai-chat').replace('data: [DONE]\n\n', ''));
    let release!: () => void;
    const pending = new Promise<void>((resolve) => (release = resolve));
    const hanging = {
      async *[Symbol.asyncIterator]() {
        yield raw;
        await pending;
      },
    };
    const gone = new AbortController();
    const settled: StreamEnd[] = [];
    let onSettled!: () => void;
    const settledOnce = new Promise<void>((resolve) => (onSettled = resolve));
    const metered = meterEventIterable(hanging, 'openai-chat', { model: 'gpt-4o-mini', inputTokens: 5 }, (_usage, end) => void (settled.push(end), onSettled()), gone.signal);
    await metered.next();
    const stuck = metered.next();

    gone.abort();
    // Settled while the read is still pending (were it not, this would wait for ever).
    await settledOnce;

    expect(settled).toEqual([{ complete: false, how: 'cancelled', toolCalls: [] }]);
    release();
    await stuck;
    expect(settled).toHaveLength(1);
  });
});
