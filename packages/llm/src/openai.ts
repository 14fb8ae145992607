import { configurationError } from './errors.js';
import { openaiChat } from './formats/openai-chat.js';
import { openaiResponses } from './formats/openai-responses.js';
import { Metering, meteredCreate, type MeterOptions } from './meter.js';

/** The part of an `openai` client this package wraps (any v4–v6 client has it). */
export interface OpenAILike {
  chat: { completions: { create(body: any, options?: any): any } };
  responses?: { create(body: any, options?: any): any };
}

/** Options of `wrapOpenAI`. */
export interface WrapOpenAIOptions extends MeterOptions {
  /**
   * The field the output cap is written to when a chat request sets no output limit (`max_tokens`
   * for servers that predate `max_completion_tokens`). A limit the request sets is capped where it
   * is.
   * @default 'max_completion_tokens'
   * @example { maxTokensParam: 'max_tokens' } // a vLLM or older compatible server
   */
  maxTokensParam?: 'max_completion_tokens' | 'max_tokens';
}

/**
 * A view of `target` in which some properties are replaced. Other methods are bound to the target,
 * so the SDK's private state works as before.
 */
export function overlay<T extends object>(target: T, overrides: Record<PropertyKey, unknown>): T {
  const bound = new Map<PropertyKey, { of: unknown; fn: unknown }>();
  return new Proxy(target, {
    get(object, property) {
      if (Object.hasOwn(overrides, property)) return overrides[property];
      const value: unknown = Reflect.get(object, property, object);
      if (typeof value !== 'function') return value;
      let entry = bound.get(property);
      if (entry?.of !== value) bound.set(property, (entry = { of: value, fn: (value as (...args: unknown[]) => unknown).bind(object) }));
      return entry.fn;
    },
  });
}

/** Helpers that call `create` on the unwrapped client would bypass the meter: they refuse instead. */
export function unmetered(where: string, name: string, instead: string): () => never {
  return () => {
    throw configurationError(`${where}: ${name}() is not metered; use ${instead}`);
  };
}

/**
 * Wraps an `openai` client so that every `chat.completions.create` and `responses.create` call,
 * streamed or not, is estimated, admitted (per call, or on one shared lease), degraded per the
 * decision, sent with the output it reserved as its cap (`max_completion_tokens`,
 * `max_output_tokens`), and recorded with its exact usage, or as partial when the usage is not
 * known. A refused call throws `LlmRefusedError` and is not made. The wrapped methods return plain
 * promises (no `.withResponse()`); `stream()`, `parse()` and `runTools()` helpers refuse, since
 * they would bypass the meter. Other methods are untouched. The SDK's own retries happen under one
 * admission: give the client `maxRetries: 0`, or meter it with `meteredFetch`, which admits every
 * attempt.
 *
 * @example
 * const decision = await limiter.acquire({ user: 'u1' });
 * if (!decision.allowed) throw new Error('limited');
 * const openai = wrapOpenAI(new OpenAI(), { lease: decision.lease, degrade: decision.degrade });
 * try { for (const task of tasks) await openai.chat.completions.create({ model: 'gpt-4o', messages: task }) }
 * finally { await decision.lease.release() }
 */
export function wrapOpenAI<C extends OpenAILike>(client: C, options: WrapOpenAIOptions): C {
  const where = 'wrapOpenAI';
  if (typeof client?.chat?.completions?.create !== 'function') throw configurationError(`${where}: client must be an OpenAI client (new OpenAI())`);
  const metering = new Metering(options, where);
  const { maxTokensParam } = options;
  if (maxTokensParam !== undefined && maxTokensParam !== 'max_completion_tokens' && maxTokensParam !== 'max_tokens') {
    throw configurationError(`${where}: maxTokensParam must be 'max_completion_tokens' or 'max_tokens'`);
  }
  const { completions } = client.chat;
  const chat = overlay(client.chat, {
    completions: overlay(completions, {
      create: meteredCreate(metering, openaiChat, completions.create.bind(completions), maxTokensParam),
      stream: unmetered(where, 'chat.completions.stream', 'chat.completions.create({ stream: true })'),
      parse: unmetered(where, 'chat.completions.parse', 'chat.completions.create and parse the JSON yourself'),
      runTools: unmetered(where, 'chat.completions.runTools', 'chat.completions.create in your own tool loop'),
    }),
  });
  const overrides: Record<string, unknown> = { chat };
  const { responses } = client;
  if (typeof responses?.create === 'function') {
    overrides.responses = overlay(responses, {
      create: meteredCreate(metering, openaiResponses, responses.create.bind(responses)),
      stream: unmetered(where, 'responses.stream', 'responses.create({ stream: true })'),
      parse: unmetered(where, 'responses.parse', 'responses.create'),
    });
  }
  return overlay(client, overrides);
}
