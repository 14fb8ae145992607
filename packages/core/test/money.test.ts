import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../src/errors.js';
import { costUnits, TokenPrice, usdToUnits } from '../src/pricing/money.js';
import { sha256 } from '../src/util/sha256.js';

describe('money', () => {
  it('converts the decimal a number prints as, rounding up only below the nano-dollar', () => {
    expect(usdToUnits(0.1)).toBe(100_000_000);
    expect(usdToUnits(0.0000003)).toBe(300);
    expect(usdToUnits(10)).toBe(10_000_000_000);
    expect(usdToUnits(1e-10)).toBe(1);
    expect(usdToUnits(0.1 + 0.2)).toBe(300_000_001); // 0.30000000000000004 rounds up
  });

  it('prices one call exactly, rounding up once', () => {
    const gpt4o = { input: new TokenPrice(2.5), cached: new TokenPrice(1.25), output: new TokenPrice(10) };
    // 1000 input (400 cached) and 500 output tokens of gpt-4o: 600*2.5 + 400*1.25 + 500*10 = 7000 per million = $0.007.
    expect(TokenPrice.costUnits([[gpt4o.input, 600], [gpt4o.cached, 400], [gpt4o.output, 500]])).toBe(7_000_000);
    // One token at $0.075 per million is 75 nano-dollars; at $0.0375 it is 37.5, rounded up to 38.
    expect(TokenPrice.costUnits([[new TokenPrice(0.075), 1]])).toBe(75);
    expect(TokenPrice.costUnits([[new TokenPrice(0.0375), 1]])).toBe(38);
    expect(TokenPrice.costUnits([[new TokenPrice(0.0375), 1], [new TokenPrice(0.0375), 1]])).toBe(75);
  });

  it('costUnits prices raw [USD per million, tokens] lines the same way, and refuses bad numbers', () => {
    expect(costUnits([[2.5, 600], [1.25, 400], [10, 500]])).toBe(7_000_000);
    expect(costUnits([[0.0375, 1], [0.0375, 1]])).toBe(75);
    for (const bad of [[[-1, 10]], [[NaN, 10]], [[1, 1.5]], [[1, -1]], [[1, Infinity]]] as Array<Array<[number, number]>>) {
      expect(() => costUnits(bad)).toThrow(InvalidInputError);
    }
  });
});

describe('sha256', () => {
  it('matches the standard test vectors', () => {
    const hex = (bytes: Uint8Array) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
    expect(hex(sha256(new TextEncoder().encode('abc')))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(hex(sha256(new Uint8Array(0)))).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(hex(sha256(new TextEncoder().encode('a'.repeat(1_000))))).toBe('41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3');
  });
});

describe('call pricing', () => {
  it('the fast path agrees with exact BigInt arithmetic', async () => {
    const fc = (await import('fast-check')).default;
    const price = fc.integer({ min: 0, max: 1_000_000 }).chain((digits) =>
      fc.integer({ min: 0, max: 8 }).map((decimals) => digits / 10 ** decimals),
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(price, fc.integer({ min: 0, max: 5_000_000 })), { minLength: 1, maxLength: 3 }), (parts) => {
        const priced = parts.map(([usd, tokens]) => [new TokenPrice(usd), tokens] as const);
        // Reference: prices in 10^-8 USD per million tokens, so the sum is in 10^-14 USD per token;
        // units are 10^-9 USD, so divide by 10^5, rounding up.
        let exact = 0n;
        for (const [usd, tokens] of parts) exact += BigInt(Math.round(usd * 1e8)) * BigInt(tokens);
        const units = (exact + 99_999n) / 100_000n;
        expect(TokenPrice.costUnits(priced)).toBe(Number(units));
      }),
    );
  });
});
