import { ConfigurationError, InvalidInputError, TollgateError, type Decision } from '@tollgate/core';

export { describeValue as describe } from '@tollgate/core';

const PREFIX = '[tollgate] [llm]';

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
  }
}
