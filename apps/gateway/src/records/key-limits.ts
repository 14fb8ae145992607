import type { FastifyBaseLogger } from 'fastify';
import type { ApiKeys } from '../keys/api-keys.js';
import type { LivePolicy } from '../policy.js';
import { EverySecond } from './every-second.js';

/**
 * The issued keys' own limits, put in force on every instance sharing the records: read with the
 * keys every second, and at once on the instance that issued, rotated or revoked a key.
 */
export class SharedKeyLimits {
  private readonly reads: EverySecond;
  /** Counts this instance's own reads after a change: a periodic read that began before one is older than it, and is dropped. */
  private changes = 0;

  constructor(
    private readonly keys: ApiKeys,
    private readonly policy: LivePolicy,
    log: FastifyBaseLogger,
  ) {
    this.reads = new EverySecond(
      () => this.sync(),
      (error) => log.error({ err: error }, "reading the issued keys' limits failed; the ones in force stay"),
    );
  }

  start(): Promise<void> {
    return this.reads.start();
  }

  stop(): void {
    this.reads.stop();
  }

  /** After a key changed here: its limits apply here before the admin's request is answered. */
  async changed(): Promise<void> {
    this.changes++;
    this.policy.applyKeyLimits(await this.keys.limitsInForce());
  }

  private async sync(): Promise<void> {
    const changes = this.changes;
    const limits = await this.keys.limitsInForce();
    if (changes === this.changes) this.policy.applyKeyLimits(limits);
  }
}
