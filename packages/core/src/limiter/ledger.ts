/**
 * The money of one lease, and nothing else: what it reserved, what its calls used, what of that was
 * charged as overrun, and what a release gives back. No store, no clock, no prices: amounts are the
 * integers the store counts (tokens, and cost in nano-dollars), and `TollgateLease` (`lease.ts`)
 * turns what the ledger says into store adjustments.
 *
 * The rules (hard budgets: a reservation is an upper bound):
 * - usage consumes the reservations, oldest first; a release refunds what is left of each where it
 *   was charged;
 * - usage beyond the reservations is an overrun, charged once and never refunded;
 * - usage that is unknown (a partial record under `onUnknownUsage: 'reservation'`, a record that
 *   failed) keeps at least the whole reservation charged: the release refunds nothing, and when
 *   the release came first, what it refunded is charged back as overrun.
 */

/** Tokens and cost (nano-dollars) together. */
export interface Amounts {
  readonly tokens: number;
  readonly cost: number;
}

/** One reservation made at one store time: refunds must land where the charge did. */
export interface Reservation extends Amounts {
  readonly at: number;
  /** Requests `acquire` charged with it (the acquire's reservation only). */
  readonly requests?: number;
}

/** What a release gives back of one reservation, at the store time that reservation was charged. */
export interface Refund extends Amounts {
  readonly at: number;
}

/** Nothing to charge. (Not frozen: V8 reads frozen objects on a slower path.) */
export const NOTHING: Amounts = { tokens: 0, cost: 0 };

/** What a release refunds when nothing is left to refund. */
const NO_REFUNDS: readonly Refund[] = [];

export class LeaseLedger {
  /** Reservations not yet settled by a release, oldest first. */
  private reservations: Reservation[];
  /** Tokens and cost reserved (after a release: what of it the usage consumed). */
  reservedTokens = 0;
  reservedCost = 0;
  /** Tokens and cost the lease's calls used. */
  usedTokens = 0;
  usedCost = 0;
  /** Usage charged as overrun so far, outside the reservations. */
  private overrunTokens = 0;
  private overrunCost = 0;
  /** A call's usage is unknown: the whole reservation stays charged. */
  unknownUsage = false;
  /** What the release refunded: charged back if a call's usage proves unknown after it. */
  private refundedTokens = 0;
  private refundedCost = 0;
  /** What the last `release` replaced, for `unrelease` (fields, not an object: a release runs per request). */
  private releasedReservations: Reservation[] | undefined;
  private releasedTokens = 0;
  private releasedCost = 0;

  constructor(reservation: Reservation | undefined) {
    // The acquire's reservation is usually the only one: an array of exactly one.
    this.reservations = reservation ? [reservation] : [];
    if (reservation) {
      this.reservedTokens = reservation.tokens;
      this.reservedCost = reservation.cost;
    }
  }

  /** The acquire's reservation (which carries its requests), until a release settles it. */
  get acquired(): Reservation | undefined {
    return this.reservations[0];
  }

  /** Adds a reservation (a `step`'s), charged at store time `reservation.at`. */
  reserve(reservation: Reservation): void {
    this.reservations.push(reservation);
    this.reservedTokens += reservation.tokens;
    this.reservedCost += reservation.cost;
  }

  /** Counts one call's usage. What the reservations do not cover is then `uncharged`. */
  use(tokens: number, cost: number): void {
    this.usedTokens += tokens;
    this.usedCost += cost;
  }

  /**
   * Usage beyond what the reservations and the overruns charged so far cover. A call whose usage is
   * unknown is charged at least everything reserved, also what a release refunded before that was
   * known (a client that left: the release came before the record).
   */
  uncharged(): Amounts {
    const charged = (used: number, refunded: number, reserved: number) => (this.unknownUsage ? Math.max(used, reserved + refunded) : used);
    return {
      tokens: Math.max(0, charged(this.usedTokens, this.refundedTokens, this.reservedTokens) - this.overrunTokens - this.reservedTokens),
      cost: Math.max(0, charged(this.usedCost, this.refundedCost, this.reservedCost) - this.overrunCost - this.reservedCost),
    };
  }

  /**
   * The uncharged usage, counted as charged from now on (`NOTHING` when there is none): the caller
   * adds it to the store, and `uncount`s it if the store does not take it. Overrun charged once
   * stays outside the reservations, so a later reservation is never spent on usage already paid for.
   */
  chargeOverrun(): Amounts {
    const overrun = this.uncharged();
    if (overrun.tokens === 0 && overrun.cost === 0) return NOTHING;
    this.overrunTokens += overrun.tokens;
    this.overrunCost += overrun.cost;
    return overrun;
  }

  /** Takes back an overrun counted as charged that the store did not take: the next one charges it. */
  uncount(overrun: Amounts): void {
    this.overrunTokens -= overrun.tokens;
    this.overrunCost -= overrun.cost;
  }

  /**
   * What a release would refund: per reservation, oldest first, what the usage not charged as
   * overrun left of it. Nothing when a call's usage is unknown. Changes nothing: `release` does.
   */
  refunds(): readonly Refund[] {
    if (this.unknownUsage || this.reservations.length === 0) return NO_REFUNDS;
    let coveredTokens = this.usedTokens - this.overrunTokens;
    let coveredCost = this.usedCost - this.overrunCost;
    const refunds: Refund[] = [];
    for (const reservation of this.reservations) {
      const tokens = reservation.tokens - Math.min(reservation.tokens, coveredTokens);
      const cost = reservation.cost - Math.min(reservation.cost, coveredCost);
      coveredTokens = Math.max(0, coveredTokens - reservation.tokens);
      coveredCost = Math.max(0, coveredCost - reservation.cost);
      refunds.push({ at: reservation.at, tokens, cost });
    }
    return refunds;
  }

  /**
   * Settles the reservations with `refunds` (what `refunds()` returned): from here on the unused
   * reservation is gone and later usage is charged in full. `unrelease` puts it all back.
   */
  release(refunds: readonly Refund[]): void {
    this.releasedReservations = this.reservations;
    this.releasedTokens = this.reservedTokens;
    this.releasedCost = this.reservedCost;
    if (!this.unknownUsage) {
      this.reservedTokens = Math.min(this.reservedTokens, this.usedTokens - this.overrunTokens);
      this.reservedCost = Math.min(this.reservedCost, this.usedCost - this.overrunCost);
    }
    let refundedTokens = 0;
    let refundedCost = 0;
    for (const refund of refunds) {
      refundedTokens += refund.tokens;
      refundedCost += refund.cost;
    }
    this.reservations = [];
    this.refundedTokens = refundedTokens;
    this.refundedCost = refundedCost;
  }

  /**
   * Undoes the last `release`, when the store refused it, so that a retry starts over. Nothing can
   * reserve meanwhile (a released lease refuses steps), so putting back is assigning back.
   */
  unrelease(): void {
    if (this.releasedReservations === undefined) return;
    this.reservations = this.releasedReservations;
    this.releasedReservations = undefined;
    this.reservedTokens = this.releasedTokens;
    this.reservedCost = this.releasedCost;
    this.refundedTokens = 0;
    this.refundedCost = 0;
  }
}
