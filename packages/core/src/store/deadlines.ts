/** One pending call's deadline, as `Deadlines.start` returns it. */
export class Deadline {
  constructor(
    /** `performance.now()` time at which the call expires. */
    readonly at: number,
    /** What to do then; cleared once the call settles, so what it holds can be collected. */
    public expire: (() => void) | undefined,
  ) {}
}

/**
 * Deadlines for store calls that all share one timeout. Calls start in order, so their deadlines
 * expire in order: one timer armed for the oldest pending call replaces a timer per call (each costs
 * about as much as an in-process decision). A call that settles drops its `expire` callback (and
 * whatever that holds: the batch, the promise's resolver) at once.
 *
 * The calls wait in an array in start order, and settled ones leave from its front as the calls
 * before them settle: a slow call keeps the settled ones behind it (small objects, their callbacks
 * already dropped) for at most the timeout. Not a Map keyed by call: its entries, written into a
 * long-lived table and deleted moments later, slowed garbage collection enough to cost remote
 * decisions throughput under load (apps/bench/README.md).
 */
export class Deadlines {
  /** Calls in start order; those before `head` have all settled or expired. */
  private readonly queue: Deadline[] = [];
  private head = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly timeoutMs: number) {}

  /** Calls `expire` after the timeout unless `settle` is called with the returned deadline first. */
  start(expire: () => void): Deadline {
    const deadline = new Deadline(performance.now() + this.timeoutMs, expire);
    this.queue.push(deadline);
    if (!this.timer) this.arm(this.timeoutMs);
    return deadline;
  }

  /** The call finished in time (or its answer no longer matters): forget its deadline. */
  settle(deadline: Deadline): void {
    deadline.expire = undefined;
    this.dropSettled();
  }

  /** Calls pending, for tests: started, and neither settled nor expired. */
  get size(): number {
    let pending = 0;
    for (let i = this.head; i < this.queue.length; i++) if (this.queue[i]!.expire !== undefined) pending++;
    return pending;
  }

  /** Moves `head` past the settled calls at the front, and reclaims the space they held. */
  private dropSettled(): void {
    const { queue } = this;
    let { head } = this;
    while (head < queue.length && queue[head]!.expire === undefined) head++;
    if (head === queue.length) {
      queue.length = 0;
      head = 0;
    } else if (head >= 64 && head * 2 >= queue.length) {
      // Calls rarely all settle at once under load: move the pending ones to the front now and
      // then, so the array stays about as long as the calls in flight.
      queue.copyWithin(0, head);
      queue.length -= head;
      head = 0;
    }
    this.head = head;
  }

  private arm(ms: number): void {
    this.timer = setTimeout(() => this.fire(), Math.max(0, ms));
    // A pending deadline alone must not keep a process (or a test run) alive.
    (this.timer as { unref?: () => void }).unref?.();
  }

  private fire(): void {
    this.timer = undefined;
    const now = performance.now();
    // `expire` may start or settle calls: `head` and the queue are read afresh on every step.
    while (this.head < this.queue.length) {
      const deadline = this.queue[this.head]!;
      const { expire } = deadline;
      if (expire !== undefined) {
        if (deadline.at > now) {
          this.arm(deadline.at - now);
          break;
        }
        deadline.expire = undefined;
        this.head++;
        expire();
      } else {
        this.head++;
      }
    }
    this.dropSettled();
  }
}
