import type { Store } from '@tollgate/core';
import type { ManualClock } from './clock.js';

/** What a store's test file gives the suite. */
export interface StoreSuiteOptions<S extends Store = Store> {
  /** Shown in the suite's title. */
  name: string;
  /**
   * A store whose time is `clock` (stores that read a server clock need a test-only override).
   * Called once per test; tests keep apart by using a fresh limiter prefix each.
   */
  createStore(clock: ManualClock): S | Promise<S>;
  /** Called after each test with the store it created. */
  closeStore?(store: S): void | Promise<void>;
  /** The reference for the differential test: usually `new MemoryStore({ clock })`. */
  createReference(clock: ManualClock): Store;
  /**
   * Random operation sequences the differential test runs.
   * @default 40
   */
  differentialRuns?: number;
  /** Store-specific tests, registered inside the suite's `describe`. */
  additionalTests?(): void;
}
