import type { StoreError } from '../errors.js';
import type { Store, StoreResult } from './contract.js';

/**
 * What to do when the store fails or times out on a decision.
 * - `'deny'`: refuse (the decision's reason says why). Safe for money: an outage never becomes an
 *   unmetered window.
 * - `'allow'`: admit without counting. Keeps serving; nothing is enforced until the store is back.
 * - `'local'`: decide against `localStore` (in-process, the same policy), until the store answers again.
 */
export type StoreErrorPolicy = 'deny' | 'allow' | 'local';

/** How a checked batch went. */
export type Outcome =
  | { readonly kind: 'decided'; readonly result: StoreResult; readonly store: Store; readonly failure?: Failure }
  | { readonly kind: 'failed'; readonly failure: Failure };

export interface Failure {
  readonly reason: 'timeout' | 'store-error';
  readonly error: StoreError;
  readonly fallback: StoreErrorPolicy;
}
