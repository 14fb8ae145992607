import { describe, expect, it } from 'vitest';
import {
  ConfigurationError,
  createLimiter,
  InvalidInputError,
  staticPrices,
  UnknownModelError,
  type LimitConfig,
  type LimiterOptions,
} from '../src/index.js';
import { EngineStore, manualClock } from './support/engine-store.js';

const prices = staticPrices({
  'gpt-4o': { input: 2.5, output: 10, cachedInput: 1.25 },
  'gpt-4o-mini': { input: 0.15, output: 0.6, cachedInput: 0.075 },
});

function setup(limits: LimitConfig[], options: Partial<LimiterOptions> = {}) {
  const clock = manualClock();
  const store = new EngineStore(clock);
  const limiter = createLimiter({ store, limits, clock, prices, ...options });
  return { clock, store, limiter };
}

const rpm = (limit: number, scope = 'user'): LimitConfig => ({ name: 'rpm', scope, resource: 'requests', limit, window: '1m' });

describe('acquire', () => {
  it('admits up to the limit, then refuses with the exact wait of the sliding log', async () => {
    const { clock, limiter } = setup([rpm(3)]);
    for (let i = 0; i < 3; i++) {
      expect((await limiter.acquire({ user: 'u1' })).allowed).toBe(true);
      clock.advance(10_000);
    }
    const denied = await limiter.acquire({ user: 'u1' });
    expect(denied).toMatchObject({ allowed: false, reason: 'limited', retryAfterMs: 30_000 });
    expect(denied.deniedBy.map((l) => l.name)).toEqual(['rpm']);
    clock.advance(29_999);
    expect((await limiter.acquire({ user: 'u1' })).allowed).toBe(false);
    clock.advance(1);
    expect((await limiter.acquire({ user: 'u1' })).allowed).toBe(true);
  });

  it('reports every limit with remaining after the charge', async () => {
    const { limiter } = setup([rpm(5), { name: 'tpm', scope: 'user', resource: 'tokens', limit: 1000, window: '1m' }]);
    const decision = await limiter.acquire({ user: 'u1' }, { tokens: 300 });
    expect(decision.limits).toMatchObject([
      { name: 'rpm', resource: 'requests', limit: 5, used: 1, remaining: 4, windowMs: 60_000 },
      { name: 'tpm', resource: 'tokens', limit: 1000, used: 300, remaining: 700, windowMs: 60_000 },
    ]);
  });

  it('keeps callers apart and skips limits whose scope the identity lacks', async () => {
    const { limiter } = setup([rpm(1), { ...rpm(1, 'ip'), name: 'ip-rpm' }]);
    expect((await limiter.acquire({ user: 'a' })).limits.map((l) => l.name)).toEqual(['rpm']);
    expect((await limiter.acquire({ user: 'b' })).allowed).toBe(true);
    expect((await limiter.acquire({ user: 'a' })).allowed).toBe(false);
    expect((await limiter.acquire({ ip: '203.0.113.9', user: null })).limits.map((l) => l.name)).toEqual(['ip-rpm']);
  });

  it('shares a global limit between everyone', async () => {
    const { limiter } = setup([{ name: 'all', scope: 'global', resource: 'requests', limit: 2, window: '1m' }]);
    expect((await limiter.acquire({})).allowed).toBe(true);
    expect((await limiter.acquire({ user: 'x' })).allowed).toBe(true);
    expect((await limiter.acquire({ user: 'y' })).allowed).toBe(false);
  });

  it('refuses a weighted demand that does not fit and charges nothing anywhere', async () => {
    const { limiter } = setup([
      rpm(10),
      { name: 'tpm', scope: 'user', resource: 'tokens', limit: 5000, window: '1m' },
    ]);
    await limiter.acquire({ user: 'u' }, { tokens: 3000 });
    const denied = await limiter.acquire({ user: 'u' }, { tokens: 3000 });
    expect(denied).toMatchObject({ allowed: false, deniedBy: [{ name: 'tpm', remaining: 2000 }] });
    const usage = await limiter.usage({ user: 'u' });
    expect(usage.find((l) => l.name === 'rpm')).toMatchObject({ used: 1 });
    expect(usage.find((l) => l.name === 'tpm')).toMatchObject({ used: 3000, remaining: 2000 });
    expect((await limiter.acquire({ user: 'u' }, { tokens: 2000 })).allowed).toBe(true);
  });

  it('is all-or-nothing across scopes: a refusing ip limit leaves the user limit untouched', async () => {
    const { limiter } = setup([rpm(10), { ...rpm(1, 'ip'), name: 'ip-rpm' }]);
    await limiter.acquire({ user: 'a', ip: '1.1.1.1' });
    const denied = await limiter.acquire({ user: 'b', ip: '1.1.1.1' });
    expect(denied.deniedBy.map((l) => l.name)).toEqual(['ip-rpm']);
    expect((await limiter.usage({ user: 'b' }))[0]).toMatchObject({ name: 'rpm', used: 0 });
  });

  it('names the most restrictive limit first and waits for the slowest', async () => {
    const { clock, limiter } = setup([
      rpm(1),
      { name: 'rph', scope: 'user', resource: 'requests', limit: 1, window: '1h' },
    ]);
    await limiter.acquire({ user: 'u' });
    clock.advance(1000);
    const denied = await limiter.acquire({ user: 'u' });
    expect(denied.deniedBy.map((l) => [l.name, l.retryAfterMs])).toEqual([
      ['rph', 3_599_000],
      ['rpm', 59_000],
    ]);
    expect(denied.retryAfterMs).toBe(3_599_000);
  });

  it('says a demand larger than the limit can never pass', async () => {
    const { limiter } = setup([{ name: 'tpm', scope: 'user', resource: 'tokens', limit: 100, window: '1m' }]);
    const denied = await limiter.acquire({ user: 'u' }, { tokens: 101 });
    expect(denied).toMatchObject({ allowed: false, retryAfterMs: Infinity });
  });

  it('refuses an exhausted budget even for a zero estimate', async () => {
    const { limiter } = setup([{ name: 'tpm', scope: 'user', resource: 'tokens', limit: 100, window: '1m' }]);
    await limiter.acquire({ user: 'u' }, { tokens: 100 });
    expect((await limiter.acquire({ user: 'u' })).allowed).toBe(false);
  });

  it('makes one store call per decision, whatever the number of limits and scopes', async () => {
    const { store, limiter } = setup([
      rpm(10),
      { name: 'rph', scope: 'user', resource: 'requests', limit: 100, window: '1h' },
      { name: 'tpm', scope: 'user', resource: 'tokens', limit: 10_000, window: '1m' },
      { name: 'usd', scope: 'user', resource: 'cost', limit: 10, reset: { every: 'day' } },
      { name: 'ip-rpm', scope: 'ip', resource: 'requests', limit: 60, window: '1m' },
      { name: 'inflight', scope: 'user', resource: 'concurrency', limit: 4 },
    ]);
    const decision = await limiter.acquire({ user: 'u', ip: '203.0.113.9' }, { tokens: 500, model: 'gpt-4o' });
    expect(decision.limits).toHaveLength(6);
    expect(store.calls).toBe(1);
    await decision.lease!.release();
    expect(store.calls).toBe(2);
  });
});

describe('check', () => {
  it('evaluates without charging and reports remaining before the demand', async () => {
    const { limiter } = setup([{ name: 'tpm', scope: 'user', resource: 'tokens', limit: 1000, window: '1m' }]);
    const checked = await limiter.check({ user: 'u' }, { tokens: 400 });
    expect(checked).toMatchObject({ allowed: true, limits: [{ used: 0, remaining: 1000 }] });
    expect(await limiter.check({ user: 'u' }, { tokens: 1001 })).toMatchObject({ allowed: false });
    expect((await limiter.usage({ user: 'u' }))[0]!.used).toBe(0);
  });
});

describe('bad input', () => {
  const limits: LimitConfig[] = [
    rpm(10),
    { name: 'tpm', scope: 'user', resource: 'tokens', limit: 1000, window: '1m' },
    { name: 'usd', scope: 'user', resource: 'cost', limit: 1, reset: { every: 'day' } },
  ];

  it.each([
    ['a NaN token count', { user: 'u' }, { tokens: Number.NaN }],
    ['a negative token count', { user: 'u' }, { tokens: -1 }],
    ['an infinite cost', { user: 'u' }, { cost: Infinity }],
    ['a negative cost', { user: 'u' }, { cost: -0.01 }],
    ['a misspelt demand field', { user: 'u' }, { token: 5 }],
    ['a numeric user id', { user: 42 }, {}],
    ['an empty user id', { user: '' }, {}],
    ['a 100 KB user id', { user: 'x'.repeat(100_000) }, {}],
  ])('%s throws InvalidInputError and charges nothing', async (_, identity, demand) => {
    const { store, limiter } = setup(limits);
    await expect(limiter.acquire(identity as never, demand as never)).rejects.toBeInstanceOf(InvalidInputError);
    expect(store.calls).toBe(0);
  });

  it('an unknown model with a cost limit throws UnknownModelError and charges nothing', async () => {
    const { store, limiter } = setup(limits);
    await expect(limiter.acquire({ user: 'u' }, { tokens: 10, model: 'gpt-9' })).rejects.toBeInstanceOf(UnknownModelError);
    expect(store.calls).toBe(0);
  });

  it('an unknown model without a cost limit is fine', async () => {
    const { limiter } = setup([rpm(1)]);
    expect((await limiter.acquire({ user: 'u' }, { tokens: 10, model: 'gpt-9' })).allowed).toBe(true);
  });

  it('reads scopes from the identity itself, never from Object.prototype', async () => {
    const { limiter } = setup([{ ...rpm(1, 'constructor'), name: 'odd' }], { scopes: ['constructor'], anonymous: 'allow' });
    expect((await limiter.acquire({ user: 'u' })).limits).toEqual([]);
    expect((await limiter.acquire({ constructor: 'c1' })).allowed).toBe(true);
    expect((await limiter.acquire({ constructor: 'c1' })).allowed).toBe(false);
  });

  it('accepts ids with separators and braces, and never mixes them up', async () => {
    const { limiter } = setup([rpm(1), { ...rpm(1, 'org'), name: 'org-rpm' }], { scopes: ['org'] });
    const ids = ['a:b', 'a', 'b:c', '{a}', 'a}{', 'line\nbreak', '%3A', 'x'.repeat(10_000), 'x'.repeat(10_001), '用户'];
    for (const id of ids) expect((await limiter.acquire({ user: id, org: id })).allowed).toBe(true);
    for (const id of ids) expect((await limiter.acquire({ user: id })).allowed).toBe(false);
  });
});

describe('scopes are checked: a typo never turns a limit off', () => {
  it('a limit keyed on an unknown scope is a ConfigurationError naming the known ones', () => {
    expect(() => setup([rpm(1, 'usr')])).toThrow(ConfigurationError);
    expect(() => setup([rpm(1, 'usr')])).toThrow(/limits\[0\] \("rpm"\): scope "usr" is not a known scope \(known: user, apiKey, ip, session, global\)/);
    expect(() => setup([rpm(1, 'apikey')])).toThrow(/scope "apikey" is not a known scope/);
    const tiers = { free: { limits: [rpm(1, 'team')] } };
    expect(() => setup([], { limits: undefined, tiers, tierOf: () => 'free' })).toThrow(/tiers\.free\.limits\[0\] \("rpm"\): scope "team"/);
    expect(() => setup([], { limits: undefined, tiers, tierOf: () => 'free', scopes: ['team'] })).not.toThrow();
  });

  it('limits computed from the identity are checked when they are used', async () => {
    const { limiter } = setup([], { limits: () => [rpm(1, 'usr')] });
    await expect(limiter.acquire({ user: 'u' })).rejects.toThrow(/scope "usr" is not a known scope/);
  });

  it('custom scopes are declared once, with names that can be keys', () => {
    expect(() => setup([rpm(1)], { scopes: ['user'] })).toThrow(/"user" is built in/);
    expect(() => setup([rpm(1)], { scopes: ['global'] })).toThrow(/"global" is built in/);
    expect(() => setup([rpm(1)], { scopes: ['team:x'] })).toThrow(/custom scope is a letter/);
    expect(() => setup([rpm(1)], { scopes: 'team' as never })).toThrow(/scopes must be an array/);
  });

  it('an identity field that is no scope is an InvalidInputError, and charges nothing', async () => {
    const { limiter } = setup([rpm(1), { ...rpm(1, 'ip'), name: 'ip-rpm' }]);
    await expect(limiter.acquire({ userId: 'alice', ip: '203.0.113.9' })).rejects.toThrow(/identity\.userId is not a scope of this limiter \(scopes: user, apiKey, ip, session\)/);
    await expect(limiter.check({ usr: 'alice' })).rejects.toBeInstanceOf(InvalidInputError);
    expect((await limiter.usage({ ip: '203.0.113.9' }))[0]!.used).toBe(0);
  });

  it('where the scopes are known, an identity field that is no scope does not compile either', async () => {
    const typed = createLimiter({ store: new EngineStore(Date.now), limits: [rpm(1), { ...rpm(1, 'team'), name: 'team-rpm' }], scopes: ['team'] });
    expect((await typed.acquire({ user: 'a', team: 't' })).allowed).toBe(true);
    // @ts-expect-error: userId is no scope
    await expect(typed.acquire({ userId: 'a' })).rejects.toBeInstanceOf(InvalidInputError);
    // @ts-expect-error: org was never declared
    await expect(typed.check({ user: 'a', org: 'o' })).rejects.toBeInstanceOf(InvalidInputError);
  });

  it('an identity that matches no limit is refused with reason no-identity, and charges nothing', async () => {
    const { limiter } = setup([rpm(1), { name: 'usd', scope: 'user', resource: 'cost', limit: 1, reset: { every: 'day' } }]);
    // What an identify() that ran before authentication returns.
    const refused = await limiter.acquire({ user: undefined });
    expect(refused).toMatchObject({ allowed: false, reason: 'no-identity', retryAfterMs: Infinity, deniedBy: [], limits: [] });
    expect(refused.lease).toBeUndefined();
    expect(await limiter.check({})).toMatchObject({ allowed: false, reason: 'no-identity' });
    expect((await limiter.acquire({ user: 'u' })).allowed).toBe(true);
  });

  it("a policy opts in to unlimited anonymous callers with anonymous: 'allow', per limiter or per tier", async () => {
    const open = setup([rpm(1)], { anonymous: 'allow' }).limiter;
    expect(await open.acquire({ ip: '203.0.113.9' })).toMatchObject({ allowed: true, limits: [] });
    const tiers = { free: { limits: [rpm(1)] }, public: { limits: [rpm(1)], anonymous: 'allow' as const } };
    const { limiter } = setup([], { limits: undefined, tiers, tierOf: (identity) => (identity.ip ? 'public' : 'free') });
    expect((await limiter.acquire({ ip: '203.0.113.9' })).allowed).toBe(true);
    expect(await limiter.acquire({ session: 's1' })).toMatchObject({ allowed: false, reason: 'no-identity', tier: 'free' });
    expect(() => setup([rpm(1)], { anonymous: 'yes' as never })).toThrow(/anonymous must be 'refuse' or 'allow'/);
  });

  it('a global limit applies to everyone, so an identity without fields is limited by it', async () => {
    const { limiter } = setup([rpm(1), { ...rpm(1, 'global'), name: 'global-rpm' }]);
    expect((await limiter.acquire({})).allowed).toBe(true);
    expect(await limiter.acquire({})).toMatchObject({ allowed: false, reason: 'limited', deniedBy: [{ name: 'global-rpm' }] });
  });
});

describe('waitFor', () => {
  const store = () => new EngineStore(Date.now);
  const tpm: LimitConfig = { name: 'tpm', scope: 'user', resource: 'tokens', limit: 10_000, window: '1m' };

  it('waits for as long as the refusal says, then admits', async () => {
    const limiter = createLimiter({ store: store(), limits: [{ name: 'burst', scope: 'user', resource: 'requests', limit: 1, window: 200 }] });
    expect((await limiter.acquire({ user: 'u' })).allowed).toBe(true);
    expect((await limiter.acquire({ user: 'u' })).allowed).toBe(false);
    const waited = await limiter.waitFor({ user: 'u' }, undefined, { timeoutMs: 5_000 });
    expect(waited.allowed).toBe(true);
  });

  it('returns the refusal at once when the wait would pass the timeout, or no wait can cure it', async () => {
    const limiter = createLimiter({ store: store(), limits: [{ name: 'rph', scope: 'user', resource: 'requests', limit: 1, window: '1h' }, tpm] });
    await limiter.acquire({ user: 'u' });
    // Each returns at once: waiting out these timeouts would outlast the test's own.
    expect(await limiter.waitFor({ user: 'u' }, undefined, { timeoutMs: 1_000 })).toMatchObject({ allowed: false, deniedBy: [{ name: 'rph' }] });
    expect(await limiter.waitFor({ user: 'v' }, { tokens: 10_001 }, { timeoutMs: 60_000 })).toMatchObject({ allowed: false, retryAfterMs: Infinity });
    expect(await limiter.waitFor({}, undefined, { timeoutMs: 60_000 })).toMatchObject({ allowed: false, reason: 'no-identity' });
    await expect(limiter.waitFor({ user: 'u' }, undefined, { timeoutMs: -1 })).rejects.toThrow(/timeoutMs must be/);
  });

  it('stops waiting when its signal aborts', async () => {
    const limiter = createLimiter({ store: store(), limits: [{ name: 'rpm', scope: 'user', resource: 'requests', limit: 1, window: '1m' }] });
    await limiter.acquire({ user: 'u' });
    const stop = new AbortController();
    const waiting = limiter.waitFor({ user: 'u' }, undefined, { timeoutMs: 120_000, signal: stop.signal });
    setTimeout(() => stop.abort(new Error('shutting down')), 20);
    await expect(waiting).rejects.toThrow('shutting down');
  });
});

describe('cost', () => {
  it('a million charges of $0.0000003 add up to exactly $0.30', async () => {
    const { limiter } = setup([{ name: 'usd', scope: 'user', resource: 'cost', limit: 0.3, reset: { every: 'day' } }]);
    const decision = await limiter.acquire({ user: 'u' }, { cost: 0 });
    const lease = decision.lease!;
    for (let i = 0; i < 1_000_000; i++) await lease.record({ cost: 0.0000003 });
    const [usd] = await limiter.usage({ user: 'u' });
    expect(usd).toMatchObject({ used: 0.3, remaining: 0 });
    expect(lease.totals.cost).toBe(0.3);
  });

  it('reserves by price and model, rounding each call up', async () => {
    const { limiter } = setup([{ name: 'usd', scope: 'user', resource: 'cost', limit: 10, reset: { every: 'day' } }]);
    // Split known: 1000 in at $2.50/M + 500 out at $10/M = $0.0075.
    const split = await limiter.acquire({ user: 'a' }, { inputTokens: 1000, outputTokens: 500, model: 'gpt-4o' });
    expect(split.limits[0]!.used).toBe(0.0075);
    // Split unknown: priced at the dearer (output) rate.
    const total = await limiter.acquire({ user: 'b' }, { tokens: 1500, model: 'gpt-4o' });
    expect(total.limits[0]!.used).toBe(0.015);
    // 1 token of gpt-4o-mini input = $0.00000015, exactly 150 nano-dollars; 1 cached = 75.
    const lease = (await limiter.acquire({ user: 'c' }, { cost: 0 })).lease!;
    expect(await lease.record({ model: 'gpt-4o-mini', inputTokens: 3, cachedInputTokens: 1 })).toMatchObject({ cost: 0.000000375 });
  });
});

describe('degradation', () => {
  it('walks down the ladder as the budget fills, then refuses', async () => {
    const { limiter } = setup(
      [{ name: 'daily-usd', scope: 'user', resource: 'cost', limit: 10, reset: { every: 'day' } }],
      {
        degrade: {
          budget: 'daily-usd',
          steps: [
            { below: 0.5, model: 'gpt-4o', maxTokens: 4096 },
            { below: 0.8, model: 'gpt-4o-mini', maxTokens: 2048 },
            { model: 'gpt-4o-mini', maxTokens: 1024 },
          ],
        },
      },
    );
    const spend = async (usd: number) => (await limiter.acquire({ user: 'u' }, { cost: usd })).degrade;
    expect(await spend(4.99)).toEqual({ step: 0, model: 'gpt-4o', maxTokens: 4096, usageRatio: 0 });
    expect(await spend(0.01)).toMatchObject({ step: 0, usageRatio: 0.499 });
    expect(await spend(3)).toMatchObject({ step: 1, model: 'gpt-4o-mini', maxTokens: 2048, usageRatio: 0.5 });
    expect(await spend(1.9)).toMatchObject({ step: 2, maxTokens: 1024, usageRatio: 0.8 });
    const denied = await limiter.acquire({ user: 'u' }, { cost: 0.2 });
    expect(denied).toMatchObject({ allowed: false, degrade: { step: 2 } });
  });
});

describe('tiers', () => {
  it('picks the policy by tier, caches the answer for the TTL, and sees a change after it', async () => {
    const tiersOf = new Map([['u', 'free']]);
    let lookups = 0;
    const clock = manualClock();
    const limiter = createLimiter({
      store: new EngineStore(clock),
      clock,
      tiers: { free: { limits: [rpm(1)] }, pro: { limits: [rpm(100)] } },
      tierOf: async ({ user }) => {
        lookups++;
        return tiersOf.get(user!) ?? 'free';
      },
      tierCacheTtl: '30s',
    });
    const first = await limiter.acquire({ user: 'u' });
    expect(first).toMatchObject({ allowed: true, tier: 'free' });
    tiersOf.set('u', 'pro');
    expect(await limiter.acquire({ user: 'u' })).toMatchObject({ allowed: false, tier: 'free' });
    expect(lookups).toBe(1);
    clock.advance(30_000);
    expect(await limiter.acquire({ user: 'u' })).toMatchObject({ allowed: true, tier: 'pro', limits: [{ limit: 100 }] });
    expect(lookups).toBe(2);
  });

  it('shares one tierOf call between concurrent requests of one caller', async () => {
    let lookups = 0;
    const clock = manualClock();
    const limiter = createLimiter({
      store: new EngineStore(clock),
      clock,
      tiers: { free: { limits: [rpm(100)] } },
      tierOf: async () => {
        lookups++;
        await new Promise((resolve) => setTimeout(resolve, 5));
        return 'free';
      },
    });
    await Promise.all(Array.from({ length: 20 }, () => limiter.acquire({ user: 'u' })));
    expect(lookups).toBe(1);
  });

  it('an unknown tier is a ConfigurationError and charges nothing', async () => {
    const clock = manualClock();
    const store = new EngineStore(clock);
    const limiter = createLimiter({ store, clock, tiers: { free: { limits: [rpm(1)] } }, tierOf: () => 'gold' });
    await expect(limiter.acquire({ user: 'u' })).rejects.toThrow(/tierOf returned "gold"/);
    expect(store.calls).toBe(0);
  });

  it('a limit that changes resource between tiers starts a fresh counter', async () => {
    const clock = manualClock();
    const limiter = createLimiter({
      store: new EngineStore(clock),
      clock,
      prices,
      tiers: {
        pro: { limits: [{ name: 'budget', scope: 'user', resource: 'cost', limit: 1, window: '1d' }] },
        free: { limits: [{ name: 'budget', scope: 'user', resource: 'tokens', limit: 1_000, window: '1d' }] },
      },
      tierOf: ({ user }) => (user === 'pro' ? 'pro' : 'free'),
    });
    await limiter.acquire({ user: 'pro' }, { cost: 0.5 });
    expect((await limiter.usage({ user: 'pro' }))[0]!.used).toBe(0.5);
    expect((await limiter.usage({ user: 'free' }))[0]!.used).toBe(0);
  });

  it('takes limits as a function of the identity', async () => {
    const free = [rpm(1)];
    const pro = [rpm(5)];
    const { limiter } = setup([], { limits: ({ user }) => (user?.startsWith('pro_') ? pro : free) });
    expect((await limiter.acquire({ user: 'pro_1' })).limits[0]!.limit).toBe(5);
    expect((await limiter.acquire({ user: 'bob' })).limits[0]!.limit).toBe(1);
  });
});

describe('configuration', () => {
  it.each([
    ['a negative limit', [{ ...rpm(1), limit: -1 }], /limit must be a finite number/],
    ['a fractional request limit', [{ ...rpm(1), limit: 1.5 }], /whole number/],
    ['a NaN limit', [{ ...rpm(1), limit: Number.NaN }], /limit must be a finite number/],
    ['a bad window', [{ ...rpm(1), window: '1 fortnight' }], /not a duration/],
    ['both window and reset', [{ ...rpm(1), reset: { every: 'day' } }], /exactly one of window/],
    ['an unknown time zone', [{ ...rpm(1), window: undefined, reset: { every: 'day', timeZone: 'Mars/Olympus' } }], /IANA/],
    ['an unknown resource', [{ ...rpm(1), resource: 'bananas' }], /resource must be one of/],
    ['duplicate names', [rpm(1), rpm(2)], /two limits are named "rpm"/],
    ['an unknown option', [{ ...rpm(1), windw: '1m' }], /unknown option "windw"/],
    ['a window on concurrency', [{ name: 'c', scope: 'user', resource: 'concurrency', limit: 1, window: '1m' }], /concurrency/],
    ['a tool on a request limit', [{ ...rpm(1), tool: 'x' }], /toolCalls limits only/],
  ])('%s fails at createLimiter', (_, limits, message) => {
    const clock = manualClock();
    expect(() => createLimiter({ store: new EngineStore(clock), limits: limits as LimitConfig[] })).toThrow(ConfigurationError);
    expect(() => createLimiter({ store: new EngineStore(clock), limits: limits as LimitConfig[] })).toThrow(message);
  });

  it('accepts a token bucket of less than a dollar', () => {
    const clock = manualClock();
    expect(() =>
      createLimiter({
        store: new EngineStore(clock),
        limits: [{ name: 'usd', scope: 'user', resource: 'cost', limit: 0.5, window: '1m', algorithm: 'token-bucket' }],
      }),
    ).not.toThrow();
  });

  it('refuses a store that cannot enforce the policy', () => {
    const store = { capabilities: { algorithms: ['log'] as const }, apply: () => ({ now: 0, allowed: true, readings: [] }) };
    expect(() =>
      createLimiter({ store, limits: [{ name: 't', scope: 'user', resource: 'tokens', limit: 5, window: '1m' }] }),
    ).toThrow(/cannot enforce "window"/);
  });

  it("needs a localStore for onStoreError: 'local'", () => {
    const clock = manualClock();
    expect(() => createLimiter({ store: new EngineStore(clock), limits: [rpm(1)], onStoreError: 'local' })).toThrow(/localStore/);
  });

  it('validates the degradation ladder', () => {
    const clock = manualClock();
    const make = (steps: unknown[]) => () =>
      createLimiter({ store: new EngineStore(clock), limits: [rpm(1)], degrade: { budget: 'rpm', steps: steps as never } });
    expect(make([{ below: 0.8 }, { below: 0.5 }, {}])).toThrow(/ascending/);
    expect(make([{ below: 0.5 }])).toThrow(/last step must have no "below"/);
    expect(make([{ maxTokens: 0 }])).toThrow(/maxTokens/);
  });
});

describe('admin', () => {
  it('reset clears one limit or all of them', async () => {
    const { limiter } = setup([rpm(1), { name: 'rph', scope: 'user', resource: 'requests', limit: 1, window: '1h' }]);
    await limiter.acquire({ user: 'u' });
    await limiter.reset({ user: 'u' }, 'rpm');
    expect((await limiter.usage({ user: 'u' })).map((l) => l.used)).toEqual([0, 1]);
    await limiter.reset({ user: 'u' });
    expect((await limiter.usage({ user: 'u' })).map((l) => l.used)).toEqual([0, 0]);
    await expect(limiter.reset({ user: 'u' }, 'nope')).rejects.toThrow(InvalidInputError);
  });
});
