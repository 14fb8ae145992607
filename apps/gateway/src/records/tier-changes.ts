import type { FastifyBaseLogger } from 'fastify';
import type { LivePolicy, TierChange } from '../policy.js';
import type { Records } from './records.js';

const KIND = 'tier-changes';
/** How often an instance reads the others' changes: one changed elsewhere applies here within it. */
const SYNC_EVERY_MS = 1_000;

/**
 * The admin's tier changes, kept in the gateway's records so that they survive a restart and reach
 * every instance sharing the counters: a change is written before it applies here, and every
 * instance reads them all again every second (a handful of rows).
 */
export class SharedTierChanges {
  private timer: NodeJS.Timeout | undefined;
  /** Counts this instance's own changes: a read that began before one is older than it, and is dropped. */
  private changes = 0;

  constructor(
    private readonly records: Records,
    private readonly policy: LivePolicy,
    private readonly log: FastifyBaseLogger,
  ) {}

  /** Reads the changes in force and applies them, then keeps reading them every second. A store that is down delays them, never the start. */
  async start(): Promise<void> {
    let pending: Promise<void> | undefined;
    // One read at a time: a slow store is not asked again until it answers (or its deadline passes).
    const sync = () =>
      (pending ??= this.sync()
        .catch((error: unknown) => this.log.error({ err: error }, 'reading the tier changes failed; the ones in force stay'))
        .finally(() => (pending = undefined)));
    await sync();
    this.timer = setInterval(() => void sync(), SYNC_EVERY_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Moves a user to another tier, here and, within a second, on every instance. Throws `InvalidInputError` for an unknown user or tier. */
  async set(user: string, tier: string): Promise<void> {
    const change = this.policy.tierChange(user, tier);
    this.changes++;
    if (change === undefined) await this.records.remove(KIND, user);
    else await this.records.put(KIND, user, JSON.stringify(change));
    const next = new Map(this.policy.tierChanges);
    if (change === undefined) next.delete(user);
    else next.set(user, change);
    this.policy.applyTierChanges(next);
  }

  /** Deletes the changes the file overtook when it was reloaded. */
  async forget(users: readonly string[]): Promise<void> {
    for (const user of users) await this.records.remove(KIND, user);
  }

  private async sync(): Promise<void> {
    const changes = this.changes;
    const stored = await this.records.all(KIND);
    if (changes !== this.changes) return;
    this.policy.applyTierChanges(new Map([...stored].map(([user, value]) => [user, JSON.parse(value) as TierChange])));
  }
}
