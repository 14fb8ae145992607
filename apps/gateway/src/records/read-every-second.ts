import type { FastifyBaseLogger } from 'fastify';

/** How often an instance reads what the others changed: a change made elsewhere applies here within it. */
const SYNC_EVERY_MS = 1_000;

/**
 * What the admin changes through the API and every instance sharing the records puts in force:
 * read at start and then every second, one read at a time (a slow store is not asked again until
 * it answers, or its deadline passes). A subclass writes a change before applying it here, and
 * calls `changed` first: a read that began before it is older than the change, and is dropped.
 */
export abstract class ReadEverySecond {
  private timer: NodeJS.Timeout | undefined;
  private pending: Promise<void> | undefined;
  private changes = 0;

  constructor(
    private readonly log: FastifyBaseLogger,
    /** What is read, for the log (`the tier changes`). */
    private readonly what: string,
  ) {}

  /** Reads what is in force and applies it, then keeps reading every second. A store that is down delays it, never the start. */
  async start(): Promise<void> {
    await this.run();
    this.timer = setInterval(() => void this.run(), SYNC_EVERY_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Reads what is in force, and returns how to apply it. */
  protected abstract read(): Promise<() => void>;

  /** Says a change was made here, before it is written: reads already under way are dropped. */
  protected changed(): void {
    this.changes++;
  }

  private run(): Promise<void> {
    return (this.pending ??= this.readAndApply()
      .catch((error: unknown) => this.log.error({ err: error }, `reading ${this.what} failed; the ones in force stay`))
      .finally(() => (this.pending = undefined)));
  }

  private async readAndApply(): Promise<void> {
    const changes = this.changes;
    const apply = await this.read();
    if (changes === this.changes) apply();
  }
}
