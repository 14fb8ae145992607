import type { Demand } from '../pricing/demand.js';
import type { Identity } from '../policy/identity.js';
import type { AcquireDecision, AcquireOptions, Limiter } from './limiter-types.js';
import type { MaybePromise } from '../util/sync.js';

/**
 * What a limiter made by `createLimiter` offers the framework-neutral HTTP layer of this package,
 * beyond the public `Limiter` (keyed by symbols nothing outside core can name). An app may hand an
 * adapter any `Limiter` (a wrapper, a test double): the HTTP layer then falls back to the public API.
 */
export const acquireNow = Symbol('tollgate.acquireNow');
export const scopesUsed = Symbol('tollgate.scopesUsed');

export interface InternalLimiter extends Limiter {
  /** `acquire`, without its promise when the store answers synchronously; throws bad input synchronously. */
  [acquireNow](identity: Identity, demand?: Demand, options?: AcquireOptions): MaybePromise<AcquireDecision>;
  /** The scopes the limits key on (`undefined`: they depend on the identity). */
  readonly [scopesUsed]: ReadonlySet<string> | undefined;
}

export function isInternalLimiter(limiter: Limiter): limiter is InternalLimiter {
  return typeof (limiter as Partial<InternalLimiter>)[acquireNow] === 'function';
}
