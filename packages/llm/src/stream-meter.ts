import type { Usage } from '@tollgate/core';
import { countReceived, type EstimateOptions } from './estimate.js';
import { configurationError, describeValue } from './errors.js';
import { eventJson } from './sse.js';
import type { Json } from './json.js';
import type { LlmPriceSource } from './prices.js';
import { toUsage, type CallTokens, type TokenReader } from './usage.js';

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
  /** The names of the tools the stream has called so far, in order (one per call, as each call opens). */
  toolCalls(): readonly string[];
}

/** `StreamMeterOptions` with their defaults, validated. */
export type ResolvedStreamOptions = Required<Pick<StreamMeterOptions, 'inputTokens'>> & StreamMeterOptions;

export function resolveStreamOptions(options: StreamMeterOptions | undefined): ResolvedStreamOptions {
  const resolved = { inputTokens: 0, ...options };
  const { inputTokens } = resolved;
  if (typeof inputTokens !== 'number' || !Number.isSafeInteger(inputTokens) || inputTokens < 0) {
    throw configurationError(`a stream meter's inputTokens must be a whole, non-negative number, got ${describeValue(inputTokens)}`);
  }
  return resolved;
}

/** An event's data kept as it came: it carries output text alone, read only if counted. */
interface Unread {
  readonly data: string;
}

/** The characters of unread events a meter keeps before it reads them: what a stream holds, bounded. */
const UNREAD_KEPT = 32 * 1024;

/**
 * What every format's meter keeps: the model, the provider's usage when seen, and the text so far.
 * A format's meter reads its chunks or events in `push`, and tells by `textOnly` the SSE events it
 * may leave unparsed.
 */
export abstract class Meter implements StreamMeter {
  protected model: string | undefined;
  protected reported: CallTokens | undefined;
  complete = false;
  /**
   * Output text and tool-call arguments received, in pieces (joined once, when counted), and the
   * events carrying text alone that are not read yet, in order.
   */
  private text: Array<string | Unread> = [];
  /** The characters of the unread events in `text`. */
  private unread = 0;
  /** The tools called, one name per call. */
  private readonly calls: string[] = [];
  constructor(protected readonly options: ResolvedStreamOptions) {
    this.model = options.model;
  }

  abstract push(chunk: unknown): void;

  /**
   * Whether an SSE event's data (its JSON text) can carry nothing this meter must read at once:
   * output text alone, and nothing else that `push` reads from it. Such events are kept unparsed,
   * and read only if their text is counted (a stream cut before its usage); most streams end with
   * their usage, and are never parsed but for the events that matter. The test is on the text and
   * must never say yes for an event that carries more (a usage, a tool call's opening, the model).
   */
  protected textOnly(_data: string): boolean {
    return false;
  }

  /**
   * Feeds one SSE event's data: parsed and pushed, or kept for later when it carries text alone.
   * Returns the JSON it parsed (`undefined` when the data is no JSON, or was kept unparsed).
   */
  pushData(data: string): unknown {
    if (this.textOnly(data)) {
      if (this.complete) return undefined;
      this.text.push({ data });
      this.unread += data.length;
      if (this.unread > UNREAD_KEPT) this.readText();
      return undefined;
    }
    const json = eventJson(data);
    if (json !== undefined) this.push(json);
    return json;
  }

  /** Reads the events kept unread, their text taking their place. */
  private readText(): void {
    const pieces = this.text;
    this.text = [];
    this.unread = 0;
    for (const piece of pieces) {
      if (typeof piece === 'string') this.text.push(piece);
      else this.push(eventJson(piece.data));
    }
  }

  protected addText(value: unknown): void {
    // Once the usage is final, what was generated is known: the text is no longer counted.
    if (typeof value === 'string' && value !== '' && !this.complete) this.text.push(value);
  }

  protected addToolCall(name: unknown): void {
    if (typeof name === 'string' && name !== '') this.calls.push(name);
  }

  toolCalls(): readonly string[] {
    return this.calls;
  }

  /**
   * Takes a usage the stream reported, `final` when no later one will come (after it, nothing
   * replaces it). One that lacks a count or has a malformed one is left out rather than thrown: it
   * must not break the caller's stream, and the call's usage stays unknown, so it is settled as
   * partial.
   */
  protected report(usage: Json, read: TokenReader, final: boolean): void {
    if (this.complete) return;
    let tokens: CallTokens | undefined;
    try {
      tokens = read(usage, this.model);
    } catch {
      return;
    }
    if (!tokens) return;
    this.reported = tokens;
    if (!final) return;
    this.complete = true;
    this.text = [];
    this.unread = 0;
  }

  protected async generatedTokens(): Promise<number> {
    if (this.unread > 0) this.readText();
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

