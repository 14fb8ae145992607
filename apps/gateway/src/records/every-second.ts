/** How often an instance reads what the others changed: a change made elsewhere applies here within it. */
export const SYNC_EVERY_MS = 1_000;

/**
 * Runs `sync` now and then every second, one at a time: a slow store is not asked again until it
 * answers (or its deadline passes). A failed run goes to `failed`, and what is in force stays.
 */
export class EverySecond {
  private timer: NodeJS.Timeout | undefined;
  private pending: Promise<void> | undefined;

  constructor(
    private readonly sync: () => Promise<void>,
    private readonly failed: (error: unknown) => void,
  ) {}

  /** The first run, then the timer; a store that is down delays what it reads, never the start. */
  async start(): Promise<void> {
    await this.run();
    this.timer = setInterval(() => void this.run(), SYNC_EVERY_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private run(): Promise<void> {
    return (this.pending ??= this.sync()
      .catch(this.failed)
      .finally(() => (this.pending = undefined)));
  }
}
