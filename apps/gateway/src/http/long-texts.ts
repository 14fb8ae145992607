import { randomBytes } from 'node:crypto';
import type { CountedTexts } from '@tollgate/llm';

/**
 * A large body's long texts, taken out of it in the body thread (`body-thread.ts`), so that the
 * megabytes of a prompt never become strings on the event loop's heap: there, garbage collection
 * of such strings pauses every request at once. The body the handlers see holds a short stand-in
 * for each long text; the estimate counts a stand-in as its text's tokens, counted in the thread;
 * the body sent upstream has the text's JSON spliced back where its stand-in is.
 */
export interface LongTexts {
  /** Each text's JSON form (quotes and escapes included), one after the other, as UTF-8. */
  readonly json: Uint8Array;
  /** Where each text's JSON form ends in `json`. */
  readonly ends: readonly number[];
  /** Each text's tokens by model (its JSON form's, counted from above), for the models it was counted for. */
  readonly tokens: ReadonlyArray<Readonly<Record<string, number>>>;
}

/**
 * What every stand-in of this process starts with, then the text's index in its body. The random
 * part keeps a client from writing a stand-in by chance; one who learns it can only repeat a text of
 * their own body, which is then counted and sent where it appears.
 */
export const STAND_IN_PREFIX = `tollgate-text-${randomBytes(8).toString('hex')}-`;

/** Every stand-in in a string. */
const STAND_IN = new RegExp(`${STAND_IN_PREFIX}(\\d+)`, 'g');

/** The index of the text `standIn` stands for, if its body has one. */
function indexOf(standIn: string, texts: LongTexts): number | undefined {
  const index = Number(standIn.slice(STAND_IN_PREFIX.length));
  return index < texts.ends.length ? index : undefined;
}

/** Where text `index`'s JSON form starts and ends in `texts.json`. */
const rangeOf = (texts: LongTexts, index: number): [number, number] => [index === 0 ? 0 : texts.ends[index - 1]!, texts.ends[index]!];

/**
 * For the estimators: each stand-in counts as its text's tokens for the model, or, for a model its
 * text was not counted for, as its JSON form's UTF-8 bytes (which no byte-level tokenizer exceeds,
 * nor the conservative ratio); a string that only looks like a stand-in counts as its own bytes.
 */
export function countedTexts(texts: LongTexts): CountedTexts {
  return {
    standIn: STAND_IN,
    tokens: (standIn, model) => {
      const index = indexOf(standIn, texts);
      if (index === undefined) return standIn.length;
      const [start, end] = rangeOf(texts, index);
      return texts.tokens[index]![model] ?? end - start;
    },
  };
}

/**
 * The body to send upstream: `body` serialized, with each stand-in replaced by its text's JSON form
 * (without the quotes the stand-in already has); as it is when there are no long texts.
 */
export function serializedBody(body: unknown, texts: LongTexts | null): string | Uint8Array<ArrayBuffer> {
  const serialized = JSON.stringify(body);
  if (texts === null) return serialized;
  const pieces: Uint8Array[] = [];
  let last = 0;
  for (const match of serialized.matchAll(STAND_IN)) {
    const index = indexOf(match[0], texts);
    if (index === undefined) continue;
    const [start, end] = rangeOf(texts, index);
    pieces.push(Buffer.from(serialized.slice(last, match.index)), texts.json.subarray(start + 1, end - 1));
    last = match.index + match[0].length;
  }
  pieces.push(Buffer.from(serialized.slice(last)));
  return Buffer.concat(pieces);
}
