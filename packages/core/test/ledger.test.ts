import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LeaseLedger, NOTHING } from '../src/limiter/ledger.js';

/** A lease's money with no store: tokens and nano-dollars, as the store counts them. */
describe('LeaseLedger', () => {
  it('refunds what the usage left of the reservation, where it was charged', () => {
    const ledger = new LeaseLedger({ at: 100, tokens: 1_000, cost: 5_000, requests: 1 });
    ledger.use(400, 2_000);
    expect(ledger.uncharged()).toEqual({ tokens: 0, cost: 0 });
    const refunds = ledger.refunds();
    expect(refunds).toEqual([{ at: 100, tokens: 600, cost: 3_000 }]);
    ledger.release(refunds);
    // What the usage consumed stays reserved; the rest is gone, and later usage is charged in full.
    expect([ledger.reservedTokens, ledger.reservedCost]).toEqual([400, 2_000]);
    expect(ledger.refunds()).toEqual([]);
    ledger.use(100, 0);
    expect(ledger.uncharged()).toEqual({ tokens: 100, cost: 0 });
  });

  it('counts tokens and cost apart', () => {
    const ledger = new LeaseLedger({ at: 0, tokens: 1_000, cost: 5_000 });
    ledger.use(1_500, 1_000);
    expect(ledger.uncharged()).toEqual({ tokens: 500, cost: 0 });
    expect(ledger.refunds()).toEqual([{ at: 0, tokens: 0, cost: 4_000 }]);
  });

  it('charges an overrun once, and never spends a later reservation on it', () => {
    const ledger = new LeaseLedger({ at: 1, tokens: 100, cost: 0 });
    ledger.use(150, 0);
    expect(ledger.chargeOverrun()).toEqual({ tokens: 50, cost: 0 });
    expect(ledger.chargeOverrun()).toBe(NOTHING);
    // A step reserves 100 more and its call uses none of it: all of it comes back, at its own time.
    ledger.reserve({ at: 2, tokens: 100, cost: 0 });
    expect(ledger.refunds()).toEqual([
      { at: 1, tokens: 0, cost: 0 },
      { at: 2, tokens: 100, cost: 0 },
    ]);
  });

  it('consumes the oldest reservation first', () => {
    const ledger = new LeaseLedger({ at: 1, tokens: 100, cost: 10 });
    ledger.reserve({ at: 2, tokens: 100, cost: 10 });
    ledger.use(150, 5);
    expect(ledger.refunds()).toEqual([
      { at: 1, tokens: 0, cost: 5 },
      { at: 2, tokens: 50, cost: 10 },
    ]);
    expect(ledger.acquired).toEqual({ at: 1, tokens: 100, cost: 10 });
  });

  it('takes back an overrun the store did not take, so the next settlement charges it', () => {
    const ledger = new LeaseLedger(undefined);
    ledger.use(10, 20);
    const overrun = ledger.chargeOverrun();
    expect(overrun).toEqual({ tokens: 10, cost: 20 });
    expect(ledger.uncharged()).toEqual({ tokens: 0, cost: 0 });
    ledger.uncount(overrun);
    expect(ledger.uncharged()).toEqual({ tokens: 10, cost: 20 });
  });

  it('keeps the whole reservation when a call’s usage is unknown', () => {
    const ledger = new LeaseLedger({ at: 0, tokens: 1_000, cost: 5_000 });
    ledger.unknownUsage = true;
    ledger.use(300, 1_000); // a partial record: a lower bound
    expect(ledger.refunds()).toEqual([]);
    expect(ledger.uncharged()).toEqual({ tokens: 0, cost: 0 });
    // More than the reservation is still an overrun.
    ledger.use(900, 0);
    expect(ledger.uncharged()).toEqual({ tokens: 200, cost: 0 });
  });

  it('charges back what a release refunded when a call’s usage proves unknown after it', () => {
    const ledger = new LeaseLedger({ at: 0, tokens: 1_000, cost: 5_000 });
    ledger.use(400, 2_000);
    ledger.release(ledger.refunds());
    // The client left first; the record that follows fails (or is partial): its usage is unknown.
    ledger.unknownUsage = true;
    expect(ledger.chargeOverrun()).toEqual({ tokens: 600, cost: 3_000 });
    expect(ledger.uncharged()).toEqual({ tokens: 0, cost: 0 });
  });

  it('puts a refused release back, for a retry that starts over', () => {
    const ledger = new LeaseLedger({ at: 7, tokens: 1_000, cost: 0, requests: 1 });
    ledger.use(250, 0);
    const refunds = ledger.refunds();
    ledger.release(refunds);
    expect(ledger.acquired).toBeUndefined();
    ledger.unrelease();
    expect(ledger.acquired).toEqual({ at: 7, tokens: 1_000, cost: 0, requests: 1 });
    expect(ledger.reservedTokens).toBe(1_000);
    expect(ledger.refunds()).toEqual(refunds);
    // Nothing was refunded after all: unknown usage now charges nothing back.
    ledger.unknownUsage = true;
    expect(ledger.uncharged()).toEqual({ tokens: 0, cost: 0 });
  });

  const amounts = fc.record({ tokens: fc.nat(10_000), cost: fc.nat(1_000_000) });
  const operation = fc.oneof(
    fc.record({ op: fc.constant('reserve' as const), amounts }),
    fc.record({ op: fc.constant('use' as const), amounts }),
    fc.record({ op: fc.constant('overrun' as const) }),
  );

  it('charges in the end exactly the usage, or at least the reservations when usage is unknown', () => {
    fc.assert(
      fc.property(fc.option(amounts, { nil: undefined }), fc.array(operation, { maxLength: 12 }), fc.boolean(), fc.boolean(), (first, operations, unknown, unknownAfterRelease) => {
        const ledger = new LeaseLedger(first && { at: 0, ...first });
        // What the store holds for the lease: reservations and overruns added, refunds taken off.
        let tokens = first?.tokens ?? 0;
        let cost = first?.cost ?? 0;
        let used = { tokens: 0, cost: 0 };
        let reserved = { tokens, cost };
        const overrun = () => {
          const charged = ledger.chargeOverrun();
          tokens += charged.tokens;
          cost += charged.cost;
        };
        operations.forEach((operation, i) => {
          if (operation.op === 'reserve') {
            ledger.reserve({ at: i + 1, ...operation.amounts });
            tokens += operation.amounts.tokens;
            cost += operation.amounts.cost;
            reserved = { tokens: reserved.tokens + operation.amounts.tokens, cost: reserved.cost + operation.amounts.cost };
          } else if (operation.op === 'use') {
            ledger.use(operation.amounts.tokens, operation.amounts.cost);
            used = { tokens: used.tokens + operation.amounts.tokens, cost: used.cost + operation.amounts.cost };
          } else {
            overrun();
          }
        });
        if (unknown && !unknownAfterRelease) ledger.unknownUsage = true;
        overrun();
        const refunds = ledger.refunds();
        for (const refund of refunds) {
          tokens -= refund.tokens;
          cost -= refund.cost;
          expect(refund.tokens).toBeGreaterThanOrEqual(0);
          expect(refund.cost).toBeGreaterThanOrEqual(0);
        }
        ledger.release(refunds);
        if (unknown && unknownAfterRelease) {
          ledger.unknownUsage = true;
          overrun();
        }
        expect(ledger.uncharged()).toEqual({ tokens: 0, cost: 0 });
        if (!unknown) {
          expect({ tokens, cost }).toEqual(used);
        } else {
          // Every reservation stays charged, and so does every overrun: never less than was used
          // or reserved, never more than both.
          if (!unknownAfterRelease) expect(refunds).toEqual([]);
          for (const key of ['tokens', 'cost'] as const) {
            const charged = key === 'tokens' ? tokens : cost;
            expect(charged).toBeGreaterThanOrEqual(Math.max(used[key], reserved[key]));
            expect(charged).toBeLessThanOrEqual(used[key] + reserved[key]);
          }
        }
      }),
    );
  });
});
