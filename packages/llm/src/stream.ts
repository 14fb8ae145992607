import type { Usage } from '@tollgate/core';
import { countReceived, type EstimateOptions } from './estimate.js';
import { configurationError, describe } from './errors.js';
import type { LlmPriceSource } from './prices.js';
import { anthropicTokens, openaiChatTokens, openaiResponseTokens, toUsage, type CallTokens } from './usage.js';
import { isObject, type Json } from './json.js';

/** The wire formats whose streams this package reads. */
export type StreamFormat = 'openai-chat' | 'openai-responses' | 'anthropic';

const FORMATS: readonly StreamFormat[] = ['openai-chat', 'openai-responses', 'anthropic'];

/** Options of the stream meters. */
export interface StreamMeterOptions {
  /**
   * The model asked for: picks the tokenizer until the stream names its model, and prices the usage
   * when the stream names none or one the price source does not know (a router's or a proxy's name).
   * @default undefined (the model the stream reports)
   * @example 'gpt-4o'
   */
  model?: string;
  /**
   * The request's input tokens as estimated before the call (`estimateChatCompletion(...)
   * .inputTokens`). A stream cut off before the provider reported usage settles with these (the
   * provider billed the prompt) plus the output counted from the deltas received. Anthropic reports
   * its input at the start of the stream, and that count wins.
   * @default 0
   * @example { inputTokens: demand.inputTokens }
   */
  inputTokens?: number;
  /**
   * With a price source, the usage carries its exact `cost` (see `UsageOptions.prices`).
   * @default undefined
   * @example { prices: genaiPrices() }
   */
  prices?: LlmPriceSource;
  /**
   * A counter for output text of models without a local tokenizer (see `EstimateOptions.countTokens`).
   * @default undefined (the conservative ratio)
   * @example { countTokens: (text) => myClaudeCounter(text) }
   */
  countTokens?: EstimateOptions['countTokens'];
}

/**
 * Reads one streamed call's usage from its chunks (OpenAI) or events (Anthropic, Responses) as the
 * SDKs yield them, or as parsed from the SSE `data:` lines.
 */
export interface StreamMeter {
  /**
   * Feeds one parsed chunk or event. Anything unrecognised is ignored, and so is a usage that lacks
   * a count or has a malformed one: the caller's stream goes on, and the usage stays unknown.
   */
  push(chunk: unknown): void;
  /**
   * Whether the provider's final usage has arrived: then `usage()` is exactly what was billed.
   * Until then, record `usage()` as partial (`lease.record(usage, { partial: !meter.complete })`).
   */
  readonly complete: boolean;
  /**
   * The call's usage: the provider's own count once `complete`; before that (a stream cut off by
   * the client or the network, or one whose usage never came), a lower bound: the billed or
   * estimated input plus the output counted from the text and tool-call deltas received so far
   * (hidden reasoning tokens cannot be seen, so they are not counted).
   */
  usage(): Promise<Usage>;
}

function validate(options: StreamMeterOptions | undefined): Required<Pick<StreamMeterOptions, 'inputTokens'>> & StreamMeterOptions {
  const resolved = { inputTokens: 0, ...options };
  const { inputTokens } = resolved;
  if (typeof inputTokens !== 'number' || !Number.isSafeInteger(inputTokens) || inputTokens < 0) {
    throw configurationError(`a stream meter's inputTokens must be a whole, non-negative number, got ${describe(inputTokens)}`);
  }
  return resolved;
}

/** What every format's meter keeps: the model, the provider's usage when seen, and the text so far. */
abstract class Meter implements StreamMeter {
  protected model: string | undefined;
  protected reported: CallTokens | undefined;
  complete = false;
  /** Output text and tool-call arguments received, in pieces (joined once, when counted). */
  protected readonly text: string[] = [];
  constructor(protected readonly options: ReturnType<typeof validate>) {
    this.model = options.model;
  }

  abstract push(chunk: unknown): void;

  protected addText(value: unknown): void {
    if (typeof value === 'string' && value !== '') this.text.push(value);
  }

  /**
   * Takes a usage the stream reported, `final` when no later one will come (after it, nothing
   * replaces it). One that lacks a count or has a malformed one is left out rather than thrown: it
   * must not break the caller's stream, and the call's usage stays unknown, so it is settled as
   * partial.
   */
  protected report(usage: Json, read: (usage: Json, model: string | undefined) => CallTokens | undefined, final: boolean): void {
    if (this.complete) return;
    let tokens: CallTokens | undefined;
    try {
      tokens = read(usage, this.model);
    } catch {
      return;
    }
    if (!tokens) return;
    this.reported = tokens;
    if (final) this.complete = true;
  }

  protected async generatedTokens(): Promise<number> {
    if (this.text.length === 0) return 0;
    const text = this.text.join('');
    return countReceived(text, this.model, { countTokens: this.options.countTokens });
  }

  async usage(): Promise<Usage> {
    const { prices, model: requested } = this.options;
    if (this.complete && this.reported) return toUsage({ ...this.reported, model: this.reported.model ?? this.model }, prices, requested);
    const generated = await this.generatedTokens();
    const partial: CallTokens = this.reported
      ? { ...this.reported, model: this.reported.model ?? this.model, outputTokens: Math.max(this.reported.outputTokens, generated) }
      : { model: this.model, inputTokens: this.options.inputTokens, outputTokens: generated };
    return toUsage(partial, prices, requested);
  }
}

class OpenAIChatMeter extends Meter {
  push(chunk: unknown): void {
    if (!isObject(chunk)) return;
    if (typeof chunk.model === 'string' && chunk.model !== '') this.model = chunk.model;
    if (Array.isArray(chunk.choices)) {
      for (const choice of chunk.choices) {
        const delta = isObject(choice) && isObject(choice.delta) ? choice.delta : undefined;
        if (!delta) continue;
        this.addText(delta.content);
        this.addText(delta.refusal);
        // DeepSeek and other OpenAI-compatible reasoners stream their reasoning in the open.
        this.addText(delta.reasoning_content);
        if (Array.isArray(delta.tool_calls)) {
          for (const call of delta.tool_calls) {
            const fn = isObject(call) && isObject(call.function) ? call.function : undefined;
            this.addText(fn?.name);
            this.addText(fn?.arguments);
          }
        }
      }
    }
    // With `stream_options.include_usage` the last chunk carries the usage. Some servers send a
    // running count on every chunk: the latest one wins, and it is final only on a chunk that ends
    // every choice it carries (or carries none), since a count taken mid-generation misses the rest.
    if (isObject(chunk.usage)) this.report(chunk.usage, openaiChatTokens, endsGeneration(chunk.choices));
  }
}

function endsGeneration(choices: unknown): boolean {
  return !Array.isArray(choices) || choices.every((choice) => isObject(choice) && typeof choice.finish_reason === 'string');
}

class OpenAIResponsesMeter extends Meter {
  push(event: unknown): void {
    if (!isObject(event) || typeof event.type !== 'string') return;
    const response = isObject(event.response) ? event.response : undefined;
    if (response && typeof response.model === 'string' && response.model !== '') this.model = response.model;
    if (event.type.endsWith('.delta')) this.addText(event.delta);
    // Only the terminal events (`response.completed`, `.incomplete`, `.failed`) carry a usage.
    if (response && isObject(response.usage)) this.report(response.usage, openaiResponseTokens, true);
  }
}

class AnthropicMeter extends Meter {
  private start: Json | undefined;
  push(event: unknown): void {
    if (!isObject(event)) return;
    switch (event.type) {
      case 'message_start': {
        const message = isObject(event.message) ? event.message : {};
        if (typeof message.model === 'string' && message.model !== '') this.model = message.model;
        if (isObject(message.usage)) {
          this.start = message.usage;
          // The input billed so far; the output comes with message_delta.
          this.report(message.usage, anthropicTokens, false);
        }
        return;
      }
      case 'content_block_start': {
        const block = isObject(event.content_block) ? event.content_block : {};
        this.addText(block.text);
        this.addText(block.name);
        return;
      }
      case 'content_block_delta': {
        const delta = isObject(event.delta) ? event.delta : {};
        this.addText(delta.text);
        this.addText(delta.partial_json);
        this.addText(delta.thinking);
        return;
      }
      case 'message_delta': {
        // Cumulative counts; newer API versions repeat the input counts here (null when unknown).
        if (!isObject(event.usage)) return;
        const merged: Json = { ...this.start };
        for (const [key, value] of Object.entries(event.usage)) if (value !== null && value !== undefined) merged[key] = value;
        this.report(merged, anthropicTokens, true);
      }
    }
  }
}

/**
 * A meter for one streamed call in `format`, fed the chunks or events the SDK yields.
 *
 * @example
 * const meter = streamMeter('openai-chat', { model: 'gpt-4o', inputTokens: demand.inputTokens, prices });
 * for await (const chunk of stream) meter.push(chunk);
 * await lease.record(await meter.usage(), { partial: !meter.complete });
 */
export function streamMeter(format: StreamFormat, options?: StreamMeterOptions): StreamMeter {
  const resolved = validate(options);
  switch (format) {
    case 'openai-chat':
      return new OpenAIChatMeter(resolved);
    case 'openai-responses':
      return new OpenAIResponsesMeter(resolved);
    case 'anthropic':
      return new AnthropicMeter(resolved);
    default:
      throw configurationError(`stream format must be one of ${FORMATS.map((f) => `'${f}'`).join(', ')}, got ${describe(format)}`);
  }
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
  const meter = streamMeter(format, options);
  const parser = sseParser();
  const feed = (events: ServerSentEvent[]) => {
    for (const { data } of events) {
      if (data === '' || data === '[DONE]') continue;
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
  const reader = body.getReader();
  let settled: Promise<void> | undefined;
  const warn = (error: unknown) => console.warn(`[tollgate] [llm] settling a metered stream failed: ${(error as Error)?.message ?? String(error)}`);
  // A usage that cannot be counted (a counter of your own that throws) is still settled, as
  // partial: the caller must get its one call to record and release.
  const measured = (): Promise<[Usage, boolean]> =>
    meter.usage().then(
      (usage) => [usage, meter.complete],
      (error: unknown) => {
        warn(error);
        return [{ ...(options?.model !== undefined && { model: options.model }), inputTokens: options?.inputTokens ?? 0 }, false];
      },
    );
  // A failing callback must not fail the body the client is reading: it is reported instead.
  const settle = (how: StreamEnd['how']) =>
    (settled ??= measured()
      .then(([usage, complete]) => onUsage(usage, { complete, how }))
      .then(() => undefined, warn));
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
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
      meter.write(chunk.value);
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
  const parser = sseParser();
  const encoder = new TextEncoder();
  const forward = (events: ServerSentEvent[], controller: TransformStreamDefaultController<Uint8Array>) => {
    for (const { event, data } of events) {
      const kept = withoutUsage(data);
      if (kept === undefined) continue;
      const lines = kept.split('\n').map((line) => `data: ${line}\n`).join('');
      controller.enqueue(encoder.encode(`${event === undefined ? '' : `event: ${event}\n`}${lines}\n`));
    }
  };
  return new TransformStream({
    transform: (chunk, controller) => forward(parser.push(chunk), controller),
    flush: (controller) => forward(parser.end(), controller),
  });
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

/** The usage-only last chunk `include_usage` adds to a chat stream (no choices, and the usage). */
export function isUsageOnlyChunk(chunk: unknown): boolean {
  const c = chunk as { choices?: unknown; usage?: unknown } | null;
  return Array.isArray(c?.choices) && c.choices.length === 0 && typeof c.usage === 'object' && c.usage !== null;
}
