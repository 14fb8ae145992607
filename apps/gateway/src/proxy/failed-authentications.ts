/** Failed authentications an address may make in a minute; past them, its unknown keys are refused unread. */
export const MAX_FAILED_AUTHENTICATIONS = 20;
const WINDOW_MS = 60_000;

/**
 * Per client address, the failed authentications of the current minute. A key that is none of the
 * file's and not remembered costs a read of the store; an address that keeps sending unknown keys
 * (a client guessing, or one misconfigured in a loop) is refused without those reads until the
 * minute ends. A fixed window: every count clears at the minute's turn, so the map holds at most
 * one minute's addresses.
 */
export class FailedAuthentications {
  private window = 0;
  private readonly counts = new Map<string, number>();

  constructor(private readonly now: () => number = Date.now) {}

  /** How long until `address` may have unknown keys looked up again; 0 if it may now. */
  retryAfterMs(address: string): number {
    const now = this.roll();
    return (this.counts.get(address) ?? 0) >= MAX_FAILED_AUTHENTICATIONS ? this.window + WINDOW_MS - now : 0;
  }

  failed(address: string): void {
    this.roll();
    this.counts.set(address, (this.counts.get(address) ?? 0) + 1);
  }

  private roll(): number {
    const now = this.now();
    const window = now - (now % WINDOW_MS);
    if (window !== this.window) {
      this.window = window;
      this.counts.clear();
    }
    return now;
  }
}
