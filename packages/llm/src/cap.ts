import { outputFormat, type OutputFormat } from './formats/index.js';
import type { Json } from './json.js';
import { capOutput } from './output.js';

/** Options of `withOutputCap`. */
export interface OutputCapOptions {
  /**
   * The field to set when the request sets none (`'max_tokens'` for chat servers that predate
   * `max_completion_tokens`).
   * @default the format's first: 'max_completion_tokens', 'max_output_tokens' or 'max_tokens'
   * @example { field: 'max_tokens' }
   */
  field?: string;
}

/**
 * `body` with its output capped at `cap` tokens per choice: every output-limit field it sets is
 * lowered to `cap` (none is raised), or, when it sets none, the format's field is set to `cap`.
 * Send a call with the output its lease reserved as its cap, and an upstream that honours the cap
 * cannot spend past the reservation. Throws `InvalidInputError` for a limit that is not a positive
 * whole number.
 *
 * @example
 * const demand = await estimateChatCompletion(body, { prices });
 * const sent = withOutputCap(body, 'openai-chat', demand.outputTokens / (body.n ?? 1));
 */
export function withOutputCap(body: Json, format: OutputFormat, cap: number, options?: OutputCapOptions): Json {
  return capOutput(body, outputFormat(format).output.fields, cap, options?.field);
}
