import { invalidInput } from './errors.js';

/**
 * Exact price arithmetic. Prices are USD per million tokens given as decimals (0.135, 3.75); a cost is
 * summed exactly in BigInt and rounded up once to the nano-dollar, as core counts money, so a cost
 * never drifts the way float dollars do.
 */

/** An exact non-negative decimal: `digits / 10^scale`. */
interface Decimal {
  readonly digits: bigint;
  readonly scale: number;
}

const DECIMAL = /^(\d+)(?:\.(\d+))?(?:e([+-]?\d+))?$/;
const decimals = new Map<number, Decimal>();

function toDecimal(value: number): Decimal {
  let decimal = decimals.get(value);
  if (decimal) return decimal;
  const match = DECIMAL.exec(String(value));
  if (!match) throw invalidInput(`cannot read ${value} as a decimal price`);
  const [, whole, fraction = '', exponent = '0'] = match;
  let digits = BigInt(whole! + fraction);
  let scale = fraction.length - Number(exponent);
  if (scale < 0) {
    digits *= 10n ** BigInt(-scale);
    scale = 0;
  }
  decimal = { digits, scale };
  if (decimals.size < 10_000) decimals.set(value, decimal);
  return decimal;
}

/** One line of a bill: `amount` units (tokens, or requests) at `rate` USD per `per` units. */
export interface BillLine {
  rate: number;
  amount: number;
  per: number;
}

/** The exact cost of the lines in nano-dollars (10^-9 USD), rounded up once. */
export function costUnits(lines: readonly BillLine[]): number {
  let scale = 0;
  for (const line of lines) if (line.amount > 0) scale = Math.max(scale, toDecimal(line.rate).scale);
  // Sum of rate * amount / per, as an integer count of 10^-(scale) USD * (1 / lcm of pers).
  let numerator = 0n;
  for (const line of lines) {
    if (line.amount <= 0) continue;
    const { digits, scale: s } = toDecimal(line.rate);
    // `per` is 1e6 (per million tokens) or 1e3 (per thousand requests): bring each to per-million.
    numerator += digits * 10n ** BigInt(scale - s) * BigInt(line.amount) * BigInt(1_000_000 / line.per);
  }
  // numerator counts 10^-scale USD per million: units = numerator * 10^9 / (10^scale * 10^6).
  const denominator = 10n ** BigInt(scale);
  const scaled = numerator * 1000n;
  const units = (scaled + denominator - 1n) / denominator;
  const result = Number(units);
  if (!Number.isSafeInteger(result)) throw invalidInput(`a cost of ${units} nano-dollars is too large to count`);
  return result;
}


