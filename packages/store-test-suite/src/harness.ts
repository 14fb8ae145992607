import { createLimiter, type Limiter, type LimitConfig, type LimiterOptions, type Store } from '@tollgate/core';
import { manualClock, type ManualClock } from './clock.js';
import type { StoreSuiteOptions } from './options.js';

let testCount = 0;

/**
 * The suite checks what stores decide, not how fast: a deadline far beyond any healthy round trip,
 * so a loaded CI machine (hundreds of parallel HTTP requests for a remote store) cannot turn a
 * decision into a timeout. Tests may still pass their own.
 */
const SUITE_TIMEOUT_MS = 15_000;

/** The per-test store, clock and a limiter factory whose keys no other test shares. */
export class Harness<S extends Store = Store> {
  clock!: ManualClock;
  store!: S;
  private prefix = '';

  constructor(private readonly options: StoreSuiteOptions<S>) {}

  async start(): Promise<void> {
    this.clock = manualClock();
    this.store = await this.options.createStore(this.clock);
    this.prefix = `suite${++testCount}-${Math.random().toString(36).slice(2, 8)}`;
  }

  async stop(): Promise<void> {
    await this.options.closeStore?.(this.store);
  }

  limiter(limits: LimitConfig[], options: Partial<LimiterOptions> = {}): Limiter {
    return createLimiter({ store: this.store, clock: this.clock, prefix: this.prefix, limits, timeoutMs: SUITE_TIMEOUT_MS, ...options });
  }

  /** A second limiter on the same store and keys, as another app server would have. */
  reference(limits: LimitConfig[], options: Partial<LimiterOptions> = {}): { limiter: Limiter; store: Store } {
    const store = this.options.createReference(this.clock);
    return { store, limiter: createLimiter({ store, clock: this.clock, prefix: this.prefix, limits, timeoutMs: SUITE_TIMEOUT_MS, ...options }) };
  }
}
