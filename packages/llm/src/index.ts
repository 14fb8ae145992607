/**
 * Prices, token estimates and exact usage from OpenAI, Anthropic and AI SDK responses (streams
 * included), and one-line client wrappers that meter every call.
 *
 * @module @tollgate/llm
 */
// Prices: a PriceSource for core over the genai-prices table, and exact costs.
export { costOf, defaultPrices, genaiPrices } from './prices.js';
export type { GenaiPricesOptions, LlmModelPrice, LlmPriceSource, Rate, ResolvedPrice, TieredRate, TokenCounts, UnknownModelPolicy } from './prices.js';

// The wire formats, one module each: the estimate before the call and the usage after it.
export { anthropicUsage, estimateAnthropicMessage } from './formats/anthropic-messages.js';
export { estimateChatCompletion, openaiChatUsage } from './formats/openai-chat.js';
export { estimateEmbeddings, openaiEmbeddingsUsage } from './formats/openai-embeddings.js';
export { estimateResponse, openaiResponseUsage } from './formats/openai-responses.js';
export type { OutputFormat, StreamFormat } from './formats/index.js';
export { aiSdkUsage } from './ai-sdk.js';

// What the estimates and the extractors share.
export { countTokens, preloadTokenizer } from './estimate.js';
export type { CountedTexts, EstimateOptions, LlmDemand } from './estimate.js';
export { approximateTokens } from './tokens.js';
export type { UsageOptions } from './usage.js';

// Output caps: a call sent with the output it reserved cannot spend past the reservation.
export { maxOutputTokens } from './output.js';
export { withOutputCap } from './cap.js';
export { toolCallsOf } from './tool-calls.js';
export type { OutputCapOptions } from './cap.js';

// Usage from streams: SDK streams, raw SSE.
export { hideInjectedUsage, hideInjectedUsageFrom, meterEventChunks, meterEventIterable, meterEventStream, sseMeter, streamMeter } from './stream.js';
export type { EventChunksOptions, MeteredEventChunks, SseMeter } from './stream.js';
export { sseParser } from './sse.js';
export type { ServerSentEvent } from './sse.js';
export type { StreamEnd } from './stream-end.js';
export type { StreamMeter, StreamMeterOptions } from './stream-meter.js';

// One-line wrappers.
export { wrapOpenAI } from './openai.js';
export type { OpenAILike, WrapOpenAIOptions } from './openai.js';
export { wrapAnthropic } from './anthropic.js';
export type { AnthropicLike } from './anthropic.js';
export { meteredFetch } from './fetch.js';
export type { MeteredFetchOptions } from './fetch.js';
export type { MeterOptions } from './meter.js';

export { LlmRefusedError } from './errors.js';
