import type { CounterAlgorithm } from '../contract.js';
import type { CounterReader } from './model.js';

type SlotsAlgorithm = Extract<CounterAlgorithm, { type: 'slots' }>;

/** Lease id → time its slot expires. */
export type SlotsState = Record<string, number>;

/** How many slots are held (without the array `Object.keys` would allocate). */
function held(state: SlotsState | undefined): number {
  let count = 0;
  for (const _ in state) count++;
  return count;
}

/** Leases in flight. A slot is held until released, or until `ttlMs` after its last touch. */
export const slotsModel: CounterReader<SlotsState, SlotsAlgorithm> & {
  hold(state: SlotsState | undefined, algorithm: SlotsAlgorithm, leaseId: string, now: number): SlotsState;
  release(state: SlotsState | undefined, leaseId: string): SlotsState | undefined;
  touch(state: SlotsState | undefined, algorithm: SlotsAlgorithm, leaseId: string, now: number): SlotsState | undefined;
} = {
  prune(state, _algorithm, now) {
    if (!state) return undefined;
    let live = 0;
    for (const id in state) {
      if (state[id]! <= now) delete state[id];
      else live++;
    }
    return live === 0 ? undefined : state;
  },

  used: (state) => held(state),

  resetAt: (state, _algorithm, now) => (state ? slotsModel.expiresAt(state, _algorithm) : now),

  retryAt(state, { limit }, need, now) {
    if (need > limit) return Infinity;
    const excess = held(state) + need - limit;
    // Only a full counter has to know which slots free first: every decision of a request asks.
    if (excess <= 0) return now;
    return Object.values(state!).sort((a, b) => a - b)[excess - 1]!;
  },

  hold(state, { ttlMs }, leaseId, now) {
    const held = state ?? {};
    held[leaseId] = now + ttlMs;
    return held;
  },

  release(state, leaseId) {
    if (!state) return undefined;
    delete state[leaseId];
    for (const _ in state) return state;
    return undefined;
  },

  touch(state, { ttlMs }, leaseId, now) {
    if (state && leaseId in state) state[leaseId] = now + ttlMs;
    return state;
  },

  expiresAt: (state) => {
    let last = -Infinity;
    for (const id in state) if (state[id]! > last) last = state[id]!;
    return last;
  },
};
