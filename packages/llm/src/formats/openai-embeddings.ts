import type { Usage } from '@tollgate/core';
import { describeValue, invalidInput } from '../errors.js';
import { estimateRequest, type EstimateOptions, type LlmDemand } from '../estimate.js';
import type { Json } from '../json.js';
import type { Prompt } from '../prompt.js';
import { reports, tokenCount, usageOf, type CallTokens, type UsageOptions } from '../usage.js';
import { wireFormat } from './format.js';

const isTokenId = (value: unknown): boolean => Number.isSafeInteger(value) && (value as number) >= 0;
const isTokenIds = (value: unknown): value is number[] => Array.isArray(value) && value.every(isTokenId);

/** Adds an embeddings `input`: a string, an array of token ids, or an array of strings or of arrays of token ids. */
function addInput(prompt: Prompt, input: unknown): void {
  if (typeof input === 'string') {
    prompt.texts.push(input);
    return;
  }
  // Token ids are tokens already: each counts one.
  if (isTokenIds(input)) {
    prompt.fixed += input.length;
    return;
  }
  if (!Array.isArray(input)) throw invalidInput(`the embeddings request's input must be a string or an array of strings or of token ids, got ${describeValue(input)}`);
  input.forEach((item, index) => {
    if (typeof item === 'string') prompt.texts.push(item);
    else if (isTokenIds(item)) prompt.fixed += item.length;
    else throw invalidInput(`the embeddings request's input[${index}] must be a string or an array of token ids, got ${describeValue(item)}`);
  });
}

/**
 * Estimates an OpenAI embeddings request (`{ model, input }`) before the call: its input tokens,
 * counted with the model's tokenizer (`text-embedding-3-small`, `-3-large` and `-ada-002` use
 * `cl100k_base`) or the conservative ratio, token ids one each, every input of an array summed.
 * An embedding generates no output, so nothing is reserved for it.
 *
 * @example await estimateEmbeddings({ model: 'text-embedding-3-small', input: ['first document', 'second document'] })
 */
export function estimateEmbeddings(body: unknown, options?: EstimateOptions): Promise<LlmDemand> {
  return estimateRequest(body, 'the embeddings request', options, (request) => {
    const prompt: Prompt = { texts: [], fixed: 0 };
    addInput(prompt, request.input);
    return { prompt, outputTokens: 0 };
  });
}

/**
 * The tokens of an embeddings `usage` object: its `prompt_tokens`, or its `total_tokens` when that
 * is all it reports (an embedding has no output, so its total is its input); `undefined` when it
 * reports neither.
 */
function embeddingTokens(usage: Json, model: string | undefined): CallTokens | undefined {
  const field = reports(usage, 'prompt_tokens') ? 'prompt_tokens' : 'total_tokens';
  if (!reports(usage, field)) return undefined;
  return { model, inputTokens: tokenCount(usage[field], `usage.${field}`), outputTokens: 0 };
}

/**
 * The usage of an OpenAI embeddings response (`usage.prompt_tokens`), or `undefined` when it
 * carries none. Throws `InvalidInputError` for a count that is not a whole, non-negative number.
 *
 * @example await lease.record(openaiEmbeddingsUsage(response, { prices, model: body.model })!)
 */
export function openaiEmbeddingsUsage(response: unknown, options?: UsageOptions): Usage | undefined {
  return usageOf(response, 'an embeddings response', embeddingTokens, options);
}

/** OpenAI embeddings: `POST /v1/embeddings`. Input only: no output to cap, and no stream. */
export const openaiEmbeddings = wireFormat({
  name: 'openai-embeddings',
  sdkCall: 'embeddings.create',
  path: '/embeddings',
  estimate: estimateEmbeddings,
  usage: openaiEmbeddingsUsage,
});
