import type { CounterAlgorithm } from '../contract.js';
import type { CounterReader } from './model.js';

type SlotsAlgorithm = Extract<CounterAlgorithm, { type: 'slots' }>;

/** Lease id → time its slot expires. */
export type SlotsState = Record<string, number>;

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

  used: (state) => (state ? Object.keys(state).length : 0),

  resetAt: (state, _algorithm, now) => (state ? slotsModel.expiresAt(state, _algorithm) : now),

  retryAt(state, { limit }, need, now) {
    if (need > limit) return Infinity;
    const expiries = state ? Object.values(state).sort((a, b) => a - b) : [];
    const excess = expiries.length + need - limit;
    return excess <= 0 ? now : expiries[excess - 1]!;
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

  expiresAt: (state) => Math.max(...Object.values(state)),
};
