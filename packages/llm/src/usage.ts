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
}

/** One call's tokens as providers split them, on the OpenAI convention (cache tokens are part of input). */
export interface CallTokens extends TokenCounts {
  model?: string;
  inputTokens: number;
  outputTokens: number;
}

/** A reported count: absent or null reads 0; anything but a whole non-negative number is refused. */
export function tokenCount(value: unknown, what: string): number {
  if (value === undefined || value === null) return 0;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw invalidInput(`${what} must be a whole, non-negative number of tokens, got ${describe(value)}`);
  return value;
}

const modelName = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);

/** Core's usage for one call's tokens, with the exact cost when a price source knows the model. */
export function toUsage(tokens: CallTokens, prices: LlmPriceSource | undefined): Usage {
  const usage: Usage = { inputTokens: tokens.inputTokens, outputTokens: tokens.outputTokens };
  if (tokens.model !== undefined) usage.model = tokens.model;
  if (tokens.cachedInputTokens) usage.cachedInputTokens = tokens.cachedInputTokens;
  if (prices && tokens.model !== undefined && prices.lookup(tokens.model)) usage.cost = prices.costOf(tokens.model, tokens);
  return usage;
}

/** The tokens of an OpenAI Chat Completions `usage` object (also DeepSeek's and OpenRouter's cache fields). */
export function openaiChatTokens(usage: Json, model: string | undefined): CallTokens {
  const details = isObject(usage.prompt_tokens_details) ? usage.prompt_tokens_details : {};
  const inputTokens = tokenCount(usage.prompt_tokens, 'usage.prompt_tokens');
  const cached = details.cached_tokens ?? usage.prompt_cache_hit_tokens;
  return {
    model,
    inputTokens,
    outputTokens: tokenCount(usage.completion_tokens, 'usage.completion_tokens'),
    cachedInputTokens: tokenCount(cached, 'usage.prompt_tokens_details.cached_tokens'),
    cacheWriteTokens: tokenCount(details.cache_write_tokens, 'usage.prompt_tokens_details.cache_write_tokens'),
  };
}

/** The tokens of an OpenAI Responses API `usage` object. */
export function openaiResponseTokens(usage: Json, model: string | undefined): CallTokens {
  const details = isObject(usage.input_tokens_details) ? usage.input_tokens_details : {};
  return {
    model,
    inputTokens: tokenCount(usage.input_tokens, 'usage.input_tokens'),
    outputTokens: tokenCount(usage.output_tokens, 'usage.output_tokens'),
    cachedInputTokens: tokenCount(details.cached_tokens, 'usage.input_tokens_details.cached_tokens'),
  };
}

/**
 * The tokens of an Anthropic `usage` object. Anthropic reports `input_tokens` without the cache
 * reads and writes; they are added back, so `inputTokens` is every input token.
 */
export function anthropicTokens(usage: Json, model: string | undefined): CallTokens {
  const uncached = tokenCount(usage.input_tokens, 'usage.input_tokens');
  const read = tokenCount(usage.cache_read_input_tokens, 'usage.cache_read_input_tokens');
  const written = tokenCount(usage.cache_creation_input_tokens, 'usage.cache_creation_input_tokens');
  const creation = isObject(usage.cache_creation) ? usage.cache_creation : {};
  const written1h = tokenCount(creation.ephemeral_1h_input_tokens, 'usage.cache_creation.ephemeral_1h_input_tokens');
  return {
    model,
    inputTokens: uncached + read + written,
    outputTokens: tokenCount(usage.output_tokens, 'usage.output_tokens'),
    cachedInputTokens: read,
    cacheWriteTokens: written,
    cacheWrite1hTokens: Math.min(written1h, written),
  };
}

function responseObject(response: unknown, what: string): Json {
  if (!isObject(response)) throw invalidInput(`${what} must be a response object, got ${describe(response)}`);
  return response;
}

/**
 * The usage of an OpenAI Chat Completions response (`prompt_tokens`, `completion_tokens`,
 * `prompt_tokens_details.cached_tokens`), or `undefined` when it carries none.
 *
 * @example await lease.record(openaiChatUsage(completion, { prices })!)
 */
export function openaiChatUsage(response: unknown, options?: UsageOptions): Usage | undefined {
  const body = responseObject(response, 'a chat completion');
  if (!isObject(body.usage)) return undefined;
  return toUsage(openaiChatTokens(body.usage, modelName(body.model)), options?.prices);
}

/**
 * The usage of an OpenAI Responses API response (`input_tokens`, `output_tokens`,
 * `input_tokens_details.cached_tokens`), or `undefined` when it carries none.
 *
 * @example await lease.record(openaiResponseUsage(response, { prices })!)
 */
export function openaiResponseUsage(response: unknown, options?: UsageOptions): Usage | undefined {
  const body = responseObject(response, 'a response');
  if (!isObject(body.usage)) return undefined;
  return toUsage(openaiResponseTokens(body.usage, modelName(body.model)), options?.prices);
}

/**
 * The usage of an Anthropic message (`input_tokens` plus `cache_read_input_tokens` and
 * `cache_creation_input_tokens`, `output_tokens`), or `undefined` when it carries none.
 *
 * @example await lease.record(anthropicUsage(message, { prices })!)
 */
export function anthropicUsage(message: unknown, options?: UsageOptions): Usage | undefined {
  const body = responseObject(message, 'a message');
  if (!isObject(body.usage)) return undefined;
  return toUsage(anthropicTokens(body.usage, modelName(body.model)), options?.prices);
}

/** The tokens of one AI SDK usage object (v6 `inputTokenDetails`, v5 `cachedInputTokens`, v4 `promptTokens`). */
function aiSdkTokens(usage: Json, model: string | undefined, providerMetadata: unknown): CallTokens {
  const outputTokens = tokenCount(usage.outputTokens ?? usage.completionTokens, 'usage.outputTokens');
  if (isObject(usage.inputTokenDetails)) {
    const details = usage.inputTokenDetails;
    return {
      model,
      inputTokens: tokenCount(usage.inputTokens, 'usage.inputTokens'),
      outputTokens,
      cachedInputTokens: tokenCount(details.cacheReadTokens, 'usage.inputTokenDetails.cacheReadTokens'),
      cacheWriteTokens: tokenCount(details.cacheWriteTokens, 'usage.inputTokenDetails.cacheWriteTokens'),
    };
  }
  const input = tokenCount(usage.inputTokens ?? usage.promptTokens, 'usage.inputTokens');
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
 * 4 (`promptTokens`) shapes; `undefined` when the result carries no usage.
 *
 * @example await lease.record(aiSdkUsage(await generateText({ model, prompt }), { prices })!)
 */
export function aiSdkUsage(result: unknown, options?: UsageOptions): Usage | undefined {
  const body = responseObject(result, 'an AI SDK result');
  const modelOf = (owner: Json): string | undefined => (isObject(owner.response) ? modelName(owner.response.modelId) : undefined);
  const prices = options?.prices;
  const steps = Array.isArray(body.steps) ? body.steps.filter((step): step is Json => isObject(step) && isObject(step.usage)) : [];
  if (steps.length > 0) {
    const parts = steps.map((step) => aiSdkTokens(step.usage as Json, modelOf(step) ?? modelOf(body), step.providerMetadata));
    const usage = toUsage(sum(parts, parts.at(-1)!.model), undefined);
    // Each step at its own model's price (a ladder or a router may switch models between steps).
    if (prices && parts.every((part) => part.model !== undefined && prices.lookup(part.model))) {
      // Summed in units, as core counts money, so the steps' costs add up without float drift.
      usage.cost = unitsToUsd(parts.reduce((total, part) => total + usdToUnits(prices.costOf(part.model!, part)), 0));
    }
    return usage;
  }
  const usage = isObject(body.totalUsage) ? body.totalUsage : isObject(body.usage) ? body.usage : undefined;
  if (!usage) return undefined;
  return toUsage(aiSdkTokens(usage, modelOf(body), body.providerMetadata), prices);
}
