import type { Usage } from '@tollgate/core';
import { describeValue, invalidInput } from '../errors.js';
import { estimateRequest, type EstimateOptions, type LlmDemand } from '../estimate.js';
import { isObject, joinStrings, names, requireObject, type Json } from '../json.js';
import { outputPerChoice } from '../output.js';
import { addContent, addDefinitions, cacheWriteOf, type Prompt } from '../prompt.js';
import { Meter } from '../stream-meter.js';
import { reports, tokenCount, usageOf, type CallTokens, type UsageOptions } from '../usage.js';
import { wireFormat } from './format.js';

const OUTPUT_FIELDS = ['max_tokens'] as const;
// Anthropic does not publish its message framing; 5 tokens a message covers its role markers.
const ANTHROPIC_PER_MESSAGE = 5;
// Anthropic adds a tool-use system prompt when tools are given: 530 tokens at most across the
// models it documents (Claude 3 Opus, auto tool choice; Claude 4 models take 346).
const ANTHROPIC_TOOLS_OVERHEAD = 530;

/**
 * Estimates an Anthropic Messages request (`{ model, system, messages, tools, max_tokens }`) with
 * the conservative ratio (Anthropic's tokenizer is not public), or `options.countTokens`. With a
 * price source, a request that marks anything with `cache_control` reserves its input at the
 * cache-write rate (the 1-hour rate when a mark says `ttl: '1h'`), since Anthropic may bill it so.
 *
 * @example await estimateAnthropicMessage({ model: 'claude-sonnet-4-5', max_tokens: 1024, messages: [{ role: 'user', content: 'Hi' }] })
 */
export function estimateAnthropicMessage(body: unknown, options?: EstimateOptions): Promise<LlmDemand> {
  return estimateRequest(body, 'the messages request', options, (request, model, { defaultMaxTokens, imageTokens }) => {
    const { messages, system, tools } = request;
    if (!Array.isArray(messages)) throw invalidInput(`the messages request's messages must be an array, got ${describeValue(messages)}`);
    const prompt: Prompt = { texts: [], fixed: ANTHROPIC_PER_MESSAGE };
    addContent(prompt, system, imageTokens);
    messages.forEach((raw, index) => {
      const message = requireObject(raw, `messages[${index}]`);
      prompt.fixed += ANTHROPIC_PER_MESSAGE;
      addContent(prompt, message.content, imageTokens);
    });
    addDefinitions(prompt, tools, 'tools', ANTHROPIC_TOOLS_OVERHEAD);
    return { prompt, outputTokens: outputPerChoice(request, OUTPUT_FIELDS, model, defaultMaxTokens), cacheWrite: cacheWriteOf(request) };
  });
}

/**
 * The tokens of an Anthropic `usage` object, or `undefined` when it lacks the input or the output
 * count. Anthropic reports `input_tokens` without the cache reads and writes; they are added back,
 * so `inputTokens` is every input token.
 */
function messageTokens(usage: Json, model: string | undefined): CallTokens | undefined {
  const uncached = tokenCount(usage.input_tokens, 'usage.input_tokens');
  const read = tokenCount(usage.cache_read_input_tokens, 'usage.cache_read_input_tokens');
  const written = tokenCount(usage.cache_creation_input_tokens, 'usage.cache_creation_input_tokens');
  const creation = isObject(usage.cache_creation) ? usage.cache_creation : {};
  const written1h = tokenCount(creation.ephemeral_1h_input_tokens, 'usage.cache_creation.ephemeral_1h_input_tokens');
  const tokens: CallTokens = {
    model,
    inputTokens: uncached + read + written,
    outputTokens: tokenCount(usage.output_tokens, 'usage.output_tokens'),
    cachedInputTokens: read,
    cacheWriteTokens: written,
    cacheWrite1hTokens: Math.min(written1h, written),
  };
  return reports(usage, 'input_tokens') && reports(usage, 'output_tokens') ? tokens : undefined;
}

/**
 * The usage of an Anthropic message (`input_tokens` plus `cache_read_input_tokens` and
 * `cache_creation_input_tokens`, `output_tokens`), or `undefined` when it carries none or lacks a
 * count. Throws `InvalidInputError` for a count that is not a whole, non-negative number.
 *
 * @example await lease.record(anthropicUsage(message, { prices, model: body.model })!)
 */
export function anthropicUsage(message: unknown, options?: UsageOptions): Usage | undefined {
  return usageOf(message, 'a message', messageTokens, options);
}

/** A content block that calls a tool: the caller's (`tool_use`) or one Anthropic runs (`server_tool_use`, web search). */
function isToolUse(block: unknown): block is Json {
  return isObject(block) && (block.type === 'tool_use' || block.type === 'server_tool_use');
}

class AnthropicMeter extends Meter {
  private start: Json | undefined;

  /** A content block's delta (text, a tool's input, thinking), as Anthropic writes it: its type first. */
  protected override textOnly(data: string): boolean {
    return data.startsWith('{"type":"content_block_delta"');
  }

  push(event: unknown): void {
    if (!isObject(event)) return;
    switch (event.type) {
      case 'message_start': {
        const message = isObject(event.message) ? event.message : {};
        if (typeof message.model === 'string' && message.model !== '') this.model = message.model;
        if (isObject(message.usage)) {
          this.start = message.usage;
          // The input billed so far; the output comes with message_delta.
          this.report(message.usage, messageTokens, false);
        }
        return;
      }
      case 'content_block_start': {
        const block = isObject(event.content_block) ? event.content_block : {};
        this.addText(block.text);
        this.addText(block.name);
        if (isToolUse(block)) this.addToolCall(block.name);
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
        this.report(merged, messageTokens, true);
      }
    }
  }
}

/** Anthropic Messages: `POST /v1/messages`. */
export const anthropicMessages = wireFormat({
  name: 'anthropic',
  sdkCall: 'messages.create',
  path: '/messages',
  estimate: estimateAnthropicMessage,
  usage: anthropicUsage,
  output: {
    fields: OUTPUT_FIELDS,
    text: (message) =>
      joinStrings(
        (isObject(message) && Array.isArray(message.content) ? message.content : []).map((block) =>
          isObject(block) ? (block.type === 'text' ? block.text : JSON.stringify(block)) : undefined,
        ),
      ),
    toolCalls: (message) => names((isObject(message) && Array.isArray(message.content) ? message.content : []).map((block) => (isToolUse(block) ? block.name : undefined))),
  },
  stream: { meter: (options): Meter => new AnthropicMeter(options) },
});
