import type { Usage } from '@tollgate/core';
import type { EstimateOptions, LlmDemand } from '../estimate.js';
import type { Json } from '../json.js';
import type { Meter, ResolvedStreamOptions } from '../stream-meter.js';
import type { UsageOptions } from '../usage.js';

/**
 * Everything particular to one provider API (one wire format): how a request is estimated, where
 * a response carries its usage, how its stream is read and how its output is capped. What every
 * format shares stays out of here: the SSE parser and the stream transforms (`stream.ts`), token
 * counting, prices, the prompt-walking helpers, and the wrappers, which take a format.
 *
 * Stream events are told apart by their JSON (`type`, or a chunk's shape), never by the SSE
 * `event:` line, so one parser serves every format; a `data:` line that is not JSON (chat's
 * `[DONE]`) is no event.
 */
export interface WireFormat {
  /** The name the public functions take (`streamMeter('openai-chat')`, `withOutputCap(body, 'anthropic', …)`). */
  readonly name: string;
  /** What the SDKs call it, for messages (`'chat.completions.create'`). */
  readonly sdkCall: string;
  /**
   * The end of the path a request to it is POSTed to (`meteredFetch` meters these). Absent for a
   * format that is no HTTP API (the AI SDK's language-model calls).
   */
  readonly path?: string;
  /**
   * The model is an object the caller made (an AI SDK model), not a name in the body: a degradation
   * step lowers the output cap, and its model is the caller's to apply.
   */
  readonly fixedModel?: boolean;
  /** The demand of a request body, before the call. */
  estimate(body: unknown, options?: EstimateOptions): Promise<LlmDemand>;
  /** The usage a response reports, or `undefined` when it carries none that is usable. */
  usage(response: unknown, options?: UsageOptions): Usage | undefined;
  /** Absent for an API that generates no output (embeddings): nothing to cap, nor to degrade. */
  readonly output?: OutputFields;
  /** Absent for an API that does not stream. */
  readonly stream?: StreamReading;
}

/** How a format's output is capped and counted. */
export interface OutputFields {
  /**
   * The request fields that cap the output, in order of precedence; the first is the one set on a
   * request that sets none. Every one must count reasoning and thinking tokens too, so a capped
   * call cannot produce more than its cap.
   */
  readonly fields: readonly string[];
  /** The text a response generated, counted when it carries no usable usage. */
  text(response: unknown): string;
  /** The names of the tools a response calls, in order (one per call). */
  toolCalls(response: unknown): string[];
}

/** How a format's stream is metered. */
export interface StreamReading {
  /** A meter for one streamed call, fed the chunks or events the SDK yields (or parsed from SSE). */
  meter(options: ResolvedStreamOptions): Meter;
  /**
   * For a stream that reports its usage only when asked (chat's `stream_options.include_usage`):
   * `ask` returns the request asking for it (`undefined` when it already does), `isAnswer` tells
   * the events the asking added, which a caller who did not ask must not see, and `hide` gives an
   * event's `data:` as that caller would have had it (`undefined`: none of it), from its text and
   * its JSON (`undefined` when it is no JSON, or the meter left it unparsed: see `Meter.textOnly`).
   */
  readonly usageOnRequest?: {
    ask(body: Json): Json | undefined;
    isAnswer(event: unknown): boolean;
    hide(data: string, json: unknown): string | undefined;
  };
}

/**
 * Declares a wire format, keeping its literal name and which parts it has, so that the registry
 * derives the names `streamMeter` and `withOutputCap` accept from the formats themselves.
 */
export function wireFormat<const F extends WireFormat>(format: F): F {
  return format;
}
