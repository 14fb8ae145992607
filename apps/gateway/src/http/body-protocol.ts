import type { LongTexts } from './long-texts.js';

/** What the event loop sends the body thread: a large body's bytes, and the models its texts may be estimated for. */
export interface BodyToParse {
  readonly id: number;
  readonly bytes: Uint8Array;
  readonly models: readonly string[];
}

/** Why a body is no request: not JSON (or prototype poisoning), nested too deep, or an object key too long. */
export type BodyRefusal = 'json' | 'depth' | 'key';

/** What the body thread answers: the body with its long texts taken out, a refusal, or its own failure. */
export type ParsedBody =
  | { readonly id: number; readonly body: unknown; readonly texts: LongTexts | null }
  | { readonly id: number; readonly refused: BodyRefusal }
  | { readonly id: number; readonly failed: string };

/** The thread's start-up data: what each stand-in starts with (`STAND_IN_PREFIX`, made once per process). */
export interface BodyThreadData {
  readonly standInPrefix: string;
}

/** A string this long, in a large body, is a long text; no object key may be this long. */
export const LONG_TEXT_CHARS = 2048;
