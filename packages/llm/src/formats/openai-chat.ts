import type { Usage } from '@tollgate/core';
import { describeValue, invalidInput } from '../errors.js';
import { estimateRequest, type EstimateOptions, type LlmDemand } from '../estimate.js';
import { isObject, joinStrings, names, positiveInteger, requireObject, type Json } from '../json.js';
import { outputPerChoice } from '../output.js';
import { addContent, addDefinitions, cacheWriteOf, type Prompt } from '../prompt.js';
import { Meter } from '../stream-meter.js';
import { consistent, reports, tokenCount, usageOf, type CallTokens, type UsageOptions } from '../usage.js';
import { wireFormat } from './format.js';
import { OPENAI_PER_MESSAGE, OPENAI_REPLY_PRIMING, OPENAI_TOOLS_OVERHEAD } from './openai-framing.js';

const OUTPUT_FIELDS = ['max_completion_tokens', 'max_tokens'] as const;
const OPENAI_PER_NAME = 1;

/**
 * Estimates an OpenAI Chat Completions request (the raw body: `{ model, messages, tools,
 * max_tokens, max_completion_tokens, n }`) before the call. Input tokens are counted with the
 * model's real tokenizer for OpenAI models (never fewer than the API counts for text), with a
 * conservative ratio otherwise; output is `max_completion_tokens ?? max_tokens`, else
 * `defaultMaxTokens` or the model's maximum output when lower, times `n`. Throws
 * `InvalidInputError` for a malformed body.
 *
 * @example
 * const demand = await estimateChatCompletion({ model: 'gpt-4o', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 256 });
 * const decision = await limiter.acquire(identity, demand);
 */
export function estimateChatCompletion(body: unknown, options?: EstimateOptions): Promise<LlmDemand> {
  return estimateRequest(body, 'the chat completion request', options, (request, model, { defaultMaxTokens, imageTokens }) => {
    const { messages, tools, functions, response_format: responseFormat } = request;
    if (!Array.isArray(messages)) throw invalidInput(`the chat completion request's messages must be an array, got ${describeValue(messages)}`);
    const prompt: Prompt = { texts: [], fixed: OPENAI_REPLY_PRIMING };
    messages.forEach((raw, index) => {
      const message = requireObject(raw, `messages[${index}]`);
      prompt.fixed += OPENAI_PER_MESSAGE;
      if (typeof message.role === 'string') prompt.texts.push(message.role);
      if (typeof message.name === 'string') {
        prompt.texts.push(message.name);
        prompt.fixed += OPENAI_PER_NAME;
      }
      addContent(prompt, message.content, imageTokens);
      if (typeof message.refusal === 'string') prompt.texts.push(message.refusal);
      if (Array.isArray(message.tool_calls)) prompt.texts.push(JSON.stringify(message.tool_calls));
      if (message.function_call !== undefined && message.function_call !== null) prompt.texts.push(JSON.stringify(message.function_call));
      if (typeof message.tool_call_id === 'string') prompt.texts.push(message.tool_call_id);
    });
    addDefinitions(prompt, tools, 'tools', OPENAI_TOOLS_OVERHEAD);
    addDefinitions(prompt, functions, 'functions', OPENAI_TOOLS_OVERHEAD);
    if (responseFormat !== undefined && responseFormat !== null) prompt.texts.push(JSON.stringify(responseFormat));
    const n = positiveInteger(request.n, "the chat completion request's n") ?? 1;
    return { prompt, outputTokens: outputPerChoice(request, OUTPUT_FIELDS, model, defaultMaxTokens) * n, cacheWrite: cacheWriteOf(messages) };
  });
}

/**
 * The tokens of an OpenAI Chat Completions `usage` object (also DeepSeek's and OpenRouter's cache
 * fields, and Responses-style `input_tokens` / `output_tokens` that some compatible servers send),
 * or `undefined` when it lacks the input or the output count: `{}` or a bare `total_tokens` says
 * nothing about what the call cost.
 */
function chatTokens(usage: Json, model: string | undefined): CallTokens | undefined {
  const responsesStyle = !reports(usage, 'prompt_tokens') && !reports(usage, 'completion_tokens');
  const [input, output, detailsField, outputDetailsField] = responsesStyle
    ? ['input_tokens', 'output_tokens', 'input_tokens_details', 'output_tokens_details']
    : ['prompt_tokens', 'completion_tokens', 'prompt_tokens_details', 'completion_tokens_details'];
  const details = isObject(usage[detailsField]) ? (usage[detailsField] as Json) : {};
  const outputDetails = isObject(usage[outputDetailsField]) ? (usage[outputDetailsField] as Json) : {};
  const cached = details.cached_tokens ?? usage.prompt_cache_hit_tokens;
  const tokens: CallTokens = {
    model,
    inputTokens: tokenCount(usage[input], `usage.${input}`),
    outputTokens: tokenCount(usage[output], `usage.${output}`),
    cachedInputTokens: tokenCount(cached, `usage.${detailsField}.cached_tokens`),
    cacheWriteTokens: tokenCount(details.cache_write_tokens, `usage.${detailsField}.cache_write_tokens`),
    reasoningTokens: tokenCount(outputDetails.reasoning_tokens, `usage.${outputDetailsField}.reasoning_tokens`),
  };
  return reports(usage, input) && reports(usage, output) ? consistent(tokens, 'usage') : undefined;
}

/**
 * The usage of an OpenAI Chat Completions response (`prompt_tokens`, `completion_tokens`,
 * `prompt_tokens_details.cached_tokens`; Responses-style `input_tokens` / `output_tokens` too), or
 * `undefined` when it carries none or lacks a count (`{}`, a bare `total_tokens`): then the call's
 * usage is unknown, and is recorded as partial (`lease.record(usage, { partial: true })`). Throws
 * `InvalidInputError` for a count that is not a whole, non-negative number.
 *
 * @example
 * const usage = openaiChatUsage(completion, { prices, model: body.model });
 * await lease.record(usage ?? { model: body.model, inputTokens: demand.inputTokens }, { partial: usage === undefined });
 */
export function openaiChatUsage(response: unknown, options?: UsageOptions): Usage | undefined {
  return usageOf(response, 'a chat completion', chatTokens, options);
}

class OpenAIChatMeter extends Meter {
  /** The tool calls already seen, by choice and call index: a call's later deltas carry its arguments only. */
  private readonly opened = new Set<string>();
  /** Whether a chunk has named the model (each chunk names the same one). */
  private named = false;

  /** After the first chunk, one with neither a tool call nor a usage (but `include_usage`'s null). */
  protected override textOnly(data: string): boolean {
    return this.named && !data.includes('"tool_calls"') && !carriesUsage(data);
  }

  push(chunk: unknown): void {
    if (!isObject(chunk)) return;
    if (typeof chunk.model === 'string' && chunk.model !== '') {
      this.model = chunk.model;
      this.named = true;
    }
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
            const key = `${String((choice as Json).index)}:${String(isObject(call) ? call.index : '')}`;
            if (typeof fn?.name === 'string' && !this.opened.has(key)) {
              this.opened.add(key);
              this.addToolCall(fn.name);
            }
          }
        }
      }
    }
    // With `stream_options.include_usage` the last chunk carries the usage. Some servers send a
    // running count on every chunk: the latest one wins, and it is final only on a chunk that ends
    // every choice it carries (or carries none), since a count taken mid-generation misses the rest.
    if (isObject(chunk.usage)) this.report(chunk.usage, chatTokens, endsGeneration(chunk.choices));
  }
}

function endsGeneration(choices: unknown): boolean {
  return !Array.isArray(choices) || choices.every((choice) => isObject(choice) && typeof choice.finish_reason === 'string');
}

/** The usage-only last chunk `include_usage` adds to a chat stream (no choices, and the usage). */
export function isUsageOnlyChunk(chunk: unknown): boolean {
  const c = chunk as { choices?: unknown; usage?: unknown } | null;
  return Array.isArray(c?.choices) && c.choices.length === 0 && typeof c.usage === 'object' && c.usage !== null;
}

/** How OpenAI ends every chunk of a stream that includes the usage, but the usage-only one. */
const NULL_USAGE_LAST = ',"usage":null}';

/**
 * Whether a chunk's text may carry a usage: a `"usage"` that is not just `include_usage`'s null at
 * its end. (A quote inside a string is escaped, so `"usage"` in the text is a key, or a whole
 * string that says usage: then it is read, to be sure.)
 */
function carriesUsage(data: string): boolean {
  const at = data.indexOf('"usage"');
  return at >= 0 && !(data.endsWith(NULL_USAGE_LAST) && at === data.length - NULL_USAGE_LAST.length + 1);
}

/**
 * A chunk's data as a client that did not ask for the usage would have had it: without the
 * `"usage": null` that `include_usage` adds to every chunk, and none for the usage-only last
 * chunk. `chunk` is its JSON, `undefined` when the meter left it unparsed (a chunk of text alone).
 */
function withoutInjectedUsage(data: string, chunk: unknown): string | undefined {
  // JSON that ends so has the member last in its outermost object (a key is the only string a
  // colon follows, and an unescaped quote after a comma opens one): cut from the text, the chunk's
  // other bytes are passed on as they came, and nothing is serialised again.
  if (data.endsWith(NULL_USAGE_LAST)) return `${data.slice(0, -NULL_USAGE_LAST.length)}}`;
  if (!isObject(chunk)) return data;
  if (isUsageOnlyChunk(chunk)) return undefined;
  if (chunk.usage !== null) return data;
  const { usage: _injected, ...rest } = chunk;
  return JSON.stringify(rest);
}

/** OpenAI Chat Completions: `POST /v1/chat/completions`, as OpenAI and every OpenAI-compatible server speak it. */
export const openaiChat = wireFormat({
  name: 'openai-chat',
  sdkCall: 'chat.completions.create',
  path: '/chat/completions',
  estimate: estimateChatCompletion,
  usage: openaiChatUsage,
  output: {
    fields: OUTPUT_FIELDS,
    text: (completion) =>
      joinStrings(
        (isObject(completion) && Array.isArray(completion.choices) ? completion.choices : []).flatMap((choice) => {
          const message = isObject(choice) && isObject(choice.message) ? choice.message : {};
          return [message.content, message.refusal, ...(Array.isArray(message.tool_calls) ? message.tool_calls.map((call) => JSON.stringify(call)) : [])];
        }),
      ),
    toolCalls: (completion) =>
      (isObject(completion) && Array.isArray(completion.choices) ? completion.choices : []).flatMap((choice) => {
        const calls = isObject(choice) && isObject(choice.message) && Array.isArray(choice.message.tool_calls) ? choice.message.tool_calls : [];
        // A function call names its function; a custom tool's call, its tool.
        return names(calls.map((call) => (isObject(call) ? (isObject(call.function) ? call.function.name : isObject(call.custom) ? call.custom.name : undefined) : undefined)));
      }),
  },
  stream: {
    meter: (options): Meter => new OpenAIChatMeter(options),
    // Without include_usage a chat stream never says what it cost.
    usageOnRequest: {
      ask: (body) => {
        const streamOptions = isObject(body.stream_options) ? body.stream_options : undefined;
        return streamOptions?.include_usage === true ? undefined : { ...body, stream_options: { ...streamOptions, include_usage: true } };
      },
      isAnswer: isUsageOnlyChunk,
      hide: withoutInjectedUsage,
    },
  },
});
