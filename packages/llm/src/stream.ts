import { errorPrefix, type Usage } from '@tollgate/core';
import { configurationError } from './errors.js';
import { streamingFormat, type StreamFormat } from './formats/index.js';
import { isUsageOnlyChunk } from './formats/openai-chat.js';
import { resolveStreamOptions, type StreamMeter, type StreamMeterOptions } from './stream-meter.js';

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

/** One server-sent event: its `event:` name (if any) and its `data:` lines joined by newlines. */
export interface ServerSentEvent {
  event?: string;
  data: string;
}

/**
 * An incremental parser of `text/event-stream` bytes (or text), per the HTML spec: lines end in
 * LF, CRLF or CR, `data:` lines of one event are joined, comments are skipped, a blank line ends an
 * event. Chunks may split anywhere, a UTF-8 character included.
 *
 * @example
 * const parser = sseParser();
 * for (const event of parser.push(bytes)) console.log(event.event, event.data);
 */
export function sseParser(): { push(chunk: Uint8Array | string): ServerSentEvent[]; end(): ServerSentEvent[] } {
  const decoder = new TextDecoder();
  let buffer = '';
  let data: string[] | undefined;
  let event: string | undefined;
  /** The previous chunk ended in CR: an LF starting this one belongs to it. */
  let pendingCR = false;

  const line = (text: string, out: ServerSentEvent[]) => {
    if (text === '') {
      if (data) out.push(event === undefined ? { data: data.join('\n') } : { event, data: data.join('\n') });
      data = undefined;
      event = undefined;
      return;
    }
    if (text.startsWith(':')) return;
    const colon = text.indexOf(':');
    const field = colon < 0 ? text : text.slice(0, colon);
    let value = colon < 0 ? '' : text.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') (data ??= []).push(value);
    else if (field === 'event') event = value;
  };

  const drain = (text: string): ServerSentEvent[] => {
    const out: ServerSentEvent[] = [];
    if (pendingCR && text.startsWith('\n')) text = text.slice(1);
    pendingCR = false;
    buffer += text;
    let start = 0;
    for (let i = 0; i < buffer.length; i++) {
      const c = buffer.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      line(buffer.slice(start, i), out);
      if (c === 13) {
        if (i + 1 === buffer.length) pendingCR = true;
        else if (buffer.charCodeAt(i + 1) === 10) i++;
      }
      start = i + 1;
    }
    buffer = buffer.slice(start);
    return out;
  };

  return {
    push: (chunk) => drain(typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true })),
    // An event not ended by a blank line is incomplete and is dropped, as browsers do.
    end: () => drain(decoder.decode()),
  };
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
  return sseOver(streamMeter(format, options));
}

/** `meter` fed from raw SSE bytes: the JSON of each `data:` line (what is not JSON, chat's `[DONE]` included, is no event). */
export function sseOver(meter: StreamMeter): SseMeter {
  const parser = sseParser();
  const feed = (events: ServerSentEvent[]) => {
    for (const { data } of events) {
      if (data === '') continue;
      let parsed: unknown;
      try {
        parsed = JSON.parse(data);
      } catch {
        continue;
      }
      meter.push(parsed);
    }
  };
  return {
    write: (chunk) => feed(parser.push(chunk)),
    push: (chunk) => meter.push(chunk),
    get complete() {
      return meter.complete;
    },
    usage: () => {
      feed(parser.end());
      return meter.usage();
    },
    toolCalls: () => meter.toolCalls(),
  };
}

/** How a metered body ended, for `onUsage`. */
export interface StreamEnd {
  /**
   * Whether the provider's final usage arrived (`false`: cut off, or the usage never came or was
   * not usable; record the usage with `{ partial: true }`).
   */
  complete: boolean;
  /** `'done'` (read to the end), `'cancelled'` (the reader went away), `'error'` (the source failed). */
  how: 'done' | 'cancelled' | 'error';
  /** The names of the tools the stream called (as far as it went), one per call. */
  toolCalls: readonly string[];
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
  const meter = sseMeter(format, options);
  const settle = settlement(meter, options, onUsage);
  const cancelled = () => void settle('cancelled');
  if (gone?.aborted) cancelled();
  else gone?.addEventListener('abort', cancelled, { once: true });
  return meteredChunks(body, meter, (how) => {
    gone?.removeEventListener('abort', cancelled);
    return settle(how);
  });
}

async function* meteredChunks(body: AsyncIterable<Uint8Array>, meter: SseMeter, settle: (how: StreamEnd['how']) => Promise<void>): AsyncGenerator<Uint8Array> {
  // Unless the loop ends or throws, the consumer stopped early: leaving the loop stopped `body`.
  let how: StreamEnd['how'] = 'cancelled';
  try {
    for await (const chunk of body) {
      meter.write(chunk);
      yield chunk;
    }
    how = 'done';
  } catch (error) {
    how = 'error';
    throw error;
  } finally {
    await settle(how);
  }
}

/**
 * Settles a metered body once, however it ends: `onUsage` with the meter's usage. A usage that
 * cannot be counted (a counter of your own that throws) is still settled, as partial: the caller
 * must get its one call to record and release. A failing callback must not fail the body the
 * client is reading: it is reported instead.
 */
function settlement(meter: StreamMeter, options: StreamMeterOptions | undefined, onUsage: (usage: Usage, end: StreamEnd) => unknown): (how: StreamEnd['how']) => Promise<void> {
  let settled: Promise<void> | undefined;
  const warn = (error: unknown) => console.warn(`${errorPrefix('llm')} settling a metered stream failed: ${(error as Error)?.message ?? String(error)}`);
  const measured = (): Promise<[Usage, boolean]> =>
    meter.usage().then(
      (usage) => [usage, meter.complete],
      (error: unknown) => {
        warn(error);
        return [{ ...(options?.model !== undefined && { model: options.model }), inputTokens: options?.inputTokens ?? 0 }, false];
      },
    );
  return (how) =>
    (settled ??= measured()
      .then(([usage, complete]) => onUsage(usage, { complete, how, toolCalls: meter.toolCalls() }))
      .then(() => undefined, warn));
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
 * stream, and pipes the bytes through this so the client sees the stream it asked for. Anything
 * else (`[DONE]`, data that is not JSON) passes unchanged; events are re-emitted as `event:` and
 * `data:` lines (comments and `id:`/`retry:` fields, which OpenAI-compatible APIs do not send, are
 * dropped).
 *
 * @example
 * return new Response(upstream.body!.pipeThrough(hideInjectedUsage()), { headers: upstream.headers });
 */
export function hideInjectedUsage(): TransformStream<Uint8Array, Uint8Array> {
  const hider = usageHider();
  return new TransformStream({
    transform: (chunk, controller) => hider.push(chunk).forEach((bytes) => controller.enqueue(bytes)),
    flush: (controller) => hider.end().forEach((bytes) => controller.enqueue(bytes)),
  });
}

/** `hideInjectedUsage` for Node streams and other async iterables of bytes: yields `body`'s events without the injected usage. */
export async function* hideInjectedUsageFrom(body: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  const hider = usageHider();
  for await (const chunk of body) yield* hider.push(chunk);
  yield* hider.end();
}

/** The events of a chat stream's bytes, as bytes again, without what `include_usage` added. */
function usageHider(): { push(chunk: Uint8Array): Uint8Array[]; end(): Uint8Array[] } {
  const parser = sseParser();
  const encoder = new TextEncoder();
  const kept = (events: ServerSentEvent[]) => {
    const out: Uint8Array[] = [];
    for (const { event, data } of events) {
      const without = withoutUsage(data);
      if (without === undefined) continue;
      const lines = without.split('\n').map((line) => `data: ${line}\n`).join('');
      out.push(encoder.encode(`${event === undefined ? '' : `event: ${event}\n`}${lines}\n`));
    }
    return out;
  };
  return { push: (chunk) => kept(parser.push(chunk)), end: () => kept(parser.end()) };
}

/** A chunk's data without what `include_usage` added: `undefined` for the usage-only chunk. */
function withoutUsage(data: string): string | undefined {
  if (!data.startsWith('{')) return data;
  let chunk: { choices?: unknown; usage?: unknown };
  try {
    chunk = JSON.parse(data) as typeof chunk;
  } catch {
    return data;
  }
  if (chunk.usage === null) {
    delete chunk.usage;
    return JSON.stringify(chunk);
  }
  return isUsageOnlyChunk(chunk) ? undefined : data;
}
