/**
 * The prefix of a Tollgate message: `[tollgate]`, then the package that speaks, as
 * `[tollgate] [store-redis]`. Every package builds its errors' and warnings' prefix with it.
 *
 * @param packageName - The package's folder name (`store-redis`, `adapter-express`, `llm`), or none for core.
 * @example
 * throw new ConfigurationError(`${errorPrefix('store-redis')} clock must be a function`);
 * // ConfigurationError: [tollgate] [store-redis] clock must be a function
 */
export function errorPrefix(packageName?: string): string {
  return packageName === undefined ? '[tollgate]' : `[tollgate] [${packageName}]`;
}

/**
 * Every error Tollgate throws is a `TollgateError`, so one `instanceof` check catches them all.
 * Messages start with `[tollgate]` (and the package, outside core; see {@link errorPrefix}) and say
 * what to fix.
 */
export class TollgateError extends Error {
  override name = 'TollgateError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message.startsWith(errorPrefix()) ? message : `${errorPrefix()} ${message}`, options);
  }
}

/** A limiter or store was set up wrongly: a malformed limit, an unknown tier, a missing option. */
export class ConfigurationError extends TollgateError {
  override name = 'ConfigurationError';
}

/** A call got input it cannot account for: a NaN token count, a non-string identity value. Nothing was charged. */
export class InvalidInputError extends TollgateError {
  override name = 'InvalidInputError';
}

/** A model has no price, so its cost cannot be reserved or recorded. Nothing was charged. */
export class UnknownModelError extends InvalidInputError {
  override name = 'UnknownModelError';
  constructor(readonly model: string) {
    super(
      `no price is known for model "${model}": add it to the price table, or pass \`cost\` (USD) with the demand or usage`,
    );
  }
}

/** The store failed or answered something unusable. */
export class StoreError extends TollgateError {
  override name = 'StoreError';
}

/** The store did not answer within `timeoutMs`. */
export class StoreTimeoutError extends StoreError {
  override name = 'StoreTimeoutError';
  constructor(readonly timeoutMs: number) {
    super(`the store did not answer within ${timeoutMs} ms (timeoutMs)`);
  }
}
