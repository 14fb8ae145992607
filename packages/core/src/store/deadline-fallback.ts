import { StoreError, StoreTimeoutError, TollgateError } from '../errors.js';
import { compensation } from './compensation.js';
import type { Store, StoreBatch, StoreResult } from './contract.js';
import { Deadlines } from './deadlines.js';
import type { Failure, Outcome, StoreErrorPolicy } from './failure-policy.js';
import { andThen, isPromise, type MaybePromise } from '../util/sync.js';

function asStoreError(error: unknown): StoreError {
  if (error instanceof StoreError) return error;
  if (error instanceof TollgateError) throw error; // invalid input or configuration: not a store failure
  return new StoreError(`the store failed: ${(error as Error)?.message ?? String(error)}`, { cause: error });
}

/**
 * Calls a store under a deadline, and applies the failure policy (`onStoreError`) when a call fails
 * or misses it: what the limiter and its leases send every batch through.
 */
export class DeadlineFallback {
  private readonly deadlines: Deadlines;

  constructor(
    readonly store: Store,
    private readonly timeoutMs: number,
    private readonly onStoreError: StoreErrorPolicy,
    private readonly localStore?: Store,
  ) {
    this.deadlines = new Deadlines(timeoutMs);
  }

  /** The same deadline on the local store, for leases whose decision was made there. */
  local(): DeadlineFallback {
    return new DeadlineFallback(this.localStore!, this.timeoutMs, 'deny');
  }

  /**
   * A checked batch (a decision), its outcome handed to `then`. Store failures never throw: they
   * become an outcome per `onStoreError`. A batch that timed out but later succeeded is
   * compensated, so a request reported as refused is never charged. Synchronous when the store is;
   * with a remote store, `then` runs inside the one promise that bounds the call (no promise more).
   */
  decide<T>(batch: StoreBatch, then: (outcome: Outcome) => T): MaybePromise<T> {
    let pending: MaybePromise<StoreResult>;
    try {
      pending = this.apply(batch);
    } catch (error) {
      return andThen(this.failed(batch, error), then);
    }
    if (!isPromise(pending)) return then({ kind: 'decided', result: pending, store: this.store });
    return this.bounded(
      batch,
      pending,
      (result) => then({ kind: 'decided', result, store: this.store }),
      (error) => andThen(this.failed(batch, error), then),
    );
  }

  private failed(batch: StoreBatch, error: unknown): MaybePromise<Outcome> {
    const storeError = asStoreError(error);
    const failure: Failure = {
      reason: storeError instanceof StoreTimeoutError ? 'timeout' : 'store-error',
      error: storeError,
      fallback: this.onStoreError,
    };
    if (this.onStoreError !== 'local') return { kind: 'failed', failure };
    const local = this.localStore!.apply(batch);
    const decided = (result: StoreResult): Outcome => ({ kind: 'decided', result, store: this.localStore!, failure });
    return isPromise(local) ? local.then(decided) : decided(local);
  }

  /** An unconditional batch (settling a lease, reading, resetting): failures throw `StoreError`. */
  settle(batch: StoreBatch): MaybePromise<StoreResult> {
    let pending: MaybePromise<StoreResult>;
    try {
      pending = this.apply(batch);
    } catch (error) {
      throw asStoreError(error);
    }
    if (!isPromise(pending)) return pending;
    return this.bounded(batch, pending, (result) => result, (error) => {
      throw asStoreError(error);
    });
  }

  /**
   * Takes back a batch that landed after its caller was told it failed. Best effort: if this fails
   * too, the charges expire with their windows.
   */
  private compensate(batch: StoreBatch, at: number): void {
    const undo = compensation(batch, at);
    if (undo.adjustments.length === 0) return;
    try {
      const pending = this.store.apply(undo);
      if (isPromise(pending)) pending.catch(() => {});
    } catch {
      // Nothing more to do: see above.
    }
  }

  private apply(batch: StoreBatch): StoreResult | Promise<StoreResult> {
    // Nothing applies to this caller: no reason to pay a round trip.
    if (batch.charges.length === 0 && batch.adjustments.length === 0) return { now: Date.now(), allowed: true, readings: [] };
    return this.store.apply(batch);
  }

  /**
   * A remote store's answer, bounded by the timeout and mapped in the same step, so a remote call
   * costs one promise of ours: `done` maps an answer in time, `failed` an error or the timeout (it
   * may throw, rejecting). An answer that arrives after the timeout is taken back if it charged.
   */
  private bounded<T>(batch: StoreBatch, pending: Promise<StoreResult>, done: (result: StoreResult) => T, failed: (error: unknown) => MaybePromise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let timedOut = false;
      const fail = (error: unknown) => {
        try {
          resolve(failed(error));
        } catch (thrown) {
          reject(thrown);
        }
      };
      const deadline = this.deadlines.start(() => {
        timedOut = true;
        fail(new StoreTimeoutError(this.timeoutMs));
      });
      pending.then(
        (result) => {
          this.deadlines.settle(deadline);
          if (!timedOut) resolve(done(result));
          else if (result.allowed && !batch.dryRun) this.compensate(batch, result.now);
        },
        (error: unknown) => {
          this.deadlines.settle(deadline);
          if (!timedOut) fail(error);
        },
      );
    });
  }
}
