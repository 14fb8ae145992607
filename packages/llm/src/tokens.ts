/**
 * Token counting. OpenAI models are counted with their real BPE encoding (`gpt-tokenizer`), loaded
 * on first use with a dynamic import: importing this package loads no tokenizer, and a process that
 * never estimates an OpenAI request never pays for one (the encodings are megabytes of ranks).
 * Other models are counted by a conservative ratio (see `approximateTokens`).
 */

/** The BPE encodings this package loads. */
export type Encoding = 'o200k_base' | 'cl100k_base';

interface Encoder {
  countTokens(text: string, options?: { allowedSpecial?: Set<string>; disallowedSpecial?: Set<string> }): number;
}

const loaded: Partial<Record<Encoding, Encoder>> = {};
const loading: Partial<Record<Encoding, Promise<Encoder>>> = {};

// Literal specifiers, so bundlers can see (and split out) each encoding.
const importers: Record<Encoding, () => Promise<Encoder>> = {
  o200k_base: () => import('gpt-tokenizer/encoding/o200k_base'),
  cl100k_base: () => import('gpt-tokenizer/encoding/cl100k_base'),
};

/** Loads an encoding (once); later calls resolve at once. */
export function loadEncoding(encoding: Encoding): Promise<Encoder> {
  const ready = loaded[encoding];
  if (ready) return Promise.resolve(ready);
  return (loading[encoding] ??= importers[encoding]().then((module) => {
    loaded[encoding] = module;
    return module;
  }));
}

/** The encoding if it is already loaded. */
export function loadedEncoding(encoding: Encoding): Encoder | undefined {
  return loaded[encoding];
}

/**
 * The BPE encoding of an OpenAI model, or `undefined` for models of other providers. Accepts
 * `openai:gpt-4o`, `openai/gpt-4o` (OpenRouter style) and fine-tune names (`ft:gpt-4o-mini:…`).
 */
export function encodingOf(model: string): Encoding | undefined {
  let name = model.toLowerCase();
  const slash = name.lastIndexOf('/');
  if (name.startsWith('openai/') || name.startsWith('openai:')) name = name.slice(7);
  else if (slash >= 0) return undefined;
  if (name.startsWith('ft:')) name = name.slice(3);
  if (/^(gpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|gpt-oss|chatgpt-4o|o[134](-|$)|codex|computer-use)/.test(name)) return 'o200k_base';
  if (/^(gpt-4|gpt-3\.5|gpt-35)/.test(name)) return 'cl100k_base';
  return undefined;
}

// Text that looks like a special token (`<|endoftext|>`) is counted as the plain text the API sees.
const PLAIN_TEXT = { allowedSpecial: new Set<string>(), disallowedSpecial: new Set<string>() };

/** Counts `text` with a loaded encoder. */
export function countWith(encoder: Encoder, text: string): number {
  return text === '' ? 0 : encoder.countTokens(text, PLAIN_TEXT);
}

/**
 * A conservative count for models without a local tokenizer: one token per 2.5 ASCII characters,
 * one per 2 UTF-8 bytes of other characters of the Basic Multilingual Plane (1 per accented letter,
 * 1.5 per CJK character) and 4 per emoji or other astral character (a byte-level tokenizer never
 * needs more than a token per byte). BPE tokenizers
 * average about 4 ASCII characters a token on English and code and about one token per CJK
 * character, so this over-estimates; the reservation is refunded at release anyway.
 *
 * @example approximateTokens('Hello, world') // 4
 */
export function approximateTokens(text: string): number {
  let ascii = 0;
  let otherBytes = 0;
  let astral = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) ascii++;
    else if (code < 0x800) otherBytes += 2;
    else if (code >= 0xd800 && code <= 0xdbff) {
      // A surrogate pair (emoji and other astral characters): byte-level BPE never needs more
      // than a token per byte, and rare emoji get close to that.
      astral++;
      i++;
    } else otherBytes += 3;
  }
  return Math.ceil((ascii * 2) / 5 + otherBytes / 2) + astral * 4;
}
