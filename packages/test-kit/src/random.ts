// No vitest here: the benchmarks use it outside a test run.

/**
 * A small deterministic generator of numbers in [0, 1) (mulberry32): the same seed gives the same
 * sequence, so a failing test replays from its seed and a benchmark sends the same load every run.
 */
export function seededRandom(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}
