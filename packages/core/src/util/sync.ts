/**
 * In-process stores answer synchronously; making every step `async` would cost each decision
 * several promise allocations and microtask hops. Hot paths therefore pass `T | Promise<T>` along
 * and only become promises when something really is asynchronous.
 */
export type MaybePromise<T> = T | Promise<T>;

export function isPromise<T>(value: MaybePromise<T>): value is Promise<T> {
  return typeof (value as Promise<T> | undefined)?.then === 'function';
}

/**
 * Applies `next` to a value now, or once the promise settles. (Not named `then`: a module exporting
 * `then` makes its namespace object a thenable, and dynamic imports of it never resolve.)
 */
export function andThen<T, R>(value: MaybePromise<T>, next: (value: T) => MaybePromise<R>): MaybePromise<R> {
  return isPromise(value) ? value.then(next) : next(value);
}

/** Runs `body` and always returns a promise: thrown errors become rejections. */
export function toPromise<T>(body: () => MaybePromise<T>): Promise<T> {
  try {
    const value = body();
    return isPromise(value) ? value : Promise.resolve(value);
  } catch (error) {
    return Promise.reject(error);
  }
}
