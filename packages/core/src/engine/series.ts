/**
 * A series: parallel arrays of ascending keys (times or segment indexes) and the amounts charged at
 * each. Shared by the log and window counters, whose states are series.
 */

/** Adds `amount` at `key`, merging with an equal key and keeping keys ascending. */
export function addToSeries(keys: number[], amounts: number[], key: number, amount: number): void {
  const last = keys.length - 1;
  if (last < 0 || keys[last]! < key) {
    keys.push(key);
    amounts.push(amount);
    return;
  }
  // Usually `key` is the last one; an earlier key means the clock stepped back.
  const index = keys.findIndex((k) => k >= key);
  if (keys[index] === key) {
    amounts[index]! += amount;
  } else {
    keys.splice(index, 0, key);
    amounts.splice(index, 0, amount);
  }
}

/** Takes up to `amount` from `key` (dropping it when empty); returns how much was taken. */
export function takeFromSeries(keys: number[], amounts: number[], key: number, amount: number): number {
  const index = keys.indexOf(key);
  if (index < 0) return 0;
  const taken = Math.min(amount, amounts[index]!);
  amounts[index]! -= taken;
  if (amounts[index] === 0) {
    keys.splice(index, 1);
    amounts.splice(index, 1);
  }
  return taken;
}

/** The number of leading keys below `bound`. */
export function countBelow(keys: readonly number[], bound: number): number {
  let count = 0;
  while (count < keys.length && keys[count]! < bound) count++;
  return count;
}

/** Drops the first `count` entries. */
export function dropFirst(keys: number[], amounts: number[], count: number): void {
  // Usually one or two expire per call: shift trims in place, where splice would allocate.
  for (let i = 0; i < count; i++) {
    keys.shift();
    amounts.shift();
  }
}

/** The key at which the oldest entries, dropped in order, free at least `excess`; undefined if they cannot. */
export function keyFreeing(keys: readonly number[], amounts: readonly number[], excess: number): number | undefined {
  for (let i = 0; i < keys.length; i++) {
    excess -= amounts[i]!;
    if (excess <= 0) return keys[i];
  }
  return undefined;
}
