import type { FastifyBaseLogger } from 'fastify';
import type { LivePolicy, TierChange } from '../policy.js';
import { ReadEverySecond } from './read-every-second.js';
import type { Records } from './records.js';

const KIND = 'tier-changes';

/**
 * The admin's tier changes, kept in the gateway's records so that they survive a restart and reach
 * every instance sharing the counters: a change is written before it applies here, and every
 * instance reads them all again every second (a handful of rows).
 */
export class SharedTierChanges extends ReadEverySecond {
  constructor(
    private readonly records: Records,
    private readonly policy: LivePolicy,
    log: FastifyBaseLogger,
  ) {
    super(log, 'the tier changes');
  }

  /** Moves a user to another tier, here and, within a second, on every instance. Throws `InvalidInputError` for an unknown user or tier. */
  async set(user: string, tier: string): Promise<void> {
    const change = this.policy.tierChange(user, tier);
    this.changed();
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

  protected async read(): Promise<() => void> {
    const stored = await this.records.all(KIND);
    return () => this.policy.applyTierChanges(new Map([...stored].map(([user, value]) => [user, JSON.parse(value) as TierChange])));
  }
}
