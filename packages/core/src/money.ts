import { describe } from './duration.js';
import { InvalidInputError } from './errors.js';

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
    throw new InvalidInputError(`${what} must be a finite, non-negative number of USD, got ${describe(value)}`);
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
  /** `exact.digits` as a double, when it is one exactly. */
  private readonly digits: number;
  constructor(usdPerMillionTokens: number) {
    this.usdPerMillionTokens = usdPerMillionTokens;
    this.exact = toDecimal(usdPerMillionTokens);
    this.digits = Number(this.exact.digits);
  }

  /**
   * The cost in units of one call that used `tokens` at each price: summed exactly, then rounded up
   * once.
   */
  static costUnits(parts: ReadonlyArray<readonly [price: TokenPrice, tokens: number]>): number {
    let scale = 0n;
    for (const [price] of parts) if (price.exact.scale > scale) scale = price.exact.scale;
    // Usually every product fits in a double exactly, and integer doubles divide with one correct
    // rounding, so the ceiling is exact too; BigInt only when the numbers are huge.
    let numerator = 0;
    for (const [price, tokens] of parts) numerator += price.digits * tokens * 10 ** Number(scale - price.exact.scale);
    // Units are 10^-9 USD; the numerator counts 10^-(scale) USD per million tokens.
    const shift = 3 - Number(scale);
    if (Number.isSafeInteger(numerator)) {
      if (shift < 0) return Math.ceil(numerator / 10 ** -shift);
      const units = numerator * 10 ** shift;
      if (Number.isSafeInteger(units)) return units;
    }
    let exact = 0n;
    for (const [price, tokens] of parts) exact += price.exact.digits * BigInt(tokens) * pow10(scale - price.exact.scale);
    // USD per million tokens: the sum is in 10^-(scale) USD per 10^6 tokens.
    return decimalToUnits(exact, scale + 6n);
  }
}
