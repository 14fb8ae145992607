import type { Demand } from '@tollgate/core';
import { describe, invalidInput } from './errors.js';
import { isObject, positiveInteger, type Json } from './json.js';
import { DEFAULT_MAX_TOKENS, OUTPUT_LIMIT_FIELDS, outputPerChoice } from './output.js';
import type { LlmPriceSource, TokenCounts } from './prices.js';
import { approximateTokens, BoundedCounter, countWith, encodingOf, loadEncoding, loadedEncoding } from './tokens.js';

/** Options of the estimators. */
export interface EstimateOptions {
  /**
   * Output tokens to reserve when the request sets no `max_tokens` / `max_completion_tokens` /
   * `max_output_tokens`, or the model's maximum output when that is lower (`maxOutputTokens`). The
   * wrappers send the reserved output as the call's cap; a caller that sends the request uncapped
   * is charged any overrun when the call is recorded.
   * @default 4096
   * @example { defaultMaxTokens: 1024 }
   */
  defaultMaxTokens?: number;
  /**
   * Tokens counted for each image in the prompt. The default is the most a high-detail image can
   * cost on gpt-4o (85 + 170 per 512-px tile, 8 tiles); `gpt-4o-mini` bills images at far more
   * tokens, so raise it for that model.
   * @default 1445
   * @example { imageTokens: 2_833 }
   */
  imageTokens?: number;
  /**
   * With a price source, the demand carries its exact `cost` (long-context tiers included, and an
   * Anthropic prompt with `cache_control` at the cache-write rate), which core reserves instead of
   * pricing the model itself at its plain rates.
   * @default undefined (core prices the reservation)
   * @example { prices: genaiPrices() }
   */
  prices?: LlmPriceSource;
  /**
   * Your own counter for models this package has no tokenizer for (return `undefined` to fall back
   * to the conservative ratio of `approximateTokens`).
   * @default undefined
   * @example { countTokens: (text, model) => model.startsWith('claude') ? myClaudeCounter(text) : undefined }
   */
  countTokens?: (text: string, model: string) => number | undefined;
}

/** An estimate ready for `limiter.acquire` or `lease.step`: input, output, their sum, the model. */
export type LlmDemand = Required<Pick<Demand, 'model' | 'inputTokens' | 'outputTokens' | 'tokens'>> & Pick<Demand, 'cost'>;

/** What a prompt is made of: texts to count and tokens known without counting. */
interface Prompt {
  texts: string[];
  fixed: number;
}

type Counter = (text: string) => number | Promise<number>;

const DEFAULT_IMAGE_TOKENS = 1445;
// OpenAI's chat format: every message is wrapped in <|start|>{role}<|message|>…<|end|>, and every
// reply is primed with <|start|>assistant<|message|>.
const OPENAI_PER_MESSAGE = 3;
const OPENAI_PER_NAME = 1;
const OPENAI_REPLY_PRIMING = 3;
// Tool definitions are rendered into the system message; counting their JSON (more verbose than
// the rendering) plus this covers the wrapper text.
const OPENAI_TOOLS_OVERHEAD = 12;
// Anthropic does not publish its message framing; 5 tokens a message covers its role markers.
const ANTHROPIC_PER_MESSAGE = 5;
// Anthropic adds a tool-use system prompt when tools are given: 530 tokens at most across the
// models it documents (Claude 3 Opus, auto tool choice; Claude 4 models take 346).
const ANTHROPIC_TOOLS_OVERHEAD = 530;

function object(value: unknown, what: string): Json {
  if (!isObject(value)) throw invalidInput(`${what} must be an object, got ${describe(value)}`);
  return value;
}

function modelOf(body: Json, what: string): string {
  const { model } = body;
  if (typeof model !== 'string' || model === '' || model.length > 256) throw invalidInput(`${what}.model must be a model name, got ${describe(model)}`);
  return model;
}

function resolveOptions(options: EstimateOptions | undefined) {
  const { defaultMaxTokens = DEFAULT_MAX_TOKENS, imageTokens = DEFAULT_IMAGE_TOKENS, prices, countTokens } = options ?? {};
  positiveInteger(defaultMaxTokens, 'options.defaultMaxTokens');
  if (typeof imageTokens !== 'number' || !Number.isSafeInteger(imageTokens) || imageTokens < 0) {
    throw invalidInput(`options.imageTokens must be a whole, non-negative number, got ${describe(imageTokens)}`);
  }
  if (countTokens !== undefined && typeof countTokens !== 'function') throw invalidInput('options.countTokens must be a function');
  return { defaultMaxTokens, imageTokens, prices, countTokens };
}

/** Adds a content value (a string, or an array of parts in any of the three APIs' shapes). */
function addContent(prompt: Prompt, content: unknown, imageTokens: number): void {
  if (content === undefined || content === null) return;
  if (typeof content === 'string') {
    prompt.texts.push(content);
    return;
  }
  if (!Array.isArray(content)) {
    addPart(prompt, content, imageTokens);
    return;
  }
  for (const part of content) addPart(prompt, part, imageTokens);
}

function addPart(prompt: Prompt, part: unknown, imageTokens: number): void {
  if (typeof part === 'string') {
    prompt.texts.push(part);
    return;
  }
  const p = part as Record<string, unknown> | null;
  if (typeof p !== 'object' || p === null) return;
  switch (p.type) {
    case 'text':
    case 'input_text':
    case 'output_text':
      if (typeof p.text === 'string') prompt.texts.push(p.text);
      return;
    case 'refusal':
      if (typeof p.refusal === 'string') prompt.texts.push(p.refusal);
      return;
    case 'thinking':
      if (typeof p.thinking === 'string') prompt.texts.push(p.thinking);
      return;
    case 'image_url':
    case 'input_image':
    case 'image':
      prompt.fixed += imageTokens;
      return;
    case 'tool_use':
      if (typeof p.name === 'string') prompt.texts.push(p.name);
      prompt.texts.push(JSON.stringify(p.input ?? {}));
      prompt.fixed += 4;
      return;
    case 'tool_result':
      addContent(prompt, p.content, imageTokens);
      prompt.fixed += 4;
      return;
    default:
      // Audio, files, documents, reasoning items and anything newer: their JSON, which counts at
      // least what the provider bills for the text they carry.
      prompt.texts.push(JSON.stringify(p));
  }
}

/**
 * The counter for `model`: its BPE encoding (loaded once, lazily) at a bounded cost, or the user's,
 * or the ratio. `bound` says which way the BPE's bounded parts err: up for an estimate, down for
 * output already received.
 */
async function counterFor(model: string, countTokens: EstimateOptions['countTokens'], bound: 'upper' | 'lower' = 'upper'): Promise<Counter> {
  const encoding = encodingOf(model);
  if (encoding) {
    const encoder = loadedEncoding(encoding) ?? (await loadEncoding(encoding));
    const bounded = new BoundedCounter((text) => countWith(encoder, text), bound);
    return (text) => bounded.add(text);
  }
  if (!countTokens) return approximateTokens;
  return (text) => {
    const counted = countTokens(text, model);
    if (counted === undefined) return approximateTokens(text);
    if (typeof counted !== 'number' || !Number.isSafeInteger(counted) || counted < 0) {
      throw invalidInput(`options.countTokens returned ${describe(counted)} for model "${model}"; expected a whole number of tokens`);
    }
    return counted;
  };
}

async function total(prompt: Prompt, count: Counter): Promise<number> {
  let tokens = prompt.fixed;
  for (const text of prompt.texts) tokens += await count(text);
  return tokens;
}

/** Which prompt-cache writes a request may make: the dearest rate its input can be billed at. */
type CacheWrite = 'none' | '5m' | '1h';

/**
 * Whether the request marks anything for the prompt cache (`cache_control` on a block, a tool or
 * the request itself), and with which TTL. Anthropic bills what it writes at the cache-write rate,
 * above the plain input rate (1-hour writes above 5-minute ones).
 */
function cacheWriteOf(value: unknown): CacheWrite {
  if (Array.isArray(value)) return value.reduce<CacheWrite>((dearest, item) => dearer(dearest, cacheWriteOf(item)), 'none');
  if (!isObject(value)) return 'none';
  let dearest: CacheWrite = 'none';
  for (const [key, field] of Object.entries(value)) {
    if (key === 'cache_control' && isObject(field)) dearest = dearer(dearest, field.ttl === '1h' ? '1h' : '5m');
    else if (typeof field === 'object') dearest = dearer(dearest, cacheWriteOf(field));
    if (dearest === '1h') return dearest;
  }
  return dearest;
}

const CACHE_WRITE_ORDER: readonly CacheWrite[] = ['none', '5m', '1h'];
const dearer = (a: CacheWrite, b: CacheWrite): CacheWrite => (CACHE_WRITE_ORDER.indexOf(a) >= CACHE_WRITE_ORDER.indexOf(b) ? a : b);

/**
 * The demand, priced as an upper bound: when the prompt may be written to the cache, every input
 * token at the cache-write rate, since which part is written is only known after the call.
 */
function demand(model: string, inputTokens: number, outputTokens: number, prices: LlmPriceSource | undefined, cacheWrite: CacheWrite = 'none'): LlmDemand {
  const estimate: LlmDemand = { model, inputTokens, outputTokens, tokens: inputTokens + outputTokens };
  if (!prices?.lookup(model)) return estimate;
  const tokens: TokenCounts = { inputTokens, outputTokens };
  if (cacheWrite !== 'none') tokens.cacheWriteTokens = inputTokens;
  if (cacheWrite === '1h') tokens.cacheWrite1hTokens = inputTokens;
  estimate.cost = prices.costOf(model, tokens);
  return estimate;
}

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
export async function estimateChatCompletion(body: unknown, options?: EstimateOptions): Promise<LlmDemand> {
  const request = object(body, 'the chat completion request');
  const model = modelOf(request, 'the chat completion request');
  const { defaultMaxTokens, imageTokens, prices, countTokens } = resolveOptions(options);
  const { messages, tools, functions, response_format: responseFormat } = request;
  if (!Array.isArray(messages)) throw invalidInput(`the chat completion request's messages must be an array, got ${describe(messages)}`);
  const prompt: Prompt = { texts: [], fixed: OPENAI_REPLY_PRIMING };
  messages.forEach((raw, index) => {
    const message = object(raw, `messages[${index}]`);
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
  addDefinitions(prompt, tools, 'tools');
  addDefinitions(prompt, functions, 'functions');
  if (responseFormat !== undefined && responseFormat !== null) prompt.texts.push(JSON.stringify(responseFormat));
  const n = positiveInteger(request.n, 'the chat completion request\'s n') ?? 1;
  const maxTokens = outputPerChoice(request, OUTPUT_LIMIT_FIELDS['openai-chat'], model, defaultMaxTokens);
  const count = await counterFor(model, countTokens);
  return demand(model, await total(prompt, count), maxTokens * n, prices, cacheWriteOf(messages));
}

function addDefinitions(prompt: Prompt, definitions: unknown, what: string, overhead = OPENAI_TOOLS_OVERHEAD): void {
  if (definitions === undefined || definitions === null) return;
  if (!Array.isArray(definitions)) throw invalidInput(`the request's ${what} must be an array, got ${describe(definitions)}`);
  if (definitions.length === 0) return;
  prompt.texts.push(JSON.stringify(definitions));
  prompt.fixed += overhead;
}

/**
 * Estimates an OpenAI Responses API request (`{ model, instructions, input, tools,
 * max_output_tokens }`). Conversation state kept by the server (`previous_response_id`,
 * `conversation`) is not visible here and is not counted.
 *
 * @example await estimateResponse({ model: 'gpt-5', input: 'Write a haiku', max_output_tokens: 500 })
 */
export async function estimateResponse(body: unknown, options?: EstimateOptions): Promise<LlmDemand> {
  const request = object(body, 'the responses request');
  const model = modelOf(request, 'the responses request');
  const { defaultMaxTokens, imageTokens, prices, countTokens } = resolveOptions(options);
  const { input, instructions, tools } = request;
  const prompt: Prompt = { texts: [], fixed: OPENAI_REPLY_PRIMING };
  if (typeof instructions === 'string') {
    prompt.texts.push('system', instructions);
    prompt.fixed += OPENAI_PER_MESSAGE;
  }
  if (typeof input === 'string') {
    prompt.texts.push('user', input);
    prompt.fixed += OPENAI_PER_MESSAGE;
  } else if (Array.isArray(input)) {
    input.forEach((raw, index) => {
      const item = object(raw, `input[${index}]`);
      prompt.fixed += OPENAI_PER_MESSAGE;
      if ('content' in item) {
        if (typeof item.role === 'string') prompt.texts.push(item.role);
        addContent(prompt, item.content, imageTokens);
      } else {
        addPart(prompt, item, imageTokens);
      }
    });
  } else if (input !== undefined) {
    throw invalidInput(`the responses request's input must be a string or an array of items, got ${describe(input)}`);
  }
  addDefinitions(prompt, tools, 'tools');
  if (typeof request.text === 'object' && request.text !== null) prompt.texts.push(JSON.stringify(request.text));
  const maxTokens = outputPerChoice(request, OUTPUT_LIMIT_FIELDS['openai-responses'], model, defaultMaxTokens);
  const count = await counterFor(model, countTokens);
  return demand(model, await total(prompt, count), maxTokens, prices);
}

/**
 * Estimates an Anthropic Messages request (`{ model, system, messages, tools, max_tokens }`) with
 * the conservative ratio (Anthropic's tokenizer is not public), or `options.countTokens`. With a
 * price source, a request that marks anything with `cache_control` reserves its input at the
 * cache-write rate (the 1-hour rate when a mark says `ttl: '1h'`), since Anthropic may bill it so.
 *
 * @example await estimateAnthropicMessage({ model: 'claude-sonnet-4-5', max_tokens: 1024, messages: [{ role: 'user', content: 'Hi' }] })
 */
export async function estimateAnthropicMessage(body: unknown, options?: EstimateOptions): Promise<LlmDemand> {
  const request = object(body, 'the messages request');
  const model = modelOf(request, 'the messages request');
  const { defaultMaxTokens, imageTokens, prices, countTokens } = resolveOptions(options);
  const { messages, system, tools } = request;
  if (!Array.isArray(messages)) throw invalidInput(`the messages request's messages must be an array, got ${describe(messages)}`);
  const prompt: Prompt = { texts: [], fixed: ANTHROPIC_PER_MESSAGE };
  addContent(prompt, system, imageTokens);
  messages.forEach((raw, index) => {
    const message = object(raw, `messages[${index}]`);
    prompt.fixed += ANTHROPIC_PER_MESSAGE;
    addContent(prompt, message.content, imageTokens);
  });
  addDefinitions(prompt, tools, 'tools', ANTHROPIC_TOOLS_OVERHEAD);
  const maxTokens = outputPerChoice(request, OUTPUT_LIMIT_FIELDS.anthropic, model, defaultMaxTokens);
  const count = await counterFor(model, countTokens);
  return demand(model, await total(prompt, count), maxTokens, prices, cacheWriteOf(request));
}

/**
 * Counts the tokens of `text` for `model`: exactly with its tokenizer for OpenAI models (loaded on
 * first use), by the conservative ratio otherwise.
 *
 * @example await countTokens('Hello, world', 'gpt-4o') // 4
 */
export async function countTokens(text: string, model: string, options?: Pick<EstimateOptions, 'countTokens'>): Promise<number> {
  if (typeof text !== 'string') throw invalidInput(`countTokens(text, model) needs a string, got ${describe(text)}`);
  if (typeof model !== 'string' || model === '') throw invalidInput(`countTokens(text, model) needs a model name, got ${describe(model)}`);
  const count = await counterFor(model, options?.countTokens);
  return count(text);
}

/**
 * Counts output already received (a cut stream's deltas, a response without usage), for partial
 * usage: like `countTokens`, except that what cannot be tokenized in linear time is bounded from
 * below, so a call is never charged more output than it produced.
 */
export async function countReceived(text: string, model: string | undefined, options?: Pick<EstimateOptions, 'countTokens'>): Promise<number> {
  if (model === undefined) return approximateTokens(text);
  const count = await counterFor(model, options?.countTokens, 'lower');
  return count(text);
}

/** Loads the tokenizer `model` needs ahead of the first estimate (a no-op for other providers). */
export async function preloadTokenizer(model: string): Promise<void> {
  const encoding = encodingOf(model);
  if (encoding) await loadEncoding(encoding);
}
