import { describeValue } from '../util/describe-value.js';
import { InvalidInputError } from '../errors.js';

/**
 * Money is counted in integer nano-dollars (1 USD = 10^9 units), so sums never drift the way float
 * dollars do: a million charges of $0.0000003 add up to exactly $0.30. Amounts are converted from
 * the decimal a number prints as, and every conversion rounds up, so a charge is never under-counted.
 */
export const UNITS_PER_USD = 1_000_000_000;

const UNIT_SCALE = 9n;
const DECIMAL = /^(\d+)(?:\.(\d+))?(?:e([+-]?\d+))?$/;

/** An exact non-negative decimal: `digits / 10^scale`. */
interface Decimal {
  digits: bigint;
  scale: bigint;
}

function toDecimal(value: number): Decimal {
  const match = DECIMAL.exec(String(value));
  if (!match) throw new InvalidInputError(`cannot read ${value} as a decimal amount`);
  const [, whole, fraction = '', exponent = '0'] = match;
  return { digits: BigInt(whole + fraction), scale: BigInt(fraction.length) - BigInt(exponent) };
}

/** `ceil(numerator / denominator)` for non-negative bigints. */
function ceilDiv(numerator: bigint, denominator: bigint): bigint {
  return (numerator + denominator - 1n) / denominator;
}

function pow10(exponent: bigint): bigint {
  return 10n ** exponent;
}

/** Converts an exact decimal number of USD into units, rounded up. */
function decimalToUnits(numerator: bigint, scale: bigint): number {
  const shift = UNIT_SCALE - scale;
  const units = shift >= 0n ? numerator * pow10(shift) : ceilDiv(numerator, pow10(-shift));
  const result = Number(units);
  if (!Number.isSafeInteger(result)) throw new InvalidInputError(`an amount of ${units} nano-dollars is too large to count`);
  return result;
}

/** Checks that a USD amount is a finite, non-negative number; `what` names it in the error. */
export function assertUsd(value: unknown, what: string): asserts value is number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new InvalidInputError(`${what} must be a finite, non-negative number of USD, got ${describeValue(value)}`);
  }
}

/** Converts USD to integer units, rounding up. */
export function usdToUnits(usd: number): number {
  const { digits, scale } = toDecimal(usd);
  return decimalToUnits(digits, scale);
}

/** Converts integer units back to USD for reporting. */
export function unitsToUsd(units: number): number {
  return units / UNITS_PER_USD;
}

/** A price in USD per million tokens, kept exact so that a call's cost is rounded only once. */
export class TokenPrice {
  readonly usdPerMillionTokens: number;
  private readonly exact: Decimal;
  /** `exact.digits` and `exact.scale` as doubles (exact when the digits are a safe integer). */
  private readonly digits: number;
  private readonly scale: number;
  constructor(usdPerMillionTokens: number) {
    this.usdPerMillionTokens = usdPerMillionTokens;
    this.exact = toDecimal(usdPerMillionTokens);
    this.digits = Number(this.exact.digits);
    this.scale = Number(this.exact.scale);
  }

  /** The cost in units of `tokens` at this price, rounded up. */
  unitsFor(tokens: number): number {
    return roundedUnits(this.digits * tokens, this.scale) ?? TokenPrice.costUnits([[this, tokens]]);
  }

  /**
   * The cost in units of one call that used `tokens` at each price: summed exactly, then rounded up
   * once.
   */
  static costUnits(parts: ReadonlyArray<readonly [price: TokenPrice, tokens: number]>): number {
    let scale = 0;
    for (const [price] of parts) if (price.scale > scale) scale = price.scale;
    let numerator = 0;
    for (const [price, tokens] of parts) numerator += price.digits * tokens * 10 ** (scale - price.scale);
    const units = roundedUnits(numerator, scale);
    if (units !== undefined) return units;
    let exact = 0n;
    const exactScale = BigInt(scale);
    for (const [price, tokens] of parts) exact += price.exact.digits * BigInt(tokens) * pow10(exactScale - price.exact.scale);
    // USD per million tokens: the sum is in 10^-(scale) USD per 10^6 tokens.
    return decimalToUnits(exact, exactScale + 6n);
  }
}

const tokenPrices = new Map<number, TokenPrice>();

/**
 * The exact cost, in integer units (nano-dollars), of token counts at prices in USD per million
 * tokens: summed exactly and rounded up once, as the limiter counts money. For packages that price
 * calls themselves (`@tollgate/llm`) and pass the result as `usage.cost`.
 *
 * @example costUnits([[2.5, 1_200], [10, 800]]) // 11_000_000 units = $0.011
 */
export function costUnits(lines: ReadonlyArray<readonly [usdPerMillionTokens: number, tokens: number]>): number {
  const parts = lines.map(([usd, tokens]) => {
    assertUsd(usd, 'a price');
    if (!Number.isSafeInteger(tokens) || tokens < 0) throw new InvalidInputError(`a token count must be a whole, non-negative number, got ${describeValue(tokens)}`);
    let price = tokenPrices.get(usd);
    if (price === undefined) {
      price = new TokenPrice(usd);
      // Price tables hold a few hundred distinct numbers; the bound only guards against misuse.
      if (tokenPrices.size < 10_000) tokenPrices.set(usd, price);
    }
    return [price, tokens] as const;
  });
  return TokenPrice.costUnits(parts);
}

/**
 * Units for a sum of `numerator` 10^-scale USD per million tokens, computed in doubles — or
 * `undefined` when the numbers are too large for that to be exact (then BigInt takes over). Usually
 * every product fits in a double exactly, and integer doubles divide with one correct rounding, so
 * the ceiling is exact too (a quotient's fraction is a multiple of 10^-k, larger than the rounding
 * error of any quotient of a safe integer by 10^k).
 */
function roundedUnits(numerator: number, scale: number): number | undefined {
  if (!Number.isSafeInteger(numerator)) return undefined;
  // Units are 10^-9 USD: 10^-scale USD per 10^6 tokens is 10^(3 - scale) units per token.
  const shift = 3 - scale;
  if (shift < 0) return Math.ceil(numerator / 10 ** -shift);
  const units = numerator * 10 ** shift;
  return Number.isSafeInteger(units) ? units : undefined;
}
