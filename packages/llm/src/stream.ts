import type { Usage } from '@tollgate/core';
import { configurationError } from './errors.js';
import { streamingFormat, type StreamFormat } from './formats/index.js';
import { openaiChat } from './formats/openai-chat.js';
import { eventJson, eventText, sseParser, type ServerSentEvent } from './sse.js';
import { settlement, type StreamEnd } from './stream-end.js';
import { resolveStreamOptions, type Meter, type StreamMeter, type StreamMeterOptions } from './stream-meter.js';

/**
 * A meter for one streamed call in `format`, fed the chunks or events the SDK yields.
 *
 * @example
 * const meter = streamMeter('openai-chat', { model: 'gpt-4o', inputTokens: demand.inputTokens, prices });
 * for await (const chunk of stream) meter.push(chunk);
 * await lease.record(await meter.usage(), { partial: !meter.complete });
 */
export function streamMeter(format: StreamFormat, options?: StreamMeterOptions): StreamMeter {
  const resolved = resolveStreamOptions(options);
  return streamingFormat(format).stream.meter(resolved);
}

/** A stream meter over the raw bytes of an SSE stream, for proxies that pass the bytes on unparsed. */
export interface SseMeter extends StreamMeter {
  /** Feeds raw bytes (or text) of the stream, split anywhere. */
  write(chunk: Uint8Array | string): void;
}

/**
 * A meter over the raw `text/event-stream` bytes of an OpenAI-compatible or Anthropic stream: it
 * parses the SSE framing and the JSON of each `data:` line (skipping `[DONE]` and anything that is
 * not JSON) and meters it as `streamMeter` does.
 *
 * @example
 * const meter = sseMeter('openai-chat', { model: body.model, inputTokens: demand.inputTokens, prices });
 * upstream.on('data', (bytes) => { meter.write(bytes); client.write(bytes) });
 * // on end or on client disconnect:
 * await lease.record(await meter.usage(), { partial: !meter.complete });
 */
export function sseMeter(format: StreamFormat, options?: StreamMeterOptions): SseMeter {
  return sseOver(streamingFormat(format).stream.meter(resolveStreamOptions(options)));
}

/** What `hide` keeps of an event's data, from its text and its JSON (see `StreamReading.usageOnRequest.hide`). */
type Hide = (data: string, json: unknown) => string | undefined;

/** An event as a client sees it once `hide` has had its data: its text, or '' when hidden whole. */
function hiddenText(event: ServerSentEvent, json: unknown, hide: Hide): string {
  const data = hide(event.data, json);
  if (data === undefined) return '';
  return eventText(data === event.data ? event : { event: event.event, data });
}

/** Text as bytes to send; none for no text. One encoder serves every stream: it keeps no state. */
const encoder = new TextEncoder();
const bytes = (text: string): Uint8Array | undefined => (text === '' ? undefined : encoder.encode(text));

/** An SSE meter that also gives back the events it read, as text, less what `hide` drops. */
interface HidingSseMeter extends SseMeter {
  /** Meters a chunk; returns the events it completed, as text without what `hide` drops ('' without `hide`). */
  write(chunk: Uint8Array | string): string;
  /** Meters what the body left (the end of a character split by the last chunk); returns it as `write` does. */
  end(): string;
}

/**
 * `meter` fed from raw SSE bytes: the JSON of each `data:` line (what is not JSON, chat's `[DONE]`
 * included, is no event), but for the events the meter leaves unparsed (`Meter.textOnly`). With
 * `hide`, an event parsed is parsed once for both the meter and the hiding.
 */
export function sseOver(meter: Meter, hide?: Hide): HidingSseMeter {
  const parser = sseParser();
  const read = (events: ServerSentEvent[]): string => {
    let kept = '';
    for (const event of events) {
      const json = meter.pushData(event.data);
      if (hide) kept += hiddenText(event, json, hide);
    }
    return kept;
  };
  const end = () => read(parser.end());
  return {
    write: (chunk) => read(parser.push(chunk)),
    end,
    push: (chunk) => meter.push(chunk),
    get complete() {
      return meter.complete;
    },
    usage: () => {
      end();
      return meter.usage();
    },
    toolCalls: () => meter.toolCalls(),
  };
}

/** Options of `meterEventChunks`. */
export interface EventChunksOptions {
  /**
   * Removes what asking for the usage added (chat's `stream_options.include_usage`: the usage-only
   * last chunk, and `"usage": null` on every other), for a client that did not ask for it, as
   * `hideInjectedUsage` does, reading each event once for both. For a format whose stream reports
   * its usage only when asked (`'openai-chat'`).
   * @default false
   */
  hideInjectedUsage?: boolean;
  /** When it aborts (the client is gone), the call is settled at once, as `cancelled`, with what went through. */
  gone?: AbortSignal;
}

/** An SSE body that a proxy moves itself, metered as it passes (see `meterEventChunks`). */
export interface MeteredEventChunks {
  /**
   * Meters a chunk of the body (split anywhere) and returns what to send on in its place: the
   * chunk itself, or, when hiding the injected usage, the events it completed without it
   * (`undefined`: nothing to send yet).
   */
  pass(chunk: Uint8Array): Uint8Array | undefined;
  /** The body was read to its end: what is left to send, as `pass` returns it. */
  end(): Uint8Array | undefined;
  /** Calls `onUsage`, the first time only, with the usage of what went through and `how` the body ended. */
  settle(how: StreamEnd['how']): Promise<void>;
}

/**
 * The core of the metered pass-throughs, for a proxy that moves an SSE body's chunks itself (a
 * Node `Transform`, a socket handler): each chunk is metered, and passed on or rid of the injected
 * usage, synchronously, with no stream or promise per chunk; `settle` calls `onUsage` exactly
 * once, however the body ends, or at once when `gone` aborts. Call `end` before settling a body
 * read to its end: settling reads what is left, and what it would have sent is then lost.
 *
 * @example
 * const chunks = meterEventChunks('openai-chat', { model, inputTokens, prices }, (usage, end) => lease.finish(usage, end.complete ? undefined : { partial: true }), { gone });
 * const passing = new Transform({
 *   transform: (chunk, _encoding, done) => done(null, chunks.pass(chunk)),
 *   // Settled before the response ends, while the lease is held.
 *   flush(done) {
 *     const rest = chunks.end();
 *     void chunks.settle('done').then(() => done(null, rest));
 *   },
 * });
 * upstream.once('error', () => void chunks.settle('error')).pipe(passing);
 */
export function meterEventChunks(
  format: StreamFormat,
  options: StreamMeterOptions | undefined,
  onUsage: (usage: Usage, end: StreamEnd) => unknown,
  { hideInjectedUsage = false, gone }: EventChunksOptions = {},
): MeteredEventChunks {
  if (typeof onUsage !== 'function') throw configurationError('meterEventChunks needs an onUsage(usage, end) callback');
  const reading = streamingFormat(format).stream;
  const hide = hideInjectedUsage ? reading.usageOnRequest?.hide : undefined;
  if (hideInjectedUsage && !hide) throw configurationError(`meterEventChunks: a ${format} stream reports its usage unasked, and has none to hide`);
  const meter = sseOver(reading.meter(resolveStreamOptions(options)), hide);
  const settle = settlement(meter, options, onUsage);
  const cancelled = () => void settle('cancelled');
  if (gone?.aborted) cancelled();
  else gone?.addEventListener('abort', cancelled, { once: true });
  return {
    pass: hide ? (chunk) => bytes(meter.write(chunk)) : (chunk) => (meter.write(chunk), chunk),
    end: () => bytes(meter.end()),
    settle: (how) => {
      gone?.removeEventListener('abort', cancelled);
      return settle(how);
    },
  };
}

/**
 * Passes a `text/event-stream` body through unchanged and calls `onUsage` exactly once, when it has
 * been read to the end, cancelled by its reader (a client that disconnected) or failed upstream,
 * with the usage metered from the bytes that went through. What an OpenAI-compatible gateway needs.
 *
 * @example
 * const body = meterEventStream(upstream.body!, 'openai-chat', { model, inputTokens, prices }, async (usage, end) => {
 *   await lease.record(usage, { partial: !end.complete });
 *   await lease.release();
 * });
 * return new Response(body, { headers: upstream.headers });
 */
export function meterEventStream(
  body: ReadableStream<Uint8Array>,
  format: StreamFormat,
  options: StreamMeterOptions | undefined,
  onUsage: (usage: Usage, end: StreamEnd) => unknown,
): ReadableStream<Uint8Array> {
  if (typeof onUsage !== 'function') throw configurationError('meterEventStream needs an onUsage(usage, end) callback');
  const meter = sseMeter(format, options);
  return meteredBody(body, meter, (chunk) => meter.write(chunk), options, onUsage);
}

/**
 * `meterEventStream` for Node streams and other async iterables of bytes: yields the chunks of
 * `body` unchanged and calls `onUsage` exactly once, when `body` ends or fails, when the consumer
 * stops early (`return()`, which a destroyed `Readable.from` calls; `body` is stopped first), or
 * as soon as `gone` aborts. A consumer's `return()` waits for a pending read of `body` to finish,
 * so a proxy whose client leaves passes `gone`: the call is settled at once, as `cancelled`, with
 * what went through. No web streams on the way: what a Node proxy that pipes an upstream needs.
 *
 * @example
 * const metered = meterEventIterable(upstreamResponse, 'openai-chat', { model, inputTokens, prices }, (usage, end) => lease.finish(usage, end.complete ? undefined : { partial: true }), clientGone);
 * reply.send(Readable.from(metered, { objectMode: false }));
 */
export function meterEventIterable(
  body: AsyncIterable<Uint8Array>,
  format: StreamFormat,
  options: StreamMeterOptions | undefined,
  onUsage: (usage: Usage, end: StreamEnd) => unknown,
  gone?: AbortSignal,
): AsyncGenerator<Uint8Array> {
  if (typeof onUsage !== 'function') throw configurationError('meterEventIterable needs an onUsage(usage, end) callback');
  return meteredChunks(body, meterEventChunks(format, options, onUsage, { gone }));
}

async function* meteredChunks(body: AsyncIterable<Uint8Array>, chunks: MeteredEventChunks): AsyncGenerator<Uint8Array> {
  // Unless the loop ends or throws, the consumer stopped early: leaving the loop stopped `body`.
  let how: StreamEnd['how'] = 'cancelled';
  try {
    for await (const chunk of body) {
      const passed = chunks.pass(chunk);
      if (passed) yield passed;
    }
    const rest = chunks.end();
    if (rest) yield rest;
    how = 'done';
  } catch (error) {
    how = 'error';
    throw error;
  } finally {
    await chunks.settle(how);
  }
}

/**
 * `body` passed through `meter`, each chunk given to it by `feed` (raw bytes to an SSE meter, parts
 * to a meter of parts), and settled once through `onUsage` (see `meterEventStream`).
 */
export function meteredBody<T>(
  body: ReadableStream<T>,
  meter: StreamMeter,
  feed: (chunk: T) => void,
  options: StreamMeterOptions | undefined,
  onUsage: (usage: Usage, end: StreamEnd) => unknown,
): ReadableStream<T> {
  const reader = body.getReader();
  const settle = settlement(meter, options, onUsage);
  return new ReadableStream<T>({
    async pull(controller) {
      let chunk: ReadableStreamReadResult<T>;
      try {
        chunk = await reader.read();
      } catch (error) {
        await settle('error');
        controller.error(error);
        return;
      }
      if (chunk.done) {
        await settle('done');
        controller.close();
        return;
      }
      feed(chunk.value);
      controller.enqueue(chunk.value);
    },
    async cancel(reason) {
      // Upstream first: the provider stops generating (and billing) as soon as it sees the close.
      await reader.cancel(reason).catch(() => undefined);
      await settle('cancelled');
    },
  });
}

/**
 * What `stream_options.include_usage` adds to a chat completion stream, removed for a client that
 * did not ask for it: the usage-only last chunk (`choices: []`) and the `"usage": null` on every
 * other chunk. A proxy or a metered fetch asks the upstream for usage so that it can meter the
 * stream, and pipes the bytes through this so the client sees the stream it asked for. A chunk
 * whose data ends in `,"usage":null}` loses it from its text, its other bytes unchanged; anything
 * else (`[DONE]`, data that is not JSON) passes unchanged. Events are re-emitted as `event:` and
 * `data:` lines (comments and `id:`/`retry:` fields, which OpenAI-compatible APIs do not send, are
 * dropped).
 *
 * @example
 * return new Response(upstream.body!.pipeThrough(hideInjectedUsage()), { headers: upstream.headers });
 */
export function hideInjectedUsage(): TransformStream<Uint8Array, Uint8Array> {
  const hider = usageHider();
  return new TransformStream({
    transform: (chunk, controller) => {
      const kept = hider.push(chunk);
      if (kept) controller.enqueue(kept);
    },
    flush: (controller) => {
      const rest = hider.end();
      if (rest) controller.enqueue(rest);
    },
  });
}

/** `hideInjectedUsage` for Node streams and other async iterables of bytes: yields `body`'s events without the injected usage. */
export async function* hideInjectedUsageFrom(body: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  const hider = usageHider();
  for await (const chunk of body) {
    const kept = hider.push(chunk);
    if (kept) yield kept;
  }
  const rest = hider.end();
  if (rest) yield rest;
}

/** The events of a chat stream's bytes, as bytes again, without what `include_usage` added. */
function usageHider(): { push(chunk: Uint8Array): Uint8Array | undefined; end(): Uint8Array | undefined } {
  const parser = sseParser();
  const { hide } = openaiChat.stream.usageOnRequest;
  const kept = (events: ServerSentEvent[]) => {
    let text = '';
    for (const event of events) text += hiddenText(event, eventJson(event.data), hide);
    return bytes(text);
  };
  return { push: (chunk) => kept(parser.push(chunk)), end: () => kept(parser.end()) };
}
