/**
 * A series: ascending keys (times or segment indexes), each with the amount charged at it, and
 * their running sum — the state of the log and window counters. It is one flat array,
 * `[key0, amount0, key1, amount1, …, sum]`, never empty: an in-process store touches one array per
 * counter, not an object and two parallel arrays (three fewer cache misses per counter when an
 * identity's state has gone cold), and it stays plain JSON for stores that serialise it. The sum
 * sits last so that expired entries leave from the front with `shift`, which V8 does in place.
 */
export type Series = number[];

/** A series holding one entry. */
export function seriesOf(key: number, amount: number): Series {
  return [key, amount, amount];
}

/** The sum of every amount. */
export function seriesSum(series: Series): number {
  return series[series.length - 1]!;
}

/** The last (largest) key. */
export function lastKey(series: Series): number {
  return series[series.length - 3]!;
}

/** Drops the leading entries with keys below `bound`; `undefined` when none are left. */
export function pruneBelow(series: Series, bound: number): Series | undefined {
  if (series[0]! >= bound) return series;
  const sumAt = series.length - 1;
  let sum = series[sumAt]!;
  let expired = 0;
  while (expired < sumAt && series[expired]! < bound) {
    sum -= series[expired + 1]!;
    expired += 2;
  }
  if (expired === sumAt) return undefined;
  series[sumAt] = sum;
  // Usually one or two entries expire per call: shift trims in place, where splice would allocate.
  for (let i = 0; i < expired; i++) series.shift();
  return series;
}

/** Adds `amount` at `key`, merging with an equal key and keeping keys ascending. */
export function addToSeries(series: Series, key: number, amount: number): void {
  const sumAt = series.length - 1;
  const sum = series[sumAt]!;
  const last = series[sumAt - 2]!;
  if (last < key) {
    series[sumAt] = key;
    series.push(amount, sum + amount);
    return;
  }
  series[sumAt] = sum + amount;
  // Usually `key` is the last one; an earlier key means the clock stepped back.
  let index = sumAt - 2;
  while (index > 0 && series[index - 2]! >= key) index -= 2;
  if (series[index] === key) series[index + 1]! += amount;
  else series.splice(index, 0, key, amount);
}

/**
 * Takes up to `amount` from `key` (a refund), dropping the entry when it is empty; `undefined` when
 * nothing is left.
 */
export function takeFromSeries(series: Series, key: number, amount: number): Series | undefined {
  const sumAt = series.length - 1;
  let index = 0;
  while (index < sumAt && series[index] !== key) index += 2;
  if (index === sumAt) return series;
  const taken = Math.min(amount, series[index + 1]!);
  series[index + 1]! -= taken;
  series[sumAt]! -= taken;
  if (series[index + 1] === 0) {
    // Refunds run on every lease release: remove in place, where splice would allocate.
    series.copyWithin(index, index + 2);
    series.length -= 2;
  }
  return series.length === 1 ? undefined : series;
}

/** The key at which the oldest entries, dropped in order, free at least `excess`; undefined if they cannot. */
export function keyFreeing(series: Series, excess: number): number | undefined {
  const sumAt = series.length - 1;
  for (let i = 0; i < sumAt; i += 2) {
    excess -= series[i + 1]!;
    if (excess <= 0) return series[i];
  }
  return undefined;
}
