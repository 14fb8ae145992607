/**
 * Deadlines for store calls that all share one timeout. Calls start in order, so their deadlines
 * expire in order: one timer armed for the oldest pending call replaces a timer per call (each costs
 * about as much as an in-process decision). A call that settles leaves at once, taking its `expire`
 * callback (and whatever that holds: the batch, the promise's resolver) with it, so a decision's
 * objects die young instead of living until the timer fires.
 */
export class Deadlines {
  /** Pending calls in start order (a Map keeps insertion order): the first is the next to expire. */
  private readonly pending = new Map<number, { readonly deadline: number; readonly expire: () => void }>();
  private nextId = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly timeoutMs: number) {}

  /** Calls `expire` after the timeout unless `settle(id)` is called first; returns the id. */
  start(expire: () => void): number {
    const id = this.nextId++;
    this.pending.set(id, { deadline: performance.now() + this.timeoutMs, expire });
    if (!this.timer) this.arm(this.timeoutMs);
    return id;
  }

  /** The call finished in time (or its answer no longer matters): forget its deadline. */
  settle(id: number): void {
    this.pending.delete(id);
  }

  private arm(ms: number): void {
    this.timer = setTimeout(() => this.fire(), Math.max(0, ms));
    // A pending deadline alone must not keep a process (or a test run) alive.
    (this.timer as { unref?: () => void }).unref?.();
  }

  private fire(): void {
    this.timer = undefined;
    const now = performance.now();
    for (const [id, { deadline, expire }] of this.pending) {
      if (deadline > now) {
        this.arm(deadline - now);
        return;
      }
      this.pending.delete(id);
      expire();
    }
  }
}
