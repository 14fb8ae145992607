import { describe, expect, it } from 'vitest';
import { ConfigurationError, createHttpLimit, createLimiter, InvalidInputError, ipIdentity, type LimitConfig, type Store, type StoreBatch } from '../src/index.js';
import { EngineStore, manualClock } from './support/engine-store.js';

const policy: LimitConfig[] = [
  { name: 'rpm', scope: 'user', resource: 'requests', limit: 3, window: '1m' },
  { name: 'tpm', scope: 'user', resource: 'tokens', limit: 10_000, window: '1m' },
  { name: 'daily-usd', scope: 'user', resource: 'cost', limit: 5, reset: { every: 'day' } },
  { name: 'ip-rph', scope: 'ip', resource: 'requests', limit: 100, window: '1h' },
  { name: 'inflight', scope: 'user', resource: 'concurrency', limit: 2 },
];

function setup(limits = policy, store?: Store) {
  const clock = manualClock(Date.UTC(2026, 0, 15, 12, 0, 0));
  const limiter = createLimiter({ store: store ?? new EngineStore(clock), limits, clock });
  return { clock, limiter };
}

describe('ipIdentity', () => {
  it('groups IPv6 clients by their /64 (or the configured prefix), and keeps IPv4 as is', () => {
    expect(ipIdentity('2001:db8:1:2:aaaa:bbbb:cccc:dddd')).toBe('2001:db8:1:2::/64');
    expect(ipIdentity('2001:DB8:0001:0002::1')).toBe('2001:db8:1:2::/64');
    expect(ipIdentity('2001:db8:abcd:12ff::1', 56)).toBe('2001:db8:abcd:1200::/56');
    expect(ipIdentity('2001:db8::5', 128)).toBe('2001:db8::5/128');
    expect(ipIdentity('fe80::1%eth0')).toBe('fe80::/64');
    expect(ipIdentity('203.0.113.9')).toBe('203.0.113.9');
    expect(ipIdentity('::ffff:203.0.113.9')).toBe('203.0.113.9');
    expect(ipIdentity('64:ff9b::192.0.2.1', 128)).toBe('64:ff9b::c000:201/128');
  });

  it('reads an IPv4 client in every IPv6 spelling as that IPv4 address', () => {
    for (const spelling of ['::ffff:cb00:7109', '0:0:0:0:0:ffff:203.0.113.9', '::FFFF:203.0.113.9', '::ffff:0:203.0.113.9']) {
      expect(ipIdentity(spelling)).toBe('203.0.113.9');
    }
    expect(ipIdentity('::1', 128)).toBe('::1/128');
  });
});

describe('createHttpLimit', () => {
  it('answers synchronously over an in-process store and synchronous hooks, asynchronously otherwise', async () => {
    const { limiter } = setup();
    const admit = createHttpLimit<{ user: string }>({ limiter, identify: (req) => ({ user: req.user }) }, 'test');
    const now = admit({ user: 'u1' }, '203.0.113.9');
    expect(now).not.toBeInstanceOf(Promise);
    expect(now).toMatchObject({ kind: 'allowed' });
    const later = createHttpLimit<{ user: string }>({ limiter, identify: async (req) => ({ user: req.user }) }, 'test')({ user: 'u1' }, '203.0.113.9');
    expect(later).toBeInstanceOf(Promise);
    expect(await later).toMatchObject({ kind: 'allowed' });
    // Bad input rejects rather than throwing at the adapter.
    const bad = createHttpLimit<{ user: string }>({ limiter, identify: () => ({ user: 42 as unknown as string }) }, 'test')({ user: 'u1' }, undefined);
    await expect(bad).rejects.toThrow(InvalidInputError);
  });

  it('asks the framework for the client IP only when a limit keys on it', () => {
    let asked = 0;
    const clientIp = () => {
      asked++;
      return '203.0.113.9';
    };
    const withoutIp = setup(policy.filter((limit) => limit.scope !== 'ip')).limiter;
    createHttpLimit<object>({ limiter: withoutIp, identify: () => ({ user: 'u1' }) }, 'test')({}, clientIp);
    expect(asked).toBe(0);
    const admission = createHttpLimit<object>({ limiter: setup().limiter, identify: () => ({ user: 'u1' }) }, 'test')({}, clientIp);
    expect(asked).toBe(1);
    expect(admission).toMatchObject({ kind: 'allowed', context: { decision: { limits: expect.arrayContaining([expect.objectContaining({ name: 'ip-rph', used: 1 })]) } } });
  });

  it('admits with exact headers for every family, consistent with the decision', async () => {
    const { clock, limiter } = setup();
    const admit = createHttpLimit({ limiter, identify: () => ({ user: 'u' }), demand: () => ({ tokens: 1_500, cost: 0.25 }), headers: ['ietf', 'openai', 'legacy'], clock }, 'test');
    const admission = await admit({}, '203.0.113.9');
    expect(admission.kind).toBe('allowed');
    if (admission.kind !== 'allowed') return;
    expect(admission.context.decision.limits.map((state) => state.name)).toEqual(['rpm', 'tpm', 'daily-usd', 'ip-rph', 'inflight']);
    const now = clock();
    const midnight = Date.UTC(2026, 0, 16);
    expect(admission.headers).toEqual({
      'ratelimit-policy': '"rpm";q=3;w=60, "tpm";q=10000;qu="tokens";w=60, "daily-usd";q=500;qu="usd-cents", "ip-rph";q=100;w=3600, "inflight";q=2;qu="concurrent-requests"',
      // Tokens count in a sliding-window counter of 10 segments: a charge counts until its 6 s
      // segment has left the window. A lease holds its slot for its TTL (5 minutes by default).
      ratelimit: `"rpm";r=2;t=60, "tpm";r=8500;t=66, "daily-usd";r=475;t=${(midnight - now) / 1000}, "ip-rph";r=99;t=3600, "inflight";r=1;t=1`,
      'x-ratelimit-limit-requests': '3',
      'x-ratelimit-remaining-requests': '2',
      'x-ratelimit-reset-requests': '1m0s',
      'x-ratelimit-limit-tokens': '10000',
      'x-ratelimit-remaining-tokens': '8500',
      'x-ratelimit-reset-tokens': '1m6s',
      'x-ratelimit-limit': '3',
      'x-ratelimit-remaining': '2',
      'x-ratelimit-reset': String((now + 60_000) / 1000),
    });
    await admission.context.release();
  });

  it('refuses with a 429, OpenAI-style body, Retry-After and retry-after-ms; a failed store with a 503', async () => {
    const { clock, limiter } = setup();
    const admit = createHttpLimit({ limiter, identify: () => ({ user: 'u' }), headers: ['ietf', 'openai'], clock }, 'test');
    for (let i = 0; i < 3; i++) {
      const admission = await admit({}, undefined);
      if (admission.kind === 'allowed') await admission.context.release();
      clock.advance(10_000);
    }
    const refused = await admit({}, undefined);
    expect(refused.kind).toBe('refused');
    if (refused.kind !== 'refused') return;
    expect(refused.response.status).toBe(429);
    expect(refused.response.headers).toMatchObject({ 'retry-after': '30', 'retry-after-ms': '30000', 'x-should-retry': 'true', 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '30s' });
    expect(refused.response.headers['ratelimit']).toContain('"rpm";r=0;t=30');
    expect(refused.response.body).toEqual({
      error: {
        type: 'requests',
        code: 'rate_limit_exceeded',
        message: 'Rate limit reached on rpm (requests): limit 3, used 3. Please try again in 30s.',
        limit: 'rpm',
        retry_after_ms: 30_000,
        param: null,
      },
    });

    const failing: Store = { capabilities: new EngineStore(clock).capabilities, apply: (_batch: StoreBatch) => Promise.reject(new Error('ECONNREFUSED')) };
    const down = createHttpLimit({ limiter: setup(policy, failing).limiter, identify: () => ({ user: 'u' }) }, 'test');
    const unavailable = await down({}, undefined);
    expect(unavailable.kind === 'refused' && unavailable.response).toMatchObject({
      status: 503,
      headers: { 'retry-after': '1', 'retry-after-ms': '1000' },
      body: { error: { type: 'service_unavailable', code: 'rate_limiter_unavailable', limit: null, retry_after_ms: 1000 } },
    });
  });

  it('sends the IETF draft headers unless asked for more', async () => {
    const { limiter } = setup();
    const admission = await createHttpLimit({ limiter, identify: () => ({ user: 'u' }) }, 'test')({}, undefined);
    expect(admission.kind === 'allowed' && Object.keys(admission.headers)).toEqual(['ratelimit-policy', 'ratelimit']);
  });

  it('tells OpenAI clients not to retry a refusal that lasts beyond their retry horizon', async () => {
    const { limiter } = setup([{ name: 'daily', scope: 'user', resource: 'requests', limit: 1, reset: { every: 'day' } }]);
    const admit = createHttpLimit({ limiter, identify: () => ({ user: 'u' }) }, 'test');
    await admit({}, undefined);
    const refused = await admit({}, undefined);
    expect(refused.kind === 'refused' && refused.response.headers['x-should-retry']).toBe('false');
  });

  it('takes the identity from identify() and the IP the framework trusts, never from client headers', async () => {
    const { limiter } = setup();
    const seen: unknown[] = [];
    const spying = { ...limiter, acquire: (identity: never, ...rest: never[]) => (seen.push(identity), limiter.acquire(identity, ...rest)) };
    const admit = createHttpLimit<{ headers: Record<string, string> }>({ limiter: spying, identify: () => ({ user: 'authenticated' }) }, 'test');
    await admit({ headers: { 'x-user-id': 'someone-else', 'x-forwarded-for': '198.51.100.1' } }, '2001:db8:1:2::99');
    expect(seen).toEqual([{ user: 'authenticated', ip: '2001:db8:1:2::/64' }]);

    const noIp = createHttpLimit({ limiter: spying, identify: () => ({ user: 'u', ip: null }) }, 'test');
    await noIp({}, '203.0.113.9');
    expect(seen[1]).toEqual({ user: 'u', ip: null });
  });

  it('groups an ip that identify() returns, keeps the framework IP when it returns none, and refuses a non-object', async () => {
    const { limiter } = setup();
    const seen: unknown[] = [];
    const spying = { ...limiter, acquire: (identity: never, ...rest: never[]) => (seen.push(identity), limiter.acquire(identity, ...rest)) };
    await createHttpLimit({ limiter: spying, identify: () => ({ user: 'u', ip: '2001:db8:1:2::7' }) }, 'test')({}, '203.0.113.9');
    await createHttpLimit({ limiter: spying, identify: () => ({ user: 'u', ip: undefined }) }, 'test')({}, '203.0.113.9');
    expect(seen).toEqual([{ user: 'u', ip: '2001:db8:1:2::/64' }, { user: 'u', ip: '203.0.113.9' }]);
    await expect(createHttpLimit({ limiter, identify: () => undefined as never }, 'test')({}, '203.0.113.9')).rejects.toThrow(InvalidInputError);
  });

  it('omits reset headers it cannot state when a demand can never pass', async () => {
    const { limiter } = setup();
    const admit = createHttpLimit({ limiter, identify: () => ({ user: 'u' }), demand: () => ({ tokens: 50_000 }), headers: ['ietf', 'openai', 'legacy'] }, 'test');
    const refused = await admit({}, undefined);
    expect(refused.kind).toBe('refused');
    if (refused.kind !== 'refused') return;
    expect(refused.response.body.error).toMatchObject({ limit: 'tpm', retry_after_ms: null });
    expect(Object.values(refused.response.headers).join(' ')).not.toMatch(/Infinity|NaN/);
    expect(refused.response.headers).not.toHaveProperty('retry-after');
    expect(refused.response.headers).not.toHaveProperty('x-ratelimit-reset-tokens');
    expect(refused.response.headers['x-should-retry']).toBe('false');
  });

  it('without identify, callers are told apart by the address the framework trusts', async () => {
    const { limiter } = setup([{ name: 'ip-rpm', scope: 'ip', resource: 'requests', limit: 1, window: '1m' }]);
    const admit = createHttpLimit({ limiter }, 'test');
    expect((await admit({}, '203.0.113.9')).kind).toBe('allowed');
    expect((await admit({}, '203.0.113.10')).kind).toBe('allowed');
    expect((await admit({}, '203.0.113.9')).kind).toBe('refused');
  });

  it('without identify, a policy that keys on no ip is a configuration error, not a 403 on every request', () => {
    const { limiter } = setup([{ name: 'rpm', scope: 'user', resource: 'requests', limit: 1, window: '1m' }]);
    expect(() => createHttpLimit({ limiter }, 'test')).toThrow(/identify\(req\) was left out, so callers are told apart by their IP alone, but no limit keys on ip \(scopes: user\)/);
  });

  it('warns once when a forwarded-for header arrives that the framework does not trust, and not when turned off', async () => {
    const { limiter } = setup();
    const warnings: unknown[] = [];
    const untrusted = { forwardedUntrusted: (req: { forwarded: boolean }) => req.forwarded, trustProxyHint: "app.set('trust proxy', 1)" };
    const admit = createHttpLimit({ limiter, identify: () => ({ user: 'u' }), onWarning: (warning) => warnings.push(warning) }, 'test', untrusted);
    await admit({ forwarded: false }, '203.0.113.9');
    expect(warnings).toEqual([]);
    await admit({ forwarded: true }, '203.0.113.9');
    await admit({ forwarded: true }, '203.0.113.9');
    expect(warnings).toEqual([{ code: 'TOLLGATE_FORWARDED_UNTRUSTED', message: expect.stringContaining("trust it (app.set('trust proxy', 1))") }]);
    const quiet = createHttpLimit({ limiter, identify: () => ({ user: 'v' }), onWarning: false }, 'test', { forwardedUntrusted: () => { throw new Error('never asked'); } });
    expect((await quiet({}, '203.0.113.9')).kind).toBe('allowed');
  });

  it('refundWhen: a request whose response failed does not count against request limits', async () => {
    const { limiter } = setup();
    const admit = createHttpLimit({ limiter, identify: () => ({ user: 'u' }), refundWhen: (status) => status >= 500 }, 'test');
    for (const status of [502, 200, 503, undefined]) {
      const admission = await admit({}, undefined);
      if (admission.kind !== 'allowed') throw new Error('expected admission');
      await admission.context.release(status);
    }
    // Of four requests, the 200 and the one released without a status (a client gone) count.
    expect((await limiter.usage({ user: 'u' })).find((state) => state.name === 'rpm')!.used).toBe(2);
    expect(() => createHttpLimit({ limiter, identify: () => ({ user: 'u' }), refundWhen: 500 as never }, 'test')).toThrow(/refundWhen must be a function/);
  });

  it('a request whose identity matches no limit is refused with 403, not let through', async () => {
    const { limiter } = setup();
    // A route where authentication did not run: no user, and the IP scope left out.
    const admit = createHttpLimit({ limiter, identify: () => ({ user: undefined, ip: null }) }, 'test');
    const refused = await admit({}, '203.0.113.9');
    if (refused.kind !== 'refused') throw new Error('expected a refusal');
    expect(refused.response.status).toBe(403);
    expect(refused.response.body.error).toMatchObject({ code: 'no_identity', retry_after_ms: null });
    expect(refused.response.headers['x-should-retry']).toBe('false');
  });

  it('a refusal on an in-flight limit asks for a short retry, not the lease TTL', async () => {
    const { limiter } = setup([{ name: 'inflight', scope: 'user', resource: 'concurrency', limit: 1 }]);
    const admit = createHttpLimit({ limiter, identify: () => ({ user: 'u' }) }, 'test');
    expect((await admit({}, undefined)).kind).toBe('allowed');
    const refused = await admit({}, undefined);
    if (refused.kind !== 'refused') throw new Error('expected a refusal');
    expect(refused.response.headers).toMatchObject({ 'retry-after': '1', 'retry-after-ms': '1000', 'x-should-retry': 'true', ratelimit: '"inflight";r=0;t=1' });
    expect(refused.response.body.error.message).toMatch(/try again in 1s/);
  });

  it('contains an onReleaseError that throws', async () => {
    const failing: Store = { capabilities: new EngineStore(Date.now).capabilities, apply: (batch: StoreBatch) => (batch.charges.length ? new EngineStore(Date.now).apply(batch) : Promise.reject(new Error('down'))) };
    const { limiter } = setup([{ name: 'inflight', scope: 'user', resource: 'concurrency', limit: 1 }], failing);
    const admit = createHttpLimit({ limiter, identify: () => ({ user: 'u' }), onReleaseError: () => { throw new Error('handler bug'); } }, 'test');
    const admission = await admit({}, undefined);
    if (admission.kind !== 'allowed') throw new Error('expected admission');
    await expect(admission.context.release()).resolves.toBeUndefined();
  });

  it('skips requests the app lets through, counting nothing', async () => {
    const { limiter } = setup();
    const admit = createHttpLimit<{ path: string }>({ limiter, identify: () => ({ user: 'u' }), skip: (req) => req.path === '/health' }, 'test');
    for (let i = 0; i < 10; i++) expect((await admit({ path: '/health' }, undefined)).kind).toBe('skipped');
    expect((await limiter.usage({ user: 'u' })).find((state) => state.name === 'rpm')!.used).toBe(0);
  });

  it('release() frees the slot and refunds the reservation, once, and never rejects', async () => {
    const { limiter } = setup();
    const errors: unknown[] = [];
    const admit = createHttpLimit({ limiter, identify: () => ({ user: 'u' }), demand: () => ({ tokens: 4_000 }), onReleaseError: (error) => errors.push(error) }, 'test');
    const admission = await admit({}, undefined);
    if (admission.kind !== 'allowed') throw new Error('expected admission');
    await admission.context.lease.record({ inputTokens: 500, outputTokens: 500, cost: 0.01 });
    await Promise.all([admission.context.release(), admission.context.release()]);
    const byName = Object.fromEntries((await limiter.usage({ user: 'u' })).map((state) => [state.name, state.used]));
    expect(byName).toMatchObject({ inflight: 0, tpm: 1_000, rpm: 1 });
    expect(errors).toEqual([]);
  });

  it('refuses malformed options when the adapter is created', () => {
    const { limiter } = setup();
    const identify = () => ({ user: 'u' });
    expect(() => createHttpLimit({ limiter, identify: 5 as never }, 'test')).toThrow(/identify must be a function/);
    expect(() => createHttpLimit({ limiter, identify, onWarning: 'log' as never }, 'test')).toThrow(/onWarning must be a function, or false/);
    expect(() => createHttpLimit({ limiter: {} as never, identify }, 'test')).toThrow(ConfigurationError);
    expect(() => createHttpLimit({ limiter, identify, headers: ['draft-6' as never] }, 'test')).toThrow(/headers must be/);
    expect(() => createHttpLimit({ limiter, identify, ipv6Subnet: 200 }, 'test')).toThrow(/ipv6Subnet/);
    expect(() => createHttpLimit({ limiter, identify, demand: 5 as never }, 'test')).toThrow(/demand must be a function/);
  });
});
