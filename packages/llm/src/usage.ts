import { unitsToUsd, usdToUnits, type Usage } from '@tollgate/core';
import { describe, invalidInput } from './errors.js';
import type { LlmPriceSource, TokenCounts } from './prices.js';
import { isObject, type Json } from './json.js';

/** Options of the usage extractors. */
export interface UsageOptions {
  /**
   * With a price source, the usage carries its exact `cost` (cache writes and long-context tiers
   * included, which core's `ModelPrice` cannot express) and core records that cost as is. Without
   * one, core prices the tokens itself, and cache writes count at the plain input rate.
   * @default undefined
   * @example anthropicUsage(message, { prices: genaiPrices() })
   */
  prices?: LlmPriceSource;
  /**
   * The model the request asked for: prices the usage when the response names a model the price
   * source does not know (`azure/gpt-4o`, a router's or a proxy's name), so the exact cost (cache
   * writes, long-context tiers) is still computed, and stands for the model of a response that
   * names none.
   * @default undefined (only the model the response names)
   * @example openaiChatUsage(completion, { prices, model: body.model })
   */
  model?: string;
}

/** One call's tokens as providers split them, on the OpenAI convention (cache tokens are part of input). */
export interface CallTokens extends TokenCounts {
  model?: string;
  inputTokens: number;
  outputTokens: number;
}

/** `tokens` once its parts add up: cached and cache-write tokens are part of the input, and cannot exceed it. */
function consistent(tokens: CallTokens, what: string): CallTokens {
  const parts = (tokens.cachedInputTokens ?? 0) + (tokens.cacheWriteTokens ?? 0);
  if (parts > tokens.inputTokens) throw invalidInput(`${what}: cached and cache-write tokens (${parts}) are part of the input tokens and cannot exceed them (${tokens.inputTokens})`);
  return tokens;
}

/** A reported count: absent or null reads 0; anything but a whole non-negative number is refused. */
export function tokenCount(value: unknown, what: string): number {
  if (value === undefined || value === null) return 0;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw invalidInput(`${what} must be a whole, non-negative number of tokens, got ${describe(value)}`);
  return value;
}

const modelName = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);

/** Whether a usage object reports `field` at all (a null count is no count). */
const reports = (usage: Json, field: string): boolean => usage[field] !== undefined && usage[field] !== null;

/**
 * Core's usage for one call's tokens, with the exact cost when the price source knows the model
 * the response names or, failing that, the model the request asked for.
 */
export function toUsage(tokens: CallTokens, prices: LlmPriceSource | undefined, requested?: string): Usage {
  const usage: Usage = { inputTokens: tokens.inputTokens, outputTokens: tokens.outputTokens };
  const model = tokens.model ?? requested;
  if (model !== undefined) usage.model = model;
  if (tokens.cachedInputTokens) usage.cachedInputTokens = tokens.cachedInputTokens;
  const priced = prices && [tokens.model, requested].find((name) => name !== undefined && prices.lookup(name));
  if (priced) usage.cost = prices.costOf(priced, tokens);
  return usage;
}

/**
 * The tokens of an OpenAI Chat Completions `usage` object (also DeepSeek's and OpenRouter's cache
 * fields, and Responses-style `input_tokens` / `output_tokens` that some compatible servers send),
 * or `undefined` when it lacks the input or the output count: `{}` or a bare `total_tokens` says
 * nothing about what the call cost.
 */
export function openaiChatTokens(usage: Json, model: string | undefined): CallTokens | undefined {
  const responsesStyle = !reports(usage, 'prompt_tokens') && !reports(usage, 'completion_tokens');
  const [input, output, detailsField] = responsesStyle ? ['input_tokens', 'output_tokens', 'input_tokens_details'] : ['prompt_tokens', 'completion_tokens', 'prompt_tokens_details'];
  const details = isObject(usage[detailsField]) ? (usage[detailsField] as Json) : {};
  const cached = details.cached_tokens ?? usage.prompt_cache_hit_tokens;
  const tokens: CallTokens = {
    model,
    inputTokens: tokenCount(usage[input], `usage.${input}`),
    outputTokens: tokenCount(usage[output], `usage.${output}`),
    cachedInputTokens: tokenCount(cached, `usage.${detailsField}.cached_tokens`),
    cacheWriteTokens: tokenCount(details.cache_write_tokens, `usage.${detailsField}.cache_write_tokens`),
  };
  return reports(usage, input) && reports(usage, output) ? consistent(tokens, 'usage') : undefined;
}

/** The tokens of an OpenAI Responses API `usage` object, or `undefined` when it lacks the input or the output count. */
export function openaiResponseTokens(usage: Json, model: string | undefined): CallTokens | undefined {
  const details = isObject(usage.input_tokens_details) ? usage.input_tokens_details : {};
  const tokens: CallTokens = {
    model,
    inputTokens: tokenCount(usage.input_tokens, 'usage.input_tokens'),
    outputTokens: tokenCount(usage.output_tokens, 'usage.output_tokens'),
    cachedInputTokens: tokenCount(details.cached_tokens, 'usage.input_tokens_details.cached_tokens'),
  };
  return reports(usage, 'input_tokens') && reports(usage, 'output_tokens') ? consistent(tokens, 'usage') : undefined;
}

/**
 * The tokens of an Anthropic `usage` object, or `undefined` when it lacks the input or the output
 * count. Anthropic reports `input_tokens` without the cache reads and writes; they are added back,
 * so `inputTokens` is every input token.
 */
export function anthropicTokens(usage: Json, model: string | undefined): CallTokens | undefined {
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

function responseObject(response: unknown, what: string): Json {
  if (!isObject(response)) throw invalidInput(`${what} must be a response object, got ${describe(response)}`);
  return response;
}

/** The usage of a response by `read`, or `undefined` when it carries none that is usable. */
function responseUsage(body: Json, read: (usage: Json, model: string | undefined) => CallTokens | undefined, options: UsageOptions | undefined): Usage | undefined {
  const tokens = isObject(body.usage) ? read(body.usage, modelName(body.model)) : undefined;
  return tokens && toUsage(tokens, options?.prices, modelName(options?.model));
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
  return responseUsage(responseObject(response, 'a chat completion'), openaiChatTokens, options);
}

/**
 * The usage of an OpenAI Responses API response (`input_tokens`, `output_tokens`,
 * `input_tokens_details.cached_tokens`), or `undefined` when it carries none or lacks a count.
 * Throws `InvalidInputError` for a count that is not a whole, non-negative number.
 *
 * @example await lease.record(openaiResponseUsage(response, { prices, model: body.model })!)
 */
export function openaiResponseUsage(response: unknown, options?: UsageOptions): Usage | undefined {
  return responseUsage(responseObject(response, 'a response'), openaiResponseTokens, options);
}

/**
 * The usage of an Anthropic message (`input_tokens` plus `cache_read_input_tokens` and
 * `cache_creation_input_tokens`, `output_tokens`), or `undefined` when it carries none or lacks a
 * count. Throws `InvalidInputError` for a count that is not a whole, non-negative number.
 *
 * @example await lease.record(anthropicUsage(message, { prices, model: body.model })!)
 */
export function anthropicUsage(message: unknown, options?: UsageOptions): Usage | undefined {
  return responseUsage(responseObject(message, 'a message'), anthropicTokens, options);
}

/**
 * The output tokens of one AI SDK usage, reasoning included. AI SDK 5's Google provider leaves
 * Gemini's thinking tokens out of `outputTokens` (in `reasoningTokens`) but not out of
 * `totalTokens`; AI SDK 6, AI SDK 4 and the other AI SDK 5 providers report `totalTokens` as input
 * plus output, as counted in `inputTokens` (AI SDK 5's Anthropic leaves the cache out of both),
 * so the difference is never more than the output there.
 */
function aiSdkOutputTokens(usage: Json, input: number): number {
  const output = tokenCount(usage.outputTokens ?? usage.completionTokens, 'usage.outputTokens');
  if (!reports(usage, 'totalTokens')) return output;
  return Math.max(output, tokenCount(usage.totalTokens, 'usage.totalTokens') - input);
}

/**
 * The tokens of one AI SDK usage object (v6 `inputTokenDetails`, v5 `cachedInputTokens`, v4
 * `promptTokens`), or `undefined` when it lacks the input or the output count (the AI SDK's usage
 * of a provider that reported none).
 */
function aiSdkTokens(usage: Json, model: string | undefined, providerMetadata: unknown): CallTokens | undefined {
  const inputField = reports(usage, 'inputTokens') ? 'inputTokens' : 'promptTokens';
  const input = tokenCount(usage[inputField], `usage.${inputField}`);
  if (!reports(usage, inputField) || (!reports(usage, 'outputTokens') && !reports(usage, 'completionTokens'))) return undefined;
  const outputTokens = aiSdkOutputTokens(usage, input);
  if (isObject(usage.inputTokenDetails)) {
    const details = usage.inputTokenDetails;
    const tokens: CallTokens = {
      model,
      inputTokens: input,
      outputTokens,
      cachedInputTokens: tokenCount(details.cacheReadTokens, 'usage.inputTokenDetails.cacheReadTokens'),
      cacheWriteTokens: tokenCount(details.cacheWriteTokens, 'usage.inputTokenDetails.cacheWriteTokens'),
    };
    return consistent(tokens, 'usage.inputTokenDetails');
  }
  const cached = tokenCount(usage.cachedInputTokens, 'usage.cachedInputTokens');
  const anthropic = isObject(providerMetadata) && isObject(providerMetadata.anthropic) ? providerMetadata.anthropic : undefined;
  if (anthropic) {
    // AI SDK 5's Anthropic provider passes Anthropic's counts through: input without the cache.
    const written = tokenCount(anthropic.cacheCreationInputTokens, 'providerMetadata.anthropic.cacheCreationInputTokens');
    return { model, inputTokens: input + cached + written, outputTokens, cachedInputTokens: cached, cacheWriteTokens: written };
  }
  return { model, inputTokens: Math.max(input, cached), outputTokens, cachedInputTokens: cached };
}

function sum(parts: readonly CallTokens[], model: string | undefined): CallTokens {
  const total: CallTokens = { model, inputTokens: 0, outputTokens: 0, cachedInputTokens: 0, cacheWriteTokens: 0 };
  for (const part of parts) {
    total.inputTokens += part.inputTokens;
    total.outputTokens += part.outputTokens;
    total.cachedInputTokens! += part.cachedInputTokens ?? 0;
    total.cacheWriteTokens! += part.cacheWriteTokens ?? 0;
  }
  return total;
}

/**
 * The usage of a Vercel AI SDK result (`generateText`, `generateObject`, or a `streamText` /
 * `onFinish` result once resolved): every step of a multi-step call, each priced at its own model
 * when a price source is given. Reads AI SDK 6 (`inputTokenDetails`), 5 (`cachedInputTokens`) and
 * 4 (`promptTokens`) shapes, reasoning included (AI SDK 5 reports Gemini's thinking apart);
 * `undefined` when the result carries no usage, or a step's usage lacks a count.
 *
 * @example await lease.record(aiSdkUsage(await generateText({ model, prompt }), { prices })!)
 */
export function aiSdkUsage(result: unknown, options?: UsageOptions): Usage | undefined {
  const body = responseObject(result, 'an AI SDK result');
  const modelOf = (owner: Json): string | undefined => (isObject(owner.response) ? modelName(owner.response.modelId) : undefined);
  const prices = options?.prices;
  const requested = modelName(options?.model);
  if (Array.isArray(body.steps) && body.steps.length > 0) {
    const parts = body.steps.map((step) => (isObject(step) && isObject(step.usage) ? aiSdkTokens(step.usage, modelOf(step) ?? modelOf(body), step.providerMetadata) : undefined));
    if (!parts.every((part) => part !== undefined)) return undefined;
    const usage = toUsage(sum(parts, parts.at(-1)!.model), undefined, requested);
    // Each step at its own model's price (a ladder or a router may switch models between steps).
    const priced = parts.map((part) => toUsage(part, prices, requested).cost);
    if (priced.every((cost) => cost !== undefined)) {
      // Summed in units, as core counts money, so the steps' costs add up without float drift.
      usage.cost = unitsToUsd(priced.reduce((total, cost) => total + usdToUnits(cost), 0));
    }
    return usage;
  }
  const usage = isObject(body.totalUsage) ? body.totalUsage : isObject(body.usage) ? body.usage : undefined;
  const tokens = usage && aiSdkTokens(usage, modelOf(body), body.providerMetadata);
  return tokens && toUsage(tokens, prices, requested);
}
