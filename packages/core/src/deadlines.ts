/**
 * Deadlines for store calls that all share one timeout. Calls start in order, so their deadlines
 * expire in order: a queue and a single timer armed for the oldest pending call replace a timer per
 * call (each costs about as much as an in-process decision).
 */
export class Deadlines {
  private readonly queue: Array<{ deadline: number; expire: () => void; settled: boolean }> = [];
  private head = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly timeoutMs: number) {}

  /** Calls `expire` after the timeout unless the returned `settle` is called first. */
  start(expire: () => void): () => void {
    const entry = { deadline: performance.now() + this.timeoutMs, expire, settled: false };
    this.queue.push(entry);
    if (!this.timer) this.arm(this.timeoutMs);
    return () => {
      entry.settled = true;
    };
  }

  private arm(ms: number): void {
    this.timer = setTimeout(() => this.fire(), Math.max(0, ms));
    // A pending deadline alone must not keep a process (or a test run) alive.
    (this.timer as { unref?: () => void }).unref?.();
  }

  private fire(): void {
    this.timer = undefined;
    const now = performance.now();
    while (this.head < this.queue.length) {
      const entry = this.queue[this.head]!;
      if (!entry.settled && entry.deadline > now) break;
      this.head++;
      if (!entry.settled) entry.expire();
    }
    // Compact the queue once the expired prefix is large.
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
    if (this.head < this.queue.length) this.arm(this.queue[this.head]!.deadline - now);
    else {
      this.queue.length = 0;
      this.head = 0;
    }
  }
}
