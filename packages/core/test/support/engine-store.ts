import { ALL_ALGORITHMS, applyBatch, type Store, type StoreBatch, type StoreResult } from '../../src/index.js';

/**
 * The reference engine over a plain Map, for core's own tests (core cannot depend on
 * @tollgate/store-memory, which depends on core). `calls` counts round trips.
 */
export class EngineStore implements Store {
  readonly capabilities = { algorithms: ALL_ALGORITHMS };
  readonly states = new Map<string, unknown>();
  calls = 0;

  constructor(private readonly clock: () => number) {}

  apply(batch: StoreBatch): StoreResult {
    this.calls++;
    return applyBatch(
      {
        get: ({ identity, field }) => this.states.get(`${identity.key} ${field}`),
        set: ({ identity, field }, state) => {
          if (state === undefined) this.states.delete(`${identity.key} ${field}`);
          else this.states.set(`${identity.key} ${field}`, state);
        },
      },
      batch,
      this.clock(),
    );
  }
}

/** A clock tests move by hand. */
export function manualClock(start = Date.UTC(2026, 0, 15, 12, 0, 0)) {
  let now = start;
  const clock = () => now;
  clock.advance = (ms: number) => {
    now += ms;
  };
  clock.set = (time: number) => {
    now = time;
  };
  return clock;
}
