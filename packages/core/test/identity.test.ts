import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeKeyPart } from '../src/index.js';

describe('encodeKeyPart', () => {
  it('leaves plain ids alone', () => {
    expect(encodeKeyPart('user_123@example.com')).toBe('user_123@example.com');
  });

  it('never emits separators, braces, whitespace or control characters', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (value) => {
        expect(encodeKeyPart(value)).toMatch(/^[A-Za-z0-9_.@%#-]*$/);
      }),
    );
  });

  it('is injective: distinct values never share an encoding', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary-ascii', maxLength: 40 }), fc.string({ unit: 'binary', maxLength: 40 }), (a, b) => {
        fc.pre(a !== b);
        expect(encodeKeyPart(a)).not.toBe(encodeKeyPart(b));
      }),
    );
    const tricky = ['a:b', 'a%3Ab', 'a%253Ab', '{a}', '%7Ba%7D', '\uD800', '\uDC00', '\uFFFD', '#x', '%23x'];
    expect(new Set(tricky.map(encodeKeyPart)).size).toBe(tricky.length);
  });

  it('hashes long values to a bounded length, distinctly', () => {
    const long = 'x'.repeat(10_240);
    const encoded = encodeKeyPart(long);
    expect(encoded).toMatch(/^#[A-Za-z0-9_-]{43}$/);
    expect(encodeKeyPart(`${long}y`)).not.toBe(encoded);
    expect(encodeKeyPart(long)).toBe(encoded);
  });
});
