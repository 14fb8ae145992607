import type { FastifyBaseLogger } from 'fastify';
import type { ApiKeys } from '../keys/api-keys.js';
import type { LivePolicy } from '../policy.js';
import { ReadEverySecond } from './read-every-second.js';

/**
 * The issued keys' own limits, put in force on every instance sharing the records: read with the
 * keys every second, and at once on the instance that issued, rotated or revoked a key.
 */
export class SharedKeyLimits extends ReadEverySecond {
  constructor(
    private readonly keys: ApiKeys,
    private readonly policy: LivePolicy,
    log: FastifyBaseLogger,
  ) {
    super(log, "the issued keys' limits");
  }

  /** After a key changed here: its limits apply here before the admin's request is answered. */
  async keyChanged(): Promise<void> {
    this.changed();
    this.policy.applyKeyLimits(await this.keys.limitsInForce());
  }

  protected async read(): Promise<() => void> {
    const limits = await this.keys.limitsInForce();
    return () => this.policy.applyKeyLimits(limits);
  }
}
