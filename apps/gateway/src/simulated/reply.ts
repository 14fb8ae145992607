import { countTokens } from '@tollgate/llm';

/** Words of one token each (with their leading space) in OpenAI's encodings: a reply of n words is n tokens. */
const WORDS = (
  'the gateway keeps every agent within its budget while requests flow through one decision per call and each token is ' +
  'counted before the model answers so a runaway loop stops early cheaper models take over as spending grows and limits reset at midnight'
).split(' ');
const LABEL = '(simulated)';
/** The length of a reply nobody capped: between these many tokens, chosen by the prompt. */
const MIN_NATURAL = 24;
const NATURAL_SPREAD = 96;

/** FNV-1a: the same prompt always gets the same reply. */
export function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** A deterministic reply and its exact token count. */
export interface SimulatedReply {
  text: string;
  tokens: number;
  /** `'length'` when `maxTokens` cut it short, as OpenAI reports it. */
  finishReason: 'stop' | 'length';
  /** The reply in the pieces a stream sends (a few words each). */
  pieces: string[];
}

const WORDS_PER_PIECE = 3;

/**
 * The reply to a prompt: labelled as simulated, then words picked by the prompt's hash, as long as
 * the prompt decides (24 to 119 tokens) or `maxTokens`, whichever is less. Its token count is the
 * model's tokenizer's, so usage is what a real API would report for that text.
 */
export async function simulatedReply(prompt: string, model: string, maxTokens: number | undefined): Promise<SimulatedReply> {
  let seed = hash(`${model}\n${prompt}`);
  const natural = MIN_NATURAL + (seed % NATURAL_SPREAD);
  const target = Math.min(natural, maxTokens ?? Infinity);
  const labelTokens = await countTokens(LABEL, model);
  const words: string[] = labelTokens <= target ? [LABEL] : [];
  let tokens = words.length === 0 ? 0 : labelTokens;
  while (tokens < target) {
    seed = (Math.imul(seed, 1_103_515_245) + 12_345) >>> 0;
    words.push(WORDS[seed % WORDS.length]!);
    tokens++;
  }
  let text = words.join(' ');
  // Counted, not assumed: a tokenizer that merges two words would make the count differ.
  let counted = await countTokens(text, model);
  while (counted > target && words.length > 0) {
    words.pop();
    text = words.join(' ');
    counted = await countTokens(text, model);
  }
  const pieces: string[] = [];
  for (let i = 0; i < words.length; i += WORDS_PER_PIECE) pieces.push((i === 0 ? '' : ' ') + words.slice(i, i + WORDS_PER_PIECE).join(' '));
  return { text, tokens: counted, finishReason: natural > target ? 'length' : 'stop', pieces };
}
