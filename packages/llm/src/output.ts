import { describeValue, invalidInput } from './errors.js';
import { positiveInteger, type Json } from './json.js';

/** Output tokens reserved, and sent as the cap, when a request sets no output limit. */
export const DEFAULT_MAX_TOKENS = 4096;

// The most output tokens a model accepts as its cap, as the providers' model pages state them
// (https://platform.openai.com/docs/models, https://docs.anthropic.com/en/docs/about-claude/models/overview).
// A model missing here gets `defaultMaxTokens`; a figure here must never be above the provider's,
// or a capped call would be refused. The first pattern that matches wins.
const MAX_OUTPUT_TOKENS: ReadonlyArray<readonly [RegExp, number]> = [
  [/^gpt-4o-2024-05-13$/, 4_096],
  [/^(gpt-4o|gpt-4o-mini|chatgpt-4o-latest)(-\d{4}-\d{2}-\d{2})?$/, 16_384],
  [/^gpt-4\.1(-mini|-nano)?(-\d{4}-\d{2}-\d{2})?$/, 32_768],
  [/^gpt-4-turbo(-preview|-\d{4}-\d{2}-\d{2})?$/, 4_096],
  [/^gpt-4-(1106|0125)-preview$/, 4_096],
  [/^gpt-4(-0613)?$/, 8_192],
  [/^gpt-3\.5-turbo(-1106|-0125)?$/, 4_096],
  [/^(o1|o3|o3-mini|o4-mini)(-\d{4}-\d{2}-\d{2})?$/, 100_000],
  [/^gpt-5(-mini|-nano)?(-\d{4}-\d{2}-\d{2})?$/, 128_000],
  [/^claude-3-(haiku|sonnet|opus)-(\d{8}|latest)$/, 4_096],
  // 8,192 only with a beta header.
  [/^claude-3-5-sonnet-20240620$/, 4_096],
  [/^claude-3-5-(sonnet|haiku)-(\d{8}|latest)$/, 8_192],
  [/^claude-3-7-sonnet-(\d{8}|latest)$/, 64_000],
  [/^claude-opus-4([-.][01])?(-\d{8})?$/, 32_000],
  [/^claude-(sonnet-4([-.]0)?|sonnet-4[-.]5|haiku-4[-.]5|opus-4[-.]5)(-\d{8}|-latest)?$/, 64_000],
];

/** The name the table knows a model by: without a provider prefix (`openai/`, `anthropic:`) or a fine-tune's suffix. */
function tableName(model: string): string {
  let name = model.toLowerCase();
  name = name.slice(name.lastIndexOf('/') + 1);
  if (name.startsWith('ft:')) return name.split(':')[1] ?? '';
  const colon = name.indexOf(':');
  return colon < 0 ? name : name.slice(colon + 1);
}

/**
 * The most output tokens `model` accepts as its cap (`max_tokens` and its kin), when this package's
 * table knows it: OpenAI and Anthropic models whose limit their model pages state.
 *
 * @example maxOutputTokens('gpt-4o') // 16_384
 * @example maxOutputTokens('claude-3-haiku-20240307') // 4_096
 */
export function maxOutputTokens(model: string): number | undefined {
  if (typeof model !== 'string') return undefined;
  const name = tableName(model);
  return MAX_OUTPUT_TOKENS.find(([pattern]) => pattern.test(name))?.[1];
}

/** What a request that sets no output limit may produce (per choice): `defaultMaxTokens`, or the model's maximum when lower. */
function defaultOutputTokens(model: string, defaultMaxTokens: number): number {
  return Math.min(defaultMaxTokens, maxOutputTokens(model) ?? Infinity);
}

/** The output cap (per choice) a request sets itself: the first of its output-limit fields present. */
function requestedCap(body: Json, fields: readonly string[]): number | undefined {
  for (const field of fields) {
    const cap = positiveInteger(body[field], field);
    if (cap !== undefined) return cap;
  }
  return undefined;
}

/** What one choice of a call to `model` may produce: the request's own cap, else the model's default. */
export function outputPerChoice(body: Json, fields: readonly string[], model: string, defaultMaxTokens: number): number {
  return requestedCap(body, fields) ?? defaultOutputTokens(model, defaultMaxTokens);
}

/**
 * `body` with its output capped at `cap` tokens per choice: every one of `fields` it sets is lowered
 * to `cap` (none is raised), or, when it sets none, `field` (the first of `fields` by default) is
 * set to `cap`.
 */
export function capOutput(body: Json, fields: readonly string[], cap: number, field = fields[0]!): Json {
  if (!Number.isSafeInteger(cap) || cap < 1) throw invalidInput(`withOutputCap: cap must be a positive whole number of tokens, got ${describeValue(cap)}`);
  const present = fields.filter((name) => requestedCap(body, [name]) !== undefined);
  if (present.length === 0) return { ...body, [field]: cap };
  const capped: Json = { ...body };
  for (const name of present) capped[name] = Math.min(body[name] as number, cap);
  return capped;
}
