import { describeValue, invalidInput } from './errors.js';
import { isObject } from './json.js';

/** What a prompt is made of: texts to count and tokens known without counting. */
export interface Prompt {
  texts: string[];
  fixed: number;
}

/** Adds a content value (a string, or an array of parts in any of the APIs' shapes). */
export function addContent(prompt: Prompt, content: unknown, imageTokens: number): void {
  if (content === undefined || content === null) return;
  if (typeof content === 'string') {
    prompt.texts.push(content);
    return;
  }
  if (!Array.isArray(content)) {
    addPart(prompt, content, imageTokens);
    return;
  }
  for (const part of content) addPart(prompt, part, imageTokens);
}

export function addPart(prompt: Prompt, part: unknown, imageTokens: number): void {
  if (typeof part === 'string') {
    prompt.texts.push(part);
    return;
  }
  const p = part as Record<string, unknown> | null;
  if (typeof p !== 'object' || p === null) return;
  switch (p.type) {
    case 'text':
    case 'input_text':
    case 'output_text':
      if (typeof p.text === 'string') prompt.texts.push(p.text);
      return;
    case 'refusal':
      if (typeof p.refusal === 'string') prompt.texts.push(p.refusal);
      return;
    case 'thinking':
      if (typeof p.thinking === 'string') prompt.texts.push(p.thinking);
      return;
    case 'image_url':
    case 'input_image':
    case 'image':
      prompt.fixed += imageTokens;
      return;
    case 'tool_use':
      if (typeof p.name === 'string') prompt.texts.push(p.name);
      prompt.texts.push(JSON.stringify(p.input ?? {}));
      prompt.fixed += 4;
      return;
    case 'tool_result':
      addContent(prompt, p.content, imageTokens);
      prompt.fixed += 4;
      return;
    default:
      // Audio, files, documents, reasoning items and anything newer: their JSON, which counts at
      // least what the provider bills for the text they carry.
      prompt.texts.push(JSON.stringify(p));
  }
}

/** Adds tool (or function) definitions by their JSON, plus the `overhead` of the text that wraps them. */
export function addDefinitions(prompt: Prompt, definitions: unknown, what: string, overhead: number): void {
  if (definitions === undefined || definitions === null) return;
  if (!Array.isArray(definitions)) throw invalidInput(`the request's ${what} must be an array, got ${describeValue(definitions)}`);
  if (definitions.length === 0) return;
  prompt.texts.push(JSON.stringify(definitions));
  prompt.fixed += overhead;
}

/** Which prompt-cache writes a request may make: the dearest rate its input can be billed at. */
export type CacheWrite = 'none' | '5m' | '1h';

/**
 * Whether the request marks anything for the prompt cache (`cache_control` on a block, a tool or
 * the request itself), and with which TTL. Anthropic bills what it writes at the cache-write rate,
 * above the plain input rate (1-hour writes above 5-minute ones).
 */
export function cacheWriteOf(value: unknown): CacheWrite {
  if (Array.isArray(value)) return value.reduce<CacheWrite>((dearest, item) => dearer(dearest, cacheWriteOf(item)), 'none');
  if (!isObject(value)) return 'none';
  let dearest: CacheWrite = 'none';
  for (const [key, field] of Object.entries(value)) {
    if (key === 'cache_control' && isObject(field)) dearest = dearer(dearest, field.ttl === '1h' ? '1h' : '5m');
    else if (typeof field === 'object') dearest = dearer(dearest, cacheWriteOf(field));
    if (dearest === '1h') return dearest;
  }
  return dearest;
}

const CACHE_WRITE_ORDER: readonly CacheWrite[] = ['none', '5m', '1h'];
const dearer = (a: CacheWrite, b: CacheWrite): CacheWrite => (CACHE_WRITE_ORDER.indexOf(a) >= CACHE_WRITE_ORDER.indexOf(b) ? a : b);
