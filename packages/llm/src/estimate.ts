import type { Demand } from '@tollgate/core';
import { describeValue, invalidInput } from './errors.js';
import { positiveInteger, requireObject, type Json } from './json.js';
import { DEFAULT_MAX_TOKENS } from './output.js';
import type { LlmPriceSource, TokenCounts } from './prices.js';
import type { CacheWrite, Prompt } from './prompt.js';
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
  /**
   * Texts of the request counted ahead, elsewhere, and replaced in it by short stand-ins (the
   * gateway counts a large body's long texts in a worker thread, so that they never reach the event
   * loop). A text with stand-ins counts each one as `tokens(standIn, model)` says, plus its other
   * characters, plus two tokens at each cut. `tokens` must bound the text from above, as it is
   * sent (a text inside a part counted by its JSON is counted by its JSON form).
   * @default undefined
   * @example { countedTexts: { standIn: /counted-ahead-\d+/g, tokens: (standIn, model) => counts.get(standIn)! } }
   */
  countedTexts?: CountedTexts;
}

/** Texts counted ahead of an estimate (see `EstimateOptions.countedTexts`). */
export interface CountedTexts {
  /** Matches every stand-in in a text: a regular expression with the global flag. */
  readonly standIn: RegExp;
  /** The tokens of the text `standIn` stands for, counted for `model`, from above. */
  tokens(standIn: string, model: string): number;
}

/** An estimate ready for `limiter.acquire` or `lease.step`: input, output, their sum, the model. */
export type LlmDemand = Required<Pick<Demand, 'model' | 'inputTokens' | 'outputTokens' | 'tokens'>> & Pick<Demand, 'cost'>;

type Counter = (text: string) => number | Promise<number>;

const DEFAULT_IMAGE_TOKENS = 1445;

function modelOf(body: Json, what: string): string {
  const { model } = body;
  if (typeof model !== 'string' || model === '' || model.length > 256) throw invalidInput(`${what}.model must be a model name, got ${describeValue(model)}`);
  return model;
}

/** `EstimateOptions` with their defaults, validated. */
export type ResolvedEstimateOptions = ReturnType<typeof resolveOptions>;

function resolveOptions(options: EstimateOptions | undefined) {
  const { defaultMaxTokens = DEFAULT_MAX_TOKENS, imageTokens = DEFAULT_IMAGE_TOKENS, prices, countTokens, countedTexts } = options ?? {};
  positiveInteger(defaultMaxTokens, 'options.defaultMaxTokens');
  if (typeof imageTokens !== 'number' || !Number.isSafeInteger(imageTokens) || imageTokens < 0) {
    throw invalidInput(`options.imageTokens must be a whole, non-negative number, got ${describeValue(imageTokens)}`);
  }
  if (countTokens !== undefined && typeof countTokens !== 'function') throw invalidInput('options.countTokens must be a function');
  if (countedTexts !== undefined && !(countedTexts.standIn instanceof RegExp && countedTexts.standIn.global && typeof countedTexts.tokens === 'function')) {
    throw invalidInput('options.countedTexts.standIn must be a global regular expression (with the g flag) and options.countedTexts.tokens a function');
  }
  return { defaultMaxTokens, imageTokens, prices, countTokens, countedTexts };
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
      throw invalidInput(`options.countTokens returned ${describeValue(counted)} for model "${model}"; expected a whole number of tokens`);
    }
    return counted;
  };
}

async function total(prompt: Prompt, count: Counter): Promise<number> {
  let tokens = prompt.fixed;
  for (const text of prompt.texts) tokens += await count(text);
  return tokens;
}

/** Two tokens at each cut around a stand-in cover what its neighbours could have merged into. */
const CUT_SLACK = 2;

/** `count`, except that each stand-in in a text counts as `counted` says. */
function withCountedTexts(count: Counter, counted: CountedTexts, model: string): Counter {
  return async (text) => {
    let tokens = 0;
    let cuts = 0;
    let last = 0;
    for (const match of text.matchAll(counted.standIn)) {
      const standIn = match[0];
      const ahead = counted.tokens(standIn, model);
      if (!Number.isSafeInteger(ahead) || ahead < 0) throw invalidInput(`options.countedTexts.tokens returned ${describeValue(ahead)} for "${standIn}"; expected a whole number of tokens`);
      if (match.index > last) {
        tokens += await count(text.slice(last, match.index));
        // A cut before this stand-in, and one after the stand-in before the text in between, if any.
        cuts += last > 0 ? 2 : 1;
      }
      tokens += ahead;
      last = match.index + standIn.length;
    }
    if (last === 0) return count(text);
    if (last < text.length) {
      tokens += await count(text.slice(last));
      cuts += 1;
    }
    return tokens + cuts * CUT_SLACK;
  };
}

/**
 * The demand, priced as an upper bound: when the prompt may be written to the cache, every input
 * token at the cache-write rate, since which part is written is only known after the call.
 */
function demand(model: string, inputTokens: number, outputTokens: number, prices: LlmPriceSource | undefined, cacheWrite: CacheWrite): LlmDemand {
  const estimate: LlmDemand = { model, inputTokens, outputTokens, tokens: inputTokens + outputTokens };
  if (!prices?.lookup(model)) return estimate;
  const tokens: TokenCounts = { inputTokens, outputTokens };
  if (cacheWrite !== 'none') tokens.cacheWriteTokens = inputTokens;
  if (cacheWrite === '1h') tokens.cacheWrite1hTokens = inputTokens;
  estimate.cost = prices.costOf(model, tokens);
  return estimate;
}

/** What a wire format reads from a request to estimate it. */
export interface RequestReading {
  /** The prompt, to count with the model's counter. */
  prompt: Prompt;
  /** The most output the call may produce, every choice included. */
  outputTokens: number;
  /**
   * The dearest prompt-cache write the request may make (its input is then reserved at that rate).
   * @default 'none'
   */
  cacheWrite?: CacheWrite;
}

/**
 * Estimates one request of a wire format: checks the body and its model, lets `read` take the
 * prompt and the output apart, counts the prompt with the model's counter and prices the demand.
 * `what` names the request in errors (`'the chat completion request'`).
 */
export async function estimateRequest(
  body: unknown,
  what: string,
  options: EstimateOptions | undefined,
  read: (request: Json, model: string, options: ResolvedEstimateOptions) => RequestReading,
): Promise<LlmDemand> {
  const request = requireObject(body, what);
  const model = modelOf(request, what);
  const resolved = resolveOptions(options);
  const { prompt, outputTokens, cacheWrite = 'none' } = read(request, model, resolved);
  const count = await counterFor(model, resolved.countTokens);
  const { countedTexts } = resolved;
  return demand(model, await total(prompt, countedTexts ? withCountedTexts(count, countedTexts, model) : count), outputTokens, resolved.prices, cacheWrite);
}

/**
 * Counts the tokens of `text` for `model`: exactly with its tokenizer for OpenAI models (loaded on
 * first use), by the conservative ratio otherwise.
 *
 * @example await countTokens('Hello, world', 'gpt-4o') // 4
 */
export async function countTokens(text: string, model: string, options?: Pick<EstimateOptions, 'countTokens'>): Promise<number> {
  if (typeof text !== 'string') throw invalidInput(`countTokens(text, model) needs a string, got ${describeValue(text)}`);
  if (typeof model !== 'string' || model === '') throw invalidInput(`countTokens(text, model) needs a model name, got ${describeValue(model)}`);
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
