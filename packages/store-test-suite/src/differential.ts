import fc from 'fast-check';
import { expect, it } from 'vitest';
import { staticPrices, type Decision, type Lease, type LimitConfig, type Limiter } from '@tollgate/core';
import type { Harness } from './harness.js';

/**
 * A policy that uses every algorithm and resource, with small numbers so limits bind often, and
 * rates that do not divide evenly (7 per 6 s, 20 s in 3 segments) so rounding is exercised.
 */
const policy: LimitConfig[] = [
  { name: 'rpm', scope: 'user', resource: 'requests', limit: 5, window: '10s' },
  { name: 'tpm', scope: 'user', resource: 'tokens', limit: 6_000, window: '20s', precision: 3 },
  { name: 'ip-bucket', scope: 'ip', resource: 'requests', limit: 7, window: '6s', algorithm: 'token-bucket', burst: 3 },
  { name: 'daily-usd', scope: 'user', resource: 'cost', limit: 0.05, reset: { every: 'day', timeZone: 'America/New_York' } },
  { name: 'daily-requests', scope: 'user', resource: 'requests', limit: 8, reset: { every: 'day' } },
  { name: 'inflight', scope: 'user', resource: 'concurrency', limit: 2 },
  { name: 'search', scope: 'user', resource: 'toolCalls', tool: 'search', limit: 3, window: '10s' },
  { name: 'global-rpm', scope: 'global', resource: 'requests', limit: 12, window: '15s' },
];
const prices = staticPrices({ small: { input: 1, output: 4 }, big: { input: 5, output: 15 } });

const identity = fc.record({ user: fc.constantFrom('u1', 'u2', 'a:b', '{c}'), ip: fc.constantFrom('10.0.0.1', '10.0.0.2', undefined) });
const demand = fc.record(
  { tokens: fc.integer({ min: 0, max: 4_000 }), model: fc.constantFrom('small', 'big') },
  { requiredKeys: [] },
);
const command = fc.oneof(
  fc.record({
    op: fc.constant('advance' as const),
    // Whole windows and segments land later operations exactly on expiry boundaries.
    ms: fc.oneof(fc.integer({ min: 0, max: 6_000 }), fc.constantFrom(1, 857, 6_000, 6_667, 10_000, 12_000, 15_000, 20_000)),
  }),
  fc.record({ op: fc.constant('acquire' as const), identity, demand }),
  fc.record({ op: fc.constant('check' as const), identity, demand }),
  fc.record({
    op: fc.constant('record' as const),
    lease: fc.nat(),
    usage: fc.record({ inputTokens: fc.integer({ min: 0, max: 3_000 }), outputTokens: fc.integer({ min: 0, max: 2_000 }) }),
  }),
  fc.record({ op: fc.constant('release' as const), lease: fc.nat() }),
  fc.record({ op: fc.constant('tool' as const), lease: fc.nat() }),
  fc.record({ op: fc.constant('step' as const), lease: fc.nat(), tokens: fc.integer({ min: 0, max: 2_000 }) }),
  fc.record({ op: fc.constant('usage' as const), identity }),
  fc.record({ op: fc.constant('reset' as const), identity, limit: fc.constantFrom('rpm', 'tpm', undefined) }),
);
type Command = typeof command extends fc.Arbitrary<infer C> ? C : never;

/** What must agree between stores (lease ids and error objects differ by nature). */
function comparable(decision: Decision & { lease?: Lease }) {
  const { lease: _lease, error: _error, ...rest } = decision;
  return rest;
}

/** Runs one command on one limiter, with that limiter's own leases. */
async function run(limiter: Limiter, leases: Lease[], cmd: Command): Promise<unknown> {
  const pick = (index: number) => leases[index % leases.length];
  switch (cmd.op) {
    case 'advance':
      return undefined;
    case 'acquire': {
      const decision = await limiter.acquire(cmd.identity, cmd.demand);
      if (decision.lease) leases.push(decision.lease);
      return comparable(decision);
    }
    case 'check':
      return comparable(await limiter.check(cmd.identity, cmd.demand));
    case 'record':
      return leases.length ? pick(cmd.lease)!.record({ model: 'small', ...cmd.usage }) : undefined;
    case 'release':
      return leases.length ? pick(cmd.lease)!.release() : undefined;
    case 'tool':
      return leases.length ? comparable(await pick(cmd.lease)!.tool('search')) : undefined;
    case 'step':
      return leases.length ? comparable(await pick(cmd.lease)!.step({ tokens: cmd.tokens })) : undefined;
    case 'usage':
      return limiter.usage(cmd.identity);
    case 'reset':
      return limiter.reset(cmd.identity, cmd.limit);
  }
}

/**
 * The differential property test: random operation sequences run on the store under test and on
 * the reference store, with one clock; every decision, reading and settlement must be identical.
 */
export function differentialCase(h: Harness, runs: number): void {
  it('makes the same decisions as the reference store on random operation sequences', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(command, { minLength: 10, maxLength: 60, size: 'max' }), async (commands) => {
        await h.stop();
        await h.start();
        const subject = h.limiter(policy, { prices, lease: { ttl: '12s', maxSteps: 4 } });
        const { limiter: reference } = h.reference(policy, { prices, lease: { ttl: '12s', maxSteps: 4 } });
        const subjectLeases: Lease[] = [];
        const referenceLeases: Lease[] = [];
        for (const [index, cmd] of commands.entries()) {
          if (cmd.op === 'advance') h.clock.advance(cmd.ms);
          const expected = await run(reference, referenceLeases, cmd);
          const actual = await run(subject, subjectLeases, cmd);
          expect(actual, `command ${index}: ${JSON.stringify(cmd)}`).toEqual(expected);
        }
      }),
      { numRuns: runs },
    );
  });
}
