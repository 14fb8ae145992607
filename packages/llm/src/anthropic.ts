import { configurationError } from './errors.js';
import { anthropicMessages } from './formats/anthropic-messages.js';
import { Metering, meteredCreate, type MeterOptions } from './meter.js';
import { overlay, unmetered } from './openai.js';

/** The part of an `@anthropic-ai/sdk` client this package wraps. */
export interface AnthropicLike {
  messages: { create(body: any, options?: any): any };
}

/**
 * Wraps an `@anthropic-ai/sdk` client so that every `messages.create` call, streamed or not, is
 * estimated, admitted (per call, or on one shared lease), degraded per the decision, sent with the
 * output it reserved as its `max_tokens`, and recorded with its exact usage, cache writes
 * included, or as partial when the usage is not known (a stream cut off while thinking). A refused
 * call throws `LlmRefusedError` and is not made. `messages.create` returns a plain promise (no
 * `.withResponse()`); `messages.stream()` refuses, since it would bypass the meter. The SDK's own
 * retries happen under one admission: give the client `maxRetries: 0`, or meter it with
 * `meteredFetch`.
 *
 * @example
 * const anthropic = wrapAnthropic(new Anthropic(), { limiter, identity: { user: 'u1' } });
 * const message = await anthropic.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 1024, messages });
 */
export function wrapAnthropic<C extends AnthropicLike>(client: C, options: MeterOptions): C {
  const where = 'wrapAnthropic';
  if (typeof client?.messages?.create !== 'function') throw configurationError(`${where}: client must be an Anthropic client (new Anthropic())`);
  const metering = new Metering(options, where);
  const { messages } = client;
  const create = meteredCreate(metering, anthropicMessages, messages.create.bind(messages));
  return overlay(client, {
    messages: overlay(messages, { create, stream: unmetered(where, 'messages.stream', 'messages.create({ stream: true })') }),
  });
}
