import { describeValue } from '../util/describe-value.js';
import { ConfigurationError, UnknownModelError } from '../errors.js';
import { assertUsd, TokenPrice, usdToUnits } from './money.js';

/**
 * A model's price in USD per million tokens.
 *
 * @example { input: 2.5, output: 10, cachedInput: 1.25 } // gpt-4o
 */
export interface ModelPrice {
  /** USD per million input (prompt) tokens. */
  input: number;
  /** USD per million output (completion) tokens. */
  output: number;
  /**
   * USD per million input tokens served from the provider's prompt cache.
   * @default input
   */
  cachedInput?: number;
}

/** Where prices come from. `@tollgate/llm` provides a maintained table; `staticPrices` takes your own. */
export interface PriceSource {
  /** The price of `model`, or `undefined` when it is unknown. */
  price(model: string): ModelPrice | undefined;
  /**
   * The exact cost in USD of one call of a model `price` knows, when the source can do better than
   * `price`'s flat rates (long-context tiers): then reservations and records without a `cost` are
   * priced with it.
   * @default undefined (priced from `price(model)`)
   * @example costOf: (model, tokens) => myBilling.cost(model, tokens)
   */
  costOf?(model: string, tokens: { inputTokens: number; cachedInputTokens: number; outputTokens: number }): number;
}

/**
 * A price source over a fixed table.
 *
 * @example staticPrices({ 'gpt-4o': { input: 2.5, output: 10, cachedInput: 1.25 } })
 */
export function staticPrices(table: Record<string, ModelPrice>): PriceSource {
  if (typeof table !== 'object' || table === null) throw new ConfigurationError(`staticPrices takes { [model]: { input, output } }, got ${describeValue(table)}`);
  for (const [model, price] of Object.entries(table)) validatePrice(model, price);
  const prices = new Map(Object.entries(table));
  return { price: (model) => prices.get(model) };
}

function validatePrice(model: string, price: unknown): asserts price is ModelPrice {
  const p = price as Partial<ModelPrice> | null;
  for (const field of ['input', 'output', 'cachedInput'] as const) {
    const value = p?.[field];
    if (value === undefined && field === 'cachedInput') continue;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
      throw new ConfigurationError(`price of "${model}": ${field} must be a non-negative number of USD per million tokens, got ${describeValue(value)}`);
    }
  }
}

/** Token counts of one LLM call, split the way providers price them. */
export interface TokenCounts {
  input: number;
  /** Part of `input` read from the prompt cache. */
  cachedInput: number;
  output: number;
}

/** Prices calls through a `PriceSource`, caching the exact form of each model's price. */
export class Pricer {
  private readonly exact = new Map<string, { from: ModelPrice; input: TokenPrice; cachedInput: TokenPrice; output: TokenPrice }>();
  constructor(private readonly source: PriceSource | undefined) {}

  /** Whether the model has a price. */
  knows(model: string): boolean {
    return this.source?.price(model) !== undefined;
  }

  /** The cost of a call in units, rounded up once; throws `UnknownModelError` for a model without a price. */
  costUnits(model: string, tokens: TokenCounts): number {
    const price = this.exactPrice(model);
    const { source } = this;
    if (typeof source?.costOf === 'function') {
      const usd = source.costOf(model, { inputTokens: tokens.input, cachedInputTokens: tokens.cachedInput, outputTokens: tokens.output });
      assertUsd(usd, `the price source's cost of a "${model}" call`);
      return usdToUnits(usd);
    }
    return TokenPrice.costUnits([
      [price.input, tokens.input - tokens.cachedInput],
      [price.cachedInput, tokens.cachedInput],
      [price.output, tokens.output],
    ]);
  }

  /**
   * The cost of `tokens` whose split between input and output is not known yet: priced at the dearer
   * of the two, so a reservation never falls short.
   */
  worstCaseUnits(model: string, tokens: number): number {
    const price = this.exactPrice(model);
    const dearer = price.output.usdPerMillionTokens >= price.input.usdPerMillionTokens ? price.output : price.input;
    return dearer.unitsFor(tokens);
  }

  private exactPrice(model: string) {
    const price = this.source?.price(model);
    if (!price) throw new UnknownModelError(model);
    let exact = this.exact.get(model);
    // Re-derived whenever the source hands out a different price object, so live updates apply.
    if (exact?.from !== price) {
      validatePrice(model, price);
      exact = {
        from: price,
        input: new TokenPrice(price.input),
        cachedInput: new TokenPrice(price.cachedInput ?? price.input),
        output: new TokenPrice(price.output),
      };
      this.exact.set(model, exact);
    }
    return exact;
  }
}
