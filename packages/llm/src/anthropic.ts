import { configurationError } from './errors.js';
import { MESSAGES, Metering, meterIterable, type MeterOptions } from './meter.js';
import { overlay, unmetered } from './openai.js';

/** The part of an `@anthropic-ai/sdk` client this package wraps. */
export interface AnthropicLike {
  messages: { create(body: any, options?: any): any };
}

/**
 * Wraps an `@anthropic-ai/sdk` client so that every `messages.create` call, streamed or not, is
 * estimated, admitted (per call, or on one shared lease), degraded per the decision (`model`, and
 * `max_tokens` capped), and recorded with its exact usage, cache writes included. A refused call
 * throws `LlmRefusedError` and is not made. `messages.create` returns a plain promise (no
 * `.withResponse()`); `messages.stream()` refuses, since it would bypass the meter.
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
  const original = messages.create.bind(messages);
  const create = async (body: unknown, requestOptions?: unknown) => {
    const admitted = await metering.admit(MESSAGES, body);
    let result: unknown;
    try {
      result = await original(admitted.body, requestOptions);
    } catch (error) {
      await admitted.abort();
      throw error;
    }
    if (admitted.body.stream === true) return meterIterable(result as object, admitted);
    await admitted.settleResponse(result);
    return result;
  };
  return overlay(client, {
    messages: overlay(messages, { create, stream: unmetered(where, 'messages.stream', 'messages.create({ stream: true })') }),
  });
}
