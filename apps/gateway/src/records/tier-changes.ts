import type { FastifyBaseLogger } from 'fastify';
import type { LivePolicy, TierChange } from '../policy.js';
import { EverySecond } from './every-second.js';
import type { Records } from './records.js';

const KIND = 'tier-changes';

/**
 * The admin's tier changes, kept in the gateway's records so that they survive a restart and reach
 * every instance sharing the counters: a change is written before it applies here, and every
 * instance reads them all again every second (a handful of rows).
 */
export class SharedTierChanges {
  private readonly reads: EverySecond;
  /** Counts this instance's own changes: a read that began before one is older than it, and is dropped. */
  private changes = 0;

  constructor(
    private readonly records: Records,
    private readonly policy: LivePolicy,
    log: FastifyBaseLogger,
  ) {
    this.reads = new EverySecond(
      () => this.sync(),
      (error) => log.error({ err: error }, 'reading the tier changes failed; the ones in force stay'),
    );
  }

  /** Reads the changes in force and applies them, then keeps reading them every second. */
  start(): Promise<void> {
    return this.reads.start();
  }

  stop(): void {
    this.reads.stop();
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
