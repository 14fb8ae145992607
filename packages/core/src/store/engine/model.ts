import type { CounterAlgorithm } from '../contract.js';

/**
 * How one counter algorithm reads its state. States are plain JSON-safe objects so that a store can
 * keep them in memory (mutated in place) or serialise them (SQLite). Every function takes the
 * store's `now` and treats a missing state as an empty counter.
 */
export interface CounterReader<S, A extends CounterAlgorithm> {
  /** Drops what has expired by `now` (mutating); `undefined` when nothing is left. */
  prune(state: S | undefined, algorithm: A, now: number): S | undefined;
  /** Units in use (call on a pruned state). */
  used(state: S | undefined, algorithm: A, now: number): number;
  /** When everything in use now will have expired. */
  resetAt(state: S | undefined, algorithm: A, now: number): number;
  /** The earliest time at which `need` (at least 1) more units fit; `now` if they fit already. */
  retryAt(state: S | undefined, algorithm: A, need: number, now: number): number;
  /** After this time the state is equivalent to no state and may be deleted. */
  expiresAt(state: S, algorithm: A): number;
}

/** A counter of amounts (everything but slots): it can be charged and refunded. */
export interface CounterModel<S, A extends CounterAlgorithm> extends CounterReader<S, A> {
  /** Adds `amount` at `now`, unconditionally. */
  add(state: S | undefined, algorithm: A, amount: number, now: number): S;
  /** Gives back up to `amount` of what was charged at `at`, if that charge still counts. */
  refund(state: S | undefined, algorithm: A, amount: number, at: number, now: number): S | undefined;
  /**
   * When a charge of `amount` made at `now` would stop counting on a counter holding nothing else
   * (what `resetAt` reports after adding it to an empty counter), without building that counter.
   */
  chargeExpiresAt(algorithm: A, amount: number, now: number): number;
}
