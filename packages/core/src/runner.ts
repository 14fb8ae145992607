import { StoreError, StoreTimeoutError, TollgateError } from './errors.js';
import type { Adjustment, Store, StoreBatch, StoreResult } from './store.js';
import { Deadlines } from './deadlines.js';
import { andThen, isPromise, type MaybePromise } from './sync.js';

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

function asStoreError(error: unknown): StoreError {
  if (error instanceof StoreError) return error;
  if (error instanceof TollgateError) throw error; // invalid input or configuration: not a store failure
  return new StoreError(`the store failed: ${(error as Error)?.message ?? String(error)}`, { cause: error });
}

/**
 * The batch that takes back what an applied batch charged at store time `at`: its charges and its
 * `add` adjustments (refunds, releases and touches are safe to have happened). Used when a batch's
 * answer came back after its caller was told it failed, and by stores that split a decision (Redis
 * Cluster) to undo the parts that passed when another refused.
 */
export function compensation(batch: StoreBatch, at: number): StoreBatch {
  const adjustments: Adjustment[] = [];
  for (const { counter, amount, leaseId } of batch.charges) {
    if (counter.algorithm.type === 'slots') adjustments.push({ type: 'release', counter, leaseId: leaseId! });
    else if (amount > 0) adjustments.push({ type: 'refund', counter, amount, at });
  }
  for (const adjustment of batch.adjustments) {
    if (adjustment.type === 'add') adjustments.push({ type: 'refund', counter: adjustment.counter, amount: adjustment.amount, at });
  }
  return { charges: [], dryRun: false, adjustments };
}

/** Runs batches against a store with a deadline and the failure policy. */
export class StoreRunner {
  private readonly deadlines: Deadlines;

  constructor(
    readonly store: Store,
    private readonly timeoutMs: number,
    private readonly onStoreError: StoreErrorPolicy,
    private readonly localStore?: Store,
  ) {
    this.deadlines = new Deadlines(timeoutMs);
  }

  /** A runner bound to the local store, for leases whose decision was made there. */
  local(): StoreRunner {
    return new StoreRunner(this.localStore!, this.timeoutMs, 'deny');
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
