import type { Usage } from '@tollgate/core';
import { describeValue, invalidInput } from './errors.js';
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
  /** The part of the output spent reasoning (priced as output). */
  reasoningTokens?: number;
}

/**
 * `tokens` once its parts add up: cached and cache-write tokens are part of the input, reasoning
 * tokens part of the output, and neither can exceed its whole.
 */
export function consistent(tokens: CallTokens, what: string): CallTokens {
  const parts = (tokens.cachedInputTokens ?? 0) + (tokens.cacheWriteTokens ?? 0);
  if (parts > tokens.inputTokens) throw invalidInput(`${what}: cached and cache-write tokens (${parts}) are part of the input tokens and cannot exceed them (${tokens.inputTokens})`);
  const reasoning = tokens.reasoningTokens ?? 0;
  if (reasoning > tokens.outputTokens) throw invalidInput(`${what}: reasoning tokens (${reasoning}) are part of the output tokens and cannot exceed them (${tokens.outputTokens})`);
  return tokens;
}

/** A reported count: absent or null reads 0; anything but a whole non-negative number is refused. */
export function tokenCount(value: unknown, what: string): number {
  if (value === undefined || value === null) return 0;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw invalidInput(`${what} must be a whole, non-negative number of tokens, got ${describeValue(value)}`);
  return value;
}

export const modelName = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);

/** Whether a usage object reports `field` at all (a null count is no count). */
export const reports = (usage: Json, field: string): boolean => usage[field] !== undefined && usage[field] !== null;

/**
 * Core's usage for one call's tokens, with the exact cost when the price source knows the model
 * the response names or, failing that, the model the request asked for.
 */
export function toUsage(tokens: CallTokens, prices: LlmPriceSource | undefined, requested?: string): Usage {
  const usage: Usage = { inputTokens: tokens.inputTokens, outputTokens: tokens.outputTokens };
  const model = tokens.model ?? requested;
  if (model !== undefined) usage.model = model;
  if (tokens.cachedInputTokens) usage.cachedInputTokens = tokens.cachedInputTokens;
  if (tokens.reasoningTokens) usage.reasoningTokens = tokens.reasoningTokens;
  const priced = prices && [tokens.model, requested].find((name) => name !== undefined && prices.lookup(name));
  if (priced) usage.cost = prices.costOf(priced, tokens);
  return usage;
}

export function responseObject(response: unknown, what: string): Json {
  if (!isObject(response)) throw invalidInput(`${what} must be a response object, got ${describeValue(response)}`);
  return response;
}

/** Reads a wire format's `usage` object: its tokens, or `undefined` when it lacks a count. */
export type TokenReader = (usage: Json, model: string | undefined) => CallTokens | undefined;

/**
 * The usage of a response (`what` names it in errors) by its format's `read`, or `undefined` when
 * it carries none that is usable.
 */
export function usageOf(response: unknown, what: string, read: TokenReader, options: UsageOptions | undefined): Usage | undefined {
  const body = responseObject(response, what);
  const tokens = isObject(body.usage) ? read(body.usage, modelName(body.model)) : undefined;
  return tokens && toUsage(tokens, options?.prices, modelName(options?.model));
}

