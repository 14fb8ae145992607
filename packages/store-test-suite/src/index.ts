/**
 * The conformance suite every Tollgate store runs under vitest.
 *
 * @module @tollgate/store-test-suite
 */
import type { Store } from '@tollgate/core';
import { afterEach, beforeEach, describe } from 'vitest';
import { differentialCase } from './differential.js';
import { Harness } from './harness.js';
import { leaseCases } from './leases.js';
import type { StoreSuiteOptions } from './options.js';
import { windowCases } from './windows.js';

export { manualClock, type ManualClock } from './clock.js';
export type { StoreSuiteOptions } from './options.js';
export { AI_POLICY } from './policies.js';
export { usedOf } from './usage.js';

/**
 * Registers the conformance suite for one store. Every test drives a real limiter over the store
 * with a controlled clock; the differential test holds it to the reference store's decisions.
 *
 * @example
 * runStoreTestSuite({
 *   name: 'memory',
 *   createStore: (clock) => new MemoryStore({ clock }),
 *   createReference: (clock) => new MemoryStore({ clock }),
 * });
 */
export function runStoreTestSuite<S extends Store>(options: StoreSuiteOptions<S>): void {
  describe(`store conformance: ${options.name}`, () => {
    const harness = new Harness(options);
    beforeEach(() => harness.start());
    afterEach(() => harness.stop());
    windowCases(harness);
    leaseCases(harness);
    differentialCase(harness, options.differentialRuns ?? 40);
    options.additionalTests?.();
  });
}
