import { calcPrice, findProvider, type ModelInfo, type ModelPrice as GenaiModelPrice } from '@pydantic/genai-prices';
import { costUnits, UnknownModelError, unitsToUsd, type ModelPrice, type PriceSource } from '@tollgate/core';
import { configurationError, describeValue, invalidInput } from './errors.js';

/**
 * A price in USD per million tokens that may step up with the size of the prompt: `base` applies
 * up to the first tier's `start` input tokens; a prompt of more than `start` input tokens pays that
 * tier's price on all its tokens (how Anthropic and Google price long contexts).
 *
 * @example { base: 3, tiers: [{ start: 200_000, price: 6 }] } // claude-sonnet-4-5 input
 */
export interface TieredRate {
  base: number;
  tiers: ReadonlyArray<{ start: number; price: number }>;
}

/** USD per million tokens, flat or tiered. */
export type Rate = number | TieredRate;

/**
 * Everything a model's tokens cost, in USD per million tokens.
 *
 * @example { input: 3, output: 15, cachedInput: 0.3, cacheWrite: 3.75, cacheWrite1h: 6 } // claude-sonnet-4-0
 */
export interface LlmModelPrice {
  /** Uncached input (prompt) tokens. */
  input: Rate;
  /** Output (completion) tokens, reasoning included. */
  output: Rate;
  /**
   * Input tokens read from the prompt cache.
   * @default input
   */
  cachedInput?: Rate;
  /**
   * Input tokens written to the prompt cache (Anthropic's 5-minute cache).
   * @default input
   */
  cacheWrite?: Rate;
  /**
   * Input tokens written to the 1-hour cache.
   * @default cacheWrite
   */
  cacheWrite1h?: Rate;
  /**
   * USD per thousand requests, for providers that charge per call.
   * @default 0
   */
  perThousandRequests?: number;
}

/** A model's price as the table resolved it. */
export interface ResolvedPrice extends LlmModelPrice {
  /** The provider whose table priced it (`'override'` for an override, `'unknown'` for the reserve price). */
  provider: string;
  /** The table's id of the model (`gpt-4o` for `gpt-4o-2024-08-06`). */
  model: string;
}

/**
 * The tokens of one call, split the way providers price them. Cached and cache-write tokens are part of
 * `inputTokens` (the OpenAI convention; Anthropic reports them apart, and the extractors add them up).
 *
 * @example { inputTokens: 5_000, cachedInputTokens: 4_000, cacheWriteTokens: 900, outputTokens: 300 }
 */
export interface TokenCounts {
  /** All input tokens, cached and cache-write ones included. */
  inputTokens?: number;
  /** Output tokens. */
  outputTokens?: number;
  /** The part of `inputTokens` read from the prompt cache. */
  cachedInputTokens?: number;
  /** The part of `inputTokens` written to the prompt cache (1-hour writes included). */
  cacheWriteTokens?: number;
  /** The part of `cacheWriteTokens` written to the 1-hour cache. */
  cacheWrite1hTokens?: number;
  /**
   * Requests the counts cover (for per-request fees).
   * @default 1
   */
  requests?: number;
}

/** A `PriceSource` for core that also prices what `ModelPrice` cannot say: cache writes, tiers, fees. */
export interface LlmPriceSource extends PriceSource {
  /**
   * The price core uses for reservations and for usage recorded without a `cost`: the base tier of
   * each rate. `undefined` for an unknown model when `unknownModel` is `'deny'`.
   */
  price(model: string): ModelPrice | undefined;
  /** The full price of `model`, or `undefined` when it is unknown (and `unknownModel` is `'deny'`). */
  lookup(model: string): ResolvedPrice | undefined;
  /**
   * The exact cost in USD of one call, rounded up to the nano-dollar as core counts money.
   * Throws `UnknownModelError` for an unknown model (when `unknownModel` is `'deny'`) and
   * `InvalidInputError` for counts that are not whole non-negative numbers.
   */
  costOf(model: string, tokens: TokenCounts): number;
}

/** What to do with a model the table does not know. */
export type UnknownModelPolicy = 'deny' | { reserve: LlmModelPrice };

/** Options of `genaiPrices`. */
export interface GenaiPricesOptions {
  /**
   * Prices that replace the table's, by exact model name (as your requests spell it, also
   * `provider:model`). Checked before the table.
   * @default {}
   * @example { 'my-finetune': { input: 3, output: 12 }, 'gpt-4o': { input: 2, output: 8, cachedInput: 1 } }
   */
  overrides?: Record<string, LlmModelPrice>;
  /**
   * A model the table does not know: `'deny'` makes `price()` answer `undefined`, so core refuses
   * the call with `UnknownModelError` where a cost limit applies (and nothing is charged);
   * `{ reserve }` prices it at the configured maximum instead.
   * @default 'deny'
   * @example { reserve: { input: 15, output: 75 } }
   */
  unknownModel?: UnknownModelPolicy;
  /**
   * The provider to look a bare model name up in first (genai-prices ids: `openai`, `anthropic`,
   * `google`, `groq`, `openrouter`, …). Names are otherwise matched to a provider by pattern
   * (`gpt-*` → openai, `claude*` → anthropic, `gemini*` → google, …); `provider:model` always picks
   * the provider explicitly.
   * @default undefined (by pattern)
   * @example 'openrouter'
   */
  provider?: string;
  /**
   * The clock that picks date- and time-of-day-dependent prices (DeepSeek's off-peak discount).
   * @default Date.now
   * @example { clock: () => Date.parse('2026-03-02T20:00:00Z') } // off-peak, in a test
   */
  clock?: () => number;
}

type Variant = ModelInfo['prices'];

/**
 * Model families genai-prices has prices for but does not match to their provider by name (its
 * OpenAI patterns are `gpt-*` and `o1`/`o3`/`o4`, so a bare `text-embedding-3-small` finds none).
 */
const FAMILIES: ReadonlyArray<readonly [prefix: string, provider: string]> = [['text-embedding-', 'openai']];

const familyProvider = (name: string): string | undefined => FAMILIES.find(([prefix]) => name.startsWith(prefix))?.[1];

interface Entry {
  readonly provider: string;
  readonly model: string;
  readonly info: ModelInfo | undefined;
  /** For overrides and the reserve price: the price itself. */
  readonly fixed: ResolvedPrice | undefined;
}

const RATE_FIELDS = ['input', 'output', 'cachedInput', 'cacheWrite', 'cacheWrite1h'] as const;
const PRICE_FIELDS: readonly string[] = [...RATE_FIELDS, 'perThousandRequests'];

const finite = (n: unknown): n is number => typeof n === 'number' && Number.isFinite(n) && n >= 0;

function validRate(rate: unknown): rate is Rate {
  if (finite(rate)) return true;
  const tiered = rate as TieredRate | null;
  return (
    typeof tiered === 'object' &&
    tiered !== null &&
    finite(tiered.base) &&
    Array.isArray(tiered.tiers) &&
    tiered.tiers.every((tier) => finite(tier?.price) && Number.isSafeInteger(tier?.start) && tier.start >= 0)
  );
}

function validatePrice(where: string, price: unknown): asserts price is LlmModelPrice {
  if (typeof price !== 'object' || price === null) throw configurationError(`${where} must be { input, output } in USD per million tokens, got ${describeValue(price)}`);
  const p = price as Record<string, unknown>;
  for (const key of Object.keys(p)) {
    if (!PRICE_FIELDS.includes(key)) {
      throw configurationError(`${where} has unknown field "${key}" (expected ${PRICE_FIELDS.join(', ')})`);
    }
  }
  for (const field of RATE_FIELDS) {
    const value = p[field];
    if (value === undefined && field !== 'input' && field !== 'output') continue;
    if (!validRate(value)) throw configurationError(`${where}.${field} must be a non-negative number of USD per million tokens (or { base, tiers }), got ${describeValue(value)}`);
  }
  const fee = p.perThousandRequests;
  if (fee !== undefined && !finite(fee)) {
    throw configurationError(`${where}.perThousandRequests must be a non-negative number of USD, got ${describeValue(fee)}`);
  }
}

function baseOf(rate: Rate): number {
  return typeof rate === 'number' ? rate : rate.base;
}

/** The rate that applies to a call with `inputTokens` in all. */
function rateAt(rate: Rate, inputTokens: number): number {
  if (typeof rate === 'number') return rate;
  let price = rate.base;
  for (const tier of rate.tiers) if (inputTokens > tier.start) price = tier.price;
  return price;
}

/** genai-prices' keys, mapped to ours; other keys (audio, images, web searches) are not priced here. */
function fromGenai(provider: string, model: string, prices: GenaiModelPrice): ResolvedPrice | undefined {
  const rate = (key: string): Rate | undefined => {
    const value = prices[key];
    if (value === undefined) return undefined;
    if (typeof value === 'number') return value;
    return { base: value.base, tiers: [...value.tiers].sort((a, b) => a.start - b.start) };
  };
  const input = rate('input_mtok');
  const output = rate('output_mtok');
  if (input === undefined && output === undefined) return undefined;
  const price: ResolvedPrice = { provider, model, input: input ?? 0, output: output ?? 0 };
  const cachedInput = rate('cache_read_mtok');
  const cacheWrite = rate('cache_write_mtok');
  const cacheWrite1h = rate('cache_write_1h_mtok');
  const perThousand = prices.requests_kcount;
  if (cachedInput !== undefined) price.cachedInput = cachedInput;
  if (cacheWrite !== undefined) price.cacheWrite = cacheWrite;
  if (cacheWrite1h !== undefined) price.cacheWrite1h = cacheWrite1h;
  if (typeof perThousand === 'number') price.perThousandRequests = perThousand;
  return price;
}

function timeOfDaySeconds(spec: string): number {
  const match = /^(\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(Z|[+-]\d{2}:\d{2})$/.exec(spec);
  if (!match) return NaN;
  const [, h, m, s, zone] = match;
  let seconds = Number(h) * 3600 + Number(m) * 60 + Number(s);
  if (zone !== 'Z') {
    const sign = zone!.startsWith('-') ? -1 : 1;
    seconds -= sign * (Number(zone!.slice(1, 3)) * 3600 + Number(zone!.slice(4, 6)) * 60);
  }
  return ((seconds % 86_400) + 86_400) % 86_400;
}

/**
 * The variant of a model's prices in force at `now`: genai-prices lists conditional prices in order
 * and the last one whose constraint holds wins (an unconstrained entry always holds).
 */
function variantAt(prices: Variant, now: number): GenaiModelPrice {
  if (!Array.isArray(prices)) return prices;
  const date = new Date(now);
  for (let i = prices.length - 1; i >= 0; i--) {
    const { constraint, prices: variant } = prices[i]!;
    if (constraint === undefined) return variant;
    if (constraint.type === 'start_date') {
      if (now >= Date.parse(`${constraint.start_date}T00:00:00Z`)) return variant;
    } else {
      const t = date.getUTCHours() * 3600 + date.getUTCMinutes() * 60 + date.getUTCSeconds();
      const start = timeOfDaySeconds(constraint.start_time);
      const end = timeOfDaySeconds(constraint.end_time);
      if (end < start ? t >= start || t < end : t >= start && t < end) return variant;
    }
  }
  return prices[0]!.prices;
}

/**
 * A price source over the price table of `@pydantic/genai-prices` (input, output, cache-read and
 * cache-write prices, long-context tiers, date and time-of-day variants), pinned to the snapshot
 * bundled with the installed version: it never fetches anything. Give it to `createLimiter` as
 * `prices`, and to this package's wrappers and extractors, which record exact costs with it.
 *
 * @example
 * const prices = genaiPrices({ overrides: { 'my-finetune': { input: 3, output: 12 } }, unknownModel: { reserve: { input: 15, output: 75 } } });
 * const limiter = createLimiter({ store, limits, prices });
 */
export function genaiPrices(options: GenaiPricesOptions = {}): LlmPriceSource {
  if (typeof options !== 'object' || options === null) throw configurationError(`genaiPrices(options) takes an object, got ${describeValue(options)}`);
  const known = new Set(['overrides', 'unknownModel', 'provider', 'clock']);
  for (const key of Object.keys(options)) {
    if (!known.has(key)) throw configurationError(`genaiPrices: unknown option "${key}" (expected ${[...known].join(', ')})`);
  }
  const { overrides = {}, unknownModel = 'deny', provider, clock = Date.now } = options;
  if (typeof overrides !== 'object' || overrides === null) throw configurationError(`genaiPrices: overrides must be { [model]: { input, output } }, got ${describeValue(overrides)}`);
  for (const [model, price] of Object.entries(overrides)) validatePrice(`genaiPrices: overrides["${model}"]`, price);
  let reserve: ResolvedPrice | undefined;
  if (unknownModel !== 'deny') {
    if (typeof unknownModel !== 'object' || unknownModel === null || !('reserve' in unknownModel)) {
      throw configurationError(`genaiPrices: unknownModel must be 'deny' or { reserve: { input, output } }, got ${describeValue(unknownModel)}`);
    }
    validatePrice('genaiPrices: unknownModel.reserve', unknownModel.reserve);
    reserve = { ...unknownModel.reserve, provider: 'unknown', model: 'unknown' };
  }
  if (provider !== undefined && (typeof provider !== 'string' || !findProvider({ providerId: provider }))) {
    throw configurationError(`genaiPrices: provider must be a genai-prices provider id such as 'openai', 'anthropic' or 'openrouter', got ${describeValue(provider)}`);
  }
  if (typeof clock !== 'function') throw configurationError('genaiPrices: clock must be a function returning epoch ms');

  const entries = new Map<string, Entry | null>();
  const resolved = new WeakMap<object, ResolvedPrice | null>();
  const corePrices = new WeakMap<ResolvedPrice, ModelPrice>();

  const find = (name: string, providerId: string | undefined): Entry | undefined => {
    // genai-prices' match on a zero usage: finds the provider and model (aliases, dated snapshots).
    const found = calcPrice({}, name, providerId ? { providerId } : {});
    return found ? { provider: found.provider.id, model: found.model.id, info: found.model, fixed: undefined } : undefined;
  };

  const entryOf = (name: string): Entry | undefined => {
    let entry = entries.get(name);
    if (entry !== undefined) return entry ?? undefined;
    const override = Object.hasOwn(overrides, name) ? overrides[name] : undefined;
    if (override) {
      entry = { provider: 'override', model: name, info: undefined, fixed: { ...override, provider: 'override', model: name } };
    } else {
      const colon = name.indexOf(':');
      const qualifier = colon > 0 ? name.slice(0, colon) : undefined;
      if (qualifier && findProvider({ providerId: qualifier })) {
        entry = find(name.slice(colon + 1), qualifier);
      } else {
        const family = familyProvider(name);
        entry = (provider && find(name, provider)) || find(name, undefined) || (family ? find(name, family) : undefined);
      }
    }
    // Bounded: a caller inventing model names must not grow the cache without end.
    if (entries.size < 10_000) entries.set(name, entry ?? null);
    return entry;
  };

  const lookup = (model: string): ResolvedPrice | undefined => {
    if (typeof model !== 'string' || model === '') return undefined;
    const entry = entryOf(model);
    if (!entry) return reserve;
    if (entry.fixed) return entry.fixed;
    const variant = variantAt(entry.info!.prices, clock());
    let price = resolved.get(variant);
    if (price === undefined) {
      price = fromGenai(entry.provider, entry.model, variant) ?? null;
      resolved.set(variant, price);
    }
    return price ?? reserve;
  };

  return {
    lookup,
    price(model) {
      const full = lookup(model);
      if (!full) return undefined;
      // The same object for the same price, so core's cache of exact prices holds.
      let price = corePrices.get(full);
      if (!price) {
        price = { input: baseOf(full.input), output: baseOf(full.output) };
        if (full.cachedInput !== undefined) price.cachedInput = baseOf(full.cachedInput);
        corePrices.set(full, price);
      }
      return price;
    },
    costOf(model, tokens) {
      if (typeof model !== 'string' || model === '') throw invalidInput(`costOf(model, tokens) needs a model name, got ${describeValue(model)}`);
      const price = lookup(model);
      if (!price) throw new UnknownModelError(model);
      return unitsToUsd(costUnits(billOf(price, tokens)));
    },
  };
}

function count(tokens: TokenCounts, field: keyof TokenCounts, fallback = 0): number {
  const value = tokens[field];
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw invalidInput(`${field} must be a whole, non-negative number of tokens, got ${describeValue(value)}`);
  }
  return value;
}

/**
 * The lines of one call's bill, `[USD per million, count]`: every input token once, at the rate of
 * its kind, and the request fee (per thousand requests, so each request counts as 1,000 of a
 * per-million line).
 */
export function billOf(price: LlmModelPrice, tokens: TokenCounts): Array<[usdPerMillion: number, count: number]> {
  if (typeof tokens !== 'object' || tokens === null) throw invalidInput(`token counts must be an object, got ${describeValue(tokens)}`);
  const input = count(tokens, 'inputTokens');
  const output = count(tokens, 'outputTokens');
  const cached = count(tokens, 'cachedInputTokens');
  const written = count(tokens, 'cacheWriteTokens');
  const written1h = count(tokens, 'cacheWrite1hTokens');
  const requests = count(tokens, 'requests', 1);
  if (cached + written > input) {
    throw invalidInput(`cachedInputTokens (${cached}) and cacheWriteTokens (${written}) are parts of inputTokens and cannot exceed it (${input})`);
  }
  if (written1h > written) throw invalidInput(`cacheWrite1hTokens (${written1h}) is part of cacheWriteTokens and cannot exceed it (${written})`);
  const cacheWrite = price.cacheWrite ?? price.input;
  const line = (rate: Rate, amount: number): [number, number] => [rateAt(rate, input), amount];
  return [
    line(price.input, input - cached - written),
    line(price.cachedInput ?? price.input, cached),
    line(cacheWrite, written - written1h),
    line(price.cacheWrite1h ?? cacheWrite, written1h),
    line(price.output, output),
    [price.perThousandRequests ?? 0, requests * 1_000],
  ];
}

let bundled: LlmPriceSource | undefined;

/** The source behind the package's defaults: `genaiPrices()` with no options, made on first use. */
export function defaultPrices(): LlmPriceSource {
  return (bundled ??= genaiPrices());
}

/**
 * The exact cost in USD of one call of `model`, from the bundled price table (`genaiPrices()`'s
 * defaults; use your source's `costOf` for overrides).
 *
 * @example costOf('gpt-4o', { inputTokens: 1_200, cachedInputTokens: 1_000, outputTokens: 800 }) // 0.00975
 */
export function costOf(model: string, tokens: TokenCounts): number {
  return defaultPrices().costOf(model, tokens);
}
