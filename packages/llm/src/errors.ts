import { ConfigurationError, DEFAULT_HEADER_FAMILIES, errorPrefix, InvalidInputError, refusalResponse, TollgateError, type Decision, type HttpRefusal } from '@tollgate/core';

export { describeValue } from '@tollgate/core';

const PREFIX = errorPrefix('llm');

/** An `InvalidInputError` with this package's prefix: a request or response it cannot account for. */
export function invalidInput(message: string): InvalidInputError {
  return new InvalidInputError(`${PREFIX} ${message}`);
}

/** A `ConfigurationError` with this package's prefix. */
export function configurationError(message: string): ConfigurationError {
  return new ConfigurationError(`${PREFIX} ${message}`);
}

/**
 * An LLM call the limiter (or the lease's own caps) refused: the call was not made and nothing was
 * charged. `decision` says why (`reason`, `deniedBy`, `retryAfterMs`).
 *
 * @example
 * try { await openai.chat.completions.create(body) }
 * catch (error) { if (error instanceof LlmRefusedError) res.status(429).json({ retryAfterMs: error.retryAfterMs }) }
 */
export class LlmRefusedError extends TollgateError {
  override name = 'LlmRefusedError';
  /** Ms until the same call would pass (`Infinity` if it never can). */
  readonly retryAfterMs: number;
  /**
   * The HTTP status an API would answer the refusal with, as the framework adapters do: 429 when a
   * limit refused, 503 when the store failed, 403 when the caller matches no limit.
   */
  readonly status: HttpRefusal['status'];
  /** The refusal's headers (lowercase): `retry-after`, `retry-after-ms`, `x-should-retry`, `ratelimit`, … */
  readonly headers: Record<string, string>;
  /** The refusal's OpenAI-style JSON body. */
  readonly body: HttpRefusal['body'];
  constructor(readonly decision: Decision) {
    const limit = decision.deniedBy[0]?.name;
    const why =
      decision.reason === 'limited' || decision.reason === 'over-budget'
        ? `limit "${limit}" refused it; retry in ${decision.retryAfterMs} ms`
        : decision.reason === 'lease-cap'
          ? `the lease's cap ${limit ?? ''} is reached`.replace('  ', ' ')
          : decision.reason === 'released'
            ? 'the lease was already released'
            : decision.reason === 'no-identity'
              ? "the identity matches none of the limiter's limits (identify the caller)"
              : `the store failed (${decision.reason}) and onStoreError denies`;
    super(`${PREFIX} the LLM call was not made: ${why}`);
    this.retryAfterMs = decision.retryAfterMs;
    const response = refusalResponse(decision, DEFAULT_HEADER_FAMILIES, Date.now());
    this.status = response.status;
    this.headers = response.headers;
    this.body = response.body;
  }
}
