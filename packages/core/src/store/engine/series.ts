/**
 * A series: ascending keys (times or segment indexes), each with the amount charged at it, and
 * their running sum — the state of the log and window counters. It is one flat array,
 * `[key0, amount0, key1, amount1, …, sum]`, never empty: an in-process store touches one array per
 * counter, not an object and two parallel arrays (three fewer cache misses per counter when an
 * identity's state has gone cold), and it stays plain JSON for stores that serialise it.
 *
 * Expired entries leave a short series at once. A long one (a log holds an entry per millisecond)
 * keeps them in place, their amount replaced by `EXPIRED`, as a prefix that is cut off only once
 * it holds a fifth of the entries: V8 trims an array's front in place only under 128 KB, and past
 * that, removing one entry from the front copies all the others.
 */
export type Series = number[];

/** The amount of an expired entry: amounts charged are never negative. */
const EXPIRED = -1;

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

/**
 * Where the live entries start: past the prefix of expired ones, found by bisection. It is `sum`'s
 * index when every entry has expired.
 */
function firstLive(series: Series): number {
  // `dead` is an entry known to have expired, `live` the first known live one (or the end).
  let dead = 0;
  let live = (series.length - 1) / 2;
  if (live === 0 || series[1]! >= 0) return 0;
  while (dead + 1 < live) {
    const mid = (dead + live) >>> 1;
    if (series[mid * 2 + 1]! < 0) dead = mid;
    else live = mid;
  }
  return live * 2;
}

/**
 * Below this length an array's store stays under 128 KB even with the slack V8 grows it by, and V8
 * removes its first element in place (it moves the array's start): so a short series drops its
 * expired entries at once, with no marks and no search for the live ones.
 */
const TRIMMED_IN_PLACE = 8_192;

/** Expires the leading entries with keys below `bound`; `undefined` when none are left. */
export function pruneBelow(series: Series, bound: number): Series | undefined {
  const start = firstLive(series);
  if (series[start]! >= bound) return series;
  const sumAt = series.length - 1;
  let sum = series[sumAt]!;
  let end = start;
  while (end < sumAt && series[end]! < bound) {
    sum -= series[end + 1]!;
    end += 2;
  }
  if (end === sumAt) return undefined;
  series[sumAt] = sum;
  if (sumAt < TRIMMED_IN_PLACE) {
    for (let i = 0; i < end; i++) series.shift();
  } else if (end * 4 >= sumAt - end) {
    // Cut the expired prefix once it is a fifth of the entries: each entry is then copied about
    // four times over its life, however long the series grows.
    cutBefore(series, end);
  } else {
    for (let i = start + 1; i < end; i += 2) series[i] = EXPIRED;
  }
  return series;
}

/** Removes the array's first `end` elements, in place. */
function cutBefore(series: Series, end: number): void {
  series.copyWithin(0, end);
  series.length -= end;
}

/** Adds `amount` at `key`, merging with an equal key and keeping keys ascending. */
export function addToSeries(series: Series, key: number, amount: number): void {
  const sum = series[series.length - 1]!;
  const last = lastKey(series);
  if (last < key) {
    series[series.length - 1] = key;
    series.push(amount, sum + amount);
    return;
  }
  if (last === key) {
    series[series.length - 2]! += amount;
    series[series.length - 1] = sum + amount;
    return;
  }
  // An earlier key means the clock stepped back, which is rare: the expired entries go first, so
  // that the walk back never passes them.
  cutBefore(series, firstLive(series));
  const sumAt = series.length - 1;
  series[sumAt] = sum + amount;
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
  // Keys ascend: bisect for `key` among the entries.
  let low = 0;
  let high = sumAt / 2;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (series[mid * 2]! < key) low = mid + 1;
    else high = mid;
  }
  const index = low * 2;
  // Not there, or expired: nothing of that charge counts any more.
  if (index === sumAt || series[index] !== key || series[index + 1]! < 0) return series;
  const taken = Math.min(amount, series[index + 1]!);
  series[index + 1]! -= taken;
  series[sumAt]! -= taken;
  if (series[index + 1] !== 0) return series;
  // Refunds run on every lease release: remove in place, where splice would allocate.
  series.copyWithin(index, index + 2);
  series.length -= 2;
  return firstLive(series) === series.length - 1 ? undefined : series;
}

/** The key at which the oldest entries, dropped in order, free at least `excess`; undefined if they cannot. */
export function keyFreeing(series: Series, excess: number): number | undefined {
  const sumAt = series.length - 1;
  for (let i = firstLive(series); i < sumAt; i += 2) {
    excess -= series[i + 1]!;
    if (excess <= 0) return series[i];
  }
  return undefined;
}
