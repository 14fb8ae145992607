import { unitsToUsd, usdToUnits, type Usage } from '@tollgate/core';
import { isObject, type Json } from './json.js';
import { consistent, modelName, reports, responseObject, tokenCount, toUsage, type CallTokens, type UsageOptions } from './usage.js';

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
 * of a provider that reported none). v5's is also a `LanguageModelV2` call's usage.
 */
export function aiSdkTokens(usage: Json, model: string | undefined, providerMetadata: unknown): CallTokens | undefined {
  const inputField = reports(usage, 'inputTokens') ? 'inputTokens' : 'promptTokens';
  const input = tokenCount(usage[inputField], `usage.${inputField}`);
  if (!reports(usage, inputField) || (!reports(usage, 'outputTokens') && !reports(usage, 'completionTokens'))) return undefined;
  const outputTokens = aiSdkOutputTokens(usage, input);
  const reasoningTokens = isObject(usage.outputTokenDetails)
    ? tokenCount(usage.outputTokenDetails.reasoningTokens, 'usage.outputTokenDetails.reasoningTokens')
    : tokenCount(usage.reasoningTokens, 'usage.reasoningTokens');
  if (isObject(usage.inputTokenDetails)) {
    const details = usage.inputTokenDetails;
    const tokens: CallTokens = {
      model,
      inputTokens: input,
      outputTokens,
      cachedInputTokens: tokenCount(details.cacheReadTokens, 'usage.inputTokenDetails.cacheReadTokens'),
      cacheWriteTokens: tokenCount(details.cacheWriteTokens, 'usage.inputTokenDetails.cacheWriteTokens'),
      reasoningTokens,
    };
    return consistent(tokens, 'usage.inputTokenDetails');
  }
  const cached = tokenCount(usage.cachedInputTokens, 'usage.cachedInputTokens');
  const anthropic = isObject(providerMetadata) && isObject(providerMetadata.anthropic) ? providerMetadata.anthropic : undefined;
  if (anthropic) {
    // AI SDK 5's Anthropic provider passes Anthropic's counts through: input without the cache.
    const written = tokenCount(anthropic.cacheCreationInputTokens, 'providerMetadata.anthropic.cacheCreationInputTokens');
    return consistent({ model, inputTokens: input + cached + written, outputTokens, cachedInputTokens: cached, cacheWriteTokens: written, reasoningTokens }, 'usage');
  }
  return consistent({ model, inputTokens: Math.max(input, cached), outputTokens, cachedInputTokens: cached, reasoningTokens }, 'usage');
}

function sum(parts: readonly CallTokens[], model: string | undefined): CallTokens {
  const total: CallTokens = { model, inputTokens: 0, outputTokens: 0, cachedInputTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0 };
  for (const part of parts) {
    total.inputTokens += part.inputTokens;
    total.outputTokens += part.outputTokens;
    total.cachedInputTokens! += part.cachedInputTokens ?? 0;
    total.cacheWriteTokens! += part.cacheWriteTokens ?? 0;
    total.reasoningTokens! += part.reasoningTokens ?? 0;
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
