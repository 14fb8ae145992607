/**
 * Prices, token estimates and exact usage from OpenAI, Anthropic and AI SDK responses (streams
 * included), and one-line client wrappers that meter every call.
 *
 * @module @tollgate/llm
 */
// Prices: a PriceSource for core over the genai-prices table, and exact costs.
export { costOf, defaultPrices, genaiPrices } from './prices.js';
export type { GenaiPricesOptions, LlmModelPrice, LlmPriceSource, Rate, ResolvedPrice, TieredRate, TokenCounts, UnknownModelPolicy } from './prices.js';

// Estimates before the call.
export { countTokens, estimateAnthropicMessage, estimateChatCompletion, estimateResponse, preloadTokenizer } from './estimate.js';
export type { EstimateOptions, LlmDemand } from './estimate.js';
export { approximateTokens } from './tokens.js';

// Output caps: a call sent with the output it reserved cannot spend past the reservation.
export { maxOutputTokens, withOutputCap } from './output.js';
export type { OutputCapOptions } from './output.js';

// Usage after the call: responses, SDK streams, raw SSE.
export { aiSdkUsage, anthropicUsage, openaiChatUsage, openaiResponseUsage } from './usage.js';
export type { UsageOptions } from './usage.js';
export { hideInjectedUsage, meterEventStream, sseMeter, sseParser, streamMeter } from './stream.js';
export type { ServerSentEvent, SseMeter, StreamEnd, StreamFormat, StreamMeter, StreamMeterOptions } from './stream.js';

// One-line wrappers.
export { wrapOpenAI } from './openai.js';
export type { OpenAILike, WrapOpenAIOptions } from './openai.js';
export { wrapAnthropic } from './anthropic.js';
export type { AnthropicLike } from './anthropic.js';
export { meteredFetch } from './fetch.js';
export type { MeteredFetchOptions } from './fetch.js';
export type { MeterOptions } from './meter.js';

export { LlmRefusedError } from './errors.js';
