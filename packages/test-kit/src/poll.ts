// No vitest here: the benchmarks import this module (through the gateway's budget scenario) outside a test run.

/**
 * Polls `read` until `done` holds (a lease is released after the response, asynchronously), for
 * at most `timeoutMs`; returns the value that satisfied it, or fails with the last one seen.
 *
 * @example
 * await eventually(() => usedOf(limiter, { user: 'alice' }), (used) => used['inflight'] === 0);
 */
export async function eventually<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`never reached the expected state: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
