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
  if (/^(gpt-4|gpt-3\.5|gpt-35|text-embedding-(3-|ada-002))/.test(name)) return 'cl100k_base';
  return undefined;
}

// Text that looks like a special token (`<|endoftext|>`) is counted as the plain text the API sees.
const PLAIN_TEXT = { allowedSpecial: new Set<string>(), disallowedSpecial: new Set<string>() };

/** Counts `text` with a loaded encoder. */
export function countWith(encoder: Encoder, text: string): number {
  return text === '' ? 0 : encoder.countTokens(text, PLAIN_TEXT);
}

/**
 * The longest run of letters (or of symbols, or of white space) counted with the tokenizer. Such a
 * run is one pre-token, and a BPE merges within a pre-token in time that grows with the square of its
 * length, so one long run would hold the event loop (apps/bench/README.md). Longer runs are counted
 * as their UTF-8 bytes, which no BPE exceeds (every token is at least one byte).
 */
const LONGEST_EXACT_RUN = 32;
const LONG_RUN = new RegExp(`[\\p{L}\\p{M}]{${LONGEST_EXACT_RUN + 1},}|[^\\s\\p{L}\\p{N}]{${LONGEST_EXACT_RUN + 1},}|\\s{${LONGEST_EXACT_RUN + 1},}`, 'gu');
/** Text counted in one turn of the event loop: a longer prompt yields to other work between slices. */
const SLICE_CHARS = 16_384;
/** Text counted with the tokenizer per estimate; the rest is bounded by its UTF-8 bytes. */
const MOST_EXACT_CHARS = 262_144;
/** The longest token of the encodings this package loads, in UTF-8 bytes: a lower bound's divisor. */
const LONGEST_TOKEN_BYTES = 128;

/** Node's native UTF-8 length, where the runtime has `Buffer` (not in browsers or edge runtimes). */
const nativeUtf8Bytes = (globalThis as { Buffer?: { byteLength(text: string, encoding: 'utf8'): number } }).Buffer;

/** The UTF-8 length of `text` (a lone surrogate as the three bytes of U+FFFD): an upper bound of any byte-level BPE's token count. */
export function utf8Bytes(text: string): number {
  if (nativeUtf8Bytes) return nativeUtf8Bytes.byteLength(text, 'utf8');
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) bytes += 1;
    else if (code < 0x800) bytes += 2;
    else if (code >= 0xd800 && code <= 0xdbff && isLowSurrogate(text.charCodeAt(i + 1))) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

const isLowSurrogate = (code: number) => code >= 0xdc00 && code <= 0xdfff;

/**
 * Counts texts with an exact tokenizer at a cost that grows linearly with their length and never
 * holds the event loop for long. What cannot be tokenized in linear time (a long run, and whatever
 * lies beyond the first `MOST_EXACT_CHARS` of all the texts given) is bounded from its UTF-8 bytes
 * instead: from above for an estimate (`'upper'`: what a reservation needs; never below the exact
 * count, with two tokens of slack at each cut), from below for output already received
 * (`'lower'`: what partial usage needs, so a cut stream is never charged more than it produced).
 * A long text is counted in slices, yielding between them.
 */
export class BoundedCounter {
  private exactLeft = MOST_EXACT_CHARS;
  private sinceYield = 0;

  constructor(
    private readonly count: (text: string) => number,
    private readonly bound: 'upper' | 'lower',
  ) {}

  async add(text: string): Promise<number> {
    let tokens = 0;
    let start = 0;
    while (start < text.length && this.exactLeft > 0) {
      const end = sliceEnd(text, start);
      const slice = end - start === text.length ? text : text.slice(start, end);
      if (start > 0 && this.bound === 'upper') tokens += 2; // the cut between two slices
      tokens += this.exactly(slice);
      this.exactLeft -= slice.length;
      this.sinceYield += slice.length;
      start = end;
      if (this.sinceYield >= SLICE_CHARS) {
        this.sinceYield = 0;
        await yieldTurn();
      }
    }
    if (start === text.length) return tokens;
    // Past the allowance, the rest is bounded in one piece: its byte length costs little, and cutting it would only add slack.
    if (start > 0 && this.bound === 'upper') tokens += 2;
    return tokens + this.bounded(start === 0 ? text : text.slice(start));
  }

  /** The tokenizer's count, with each long run cut out and bounded. */
  private exactly(slice: string): number {
    let bounded = 0;
    // From above, a space keeps the run's neighbours apart (and two tokens cover the seams). From
    // below, the neighbours may merge, which only lowers the count, but the run's first and last
    // tokens may be ones it shared with them (a space before punctuation): those two are not counted.
    const upper = this.bound === 'upper';
    const rest = slice.replace(LONG_RUN, (run) => {
      bounded += upper ? this.bounded(run) + 2 : Math.max(0, this.bounded(run) - 2);
      return upper ? ' ' : '';
    });
    return this.count(rest) + bounded;
  }

  private bounded(text: string): number {
    const bytes = utf8Bytes(text);
    return this.bound === 'upper' ? bytes : Math.ceil(bytes / LONGEST_TOKEN_BYTES);
  }
}

/**
 * Lets other work run: `setImmediate` where the runtime has it (Node: after pending I/O, without
 * the millisecond a timer waits), a timer elsewhere.
 */
const yieldTurn: () => Promise<void> =
  typeof globalThis.setImmediate === 'function' ? () => new Promise((resolve) => setImmediate(resolve)) : () => new Promise((resolve) => setTimeout(resolve, 0));

/** Where the slice starting at `start` ends: at white space where it can, so no pre-token is cut in two. */
function sliceEnd(text: string, start: number): number {
  const end = start + SLICE_CHARS;
  if (end >= text.length) return text.length;
  for (let i = end; i > start + SLICE_CHARS / 2; i--) if (isBreak(text.charCodeAt(i))) return i;
  return end;
}

/** A space, tab or line break: where a pre-token ends. (Other white space only adds a seam's slack.) */
function isBreak(code: number): boolean {
  return code === 32 || code === 10 || code === 9 || code === 13;
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
