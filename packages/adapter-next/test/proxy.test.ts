import { ConfigurationError, createLimiter } from '@tollgate/core';
import { NextRequest, NextResponse } from 'next/server';
import { describe, expect, it } from 'vitest';
import { tollgateProxy } from '../src/index.js';
import { downStore, POLICY, limiterWith, manualClock, usedOf, userOf } from './support.js';

const request = (user: string, headers: Record<string, string> = {}) =>
  new NextRequest('http://localhost:3000/api/chat', { method: 'POST', headers: { authorization: `Bearer ${user}`, ...headers } });
const identify = (req: NextRequest) => ({ user: userOf(req) });

describe('tollgateProxy', () => {
  it('lets admitted requests continue and refuses over the limit with a 429 and the OpenAI-style body', async () => {
    const clock = manualClock();
    const limiter = limiterWith(POLICY, { clock });
    const proxy = tollgateProxy({ limiter, identify, clock });

    const outcomes = [];
    for (let i = 0; i < 3; i++) {
      outcomes.push(await proxy(request('alice')));
      clock.advance(10_000);
    }
    const refused = await proxy(request('alice'));

    expect(outcomes).toEqual([undefined, undefined, undefined]);
    expect(refused?.status).toBe(429);
    expect(Object.fromEntries(refused!.headers)).toMatchObject({ 'retry-after': '30', 'retry-after-ms': '30000', 'content-type': 'application/json' });
    expect(refused?.headers.get('ratelimit')).toContain('"rpm";r=0;t=30');
    expect(await refused?.json()).toEqual({
      error: {
        type: 'requests',
        code: 'rate_limit_exceeded',
        message: 'Rate limit reached on rpm (requests): limit 3, used 3. Please try again in 30s.',
        limit: 'rpm',
        retry_after_ms: 30_000,
        param: null,
      },
    });
  });

  it('releases at once: requests count, a token demand is checked and refunded, no slot stays held', async () => {
    const limiter = limiterWith([
      { name: 'rpm', scope: 'user', resource: 'requests', limit: 10, window: '1m' },
      { name: 'tpm', scope: 'user', resource: 'tokens', limit: 10_000, window: '1m' },
      { name: 'inflight', scope: 'user', resource: 'concurrency', limit: 1 },
    ], { clock: Date.now });
    const proxy = tollgateProxy({ limiter, identify, demand: (req) => ({ tokens: Number(req.headers.get('x-estimate')) }) });

    for (let i = 0; i < 3; i++) expect(await proxy(request('bob', { 'x-estimate': '6000' }))).toBeUndefined();
    expect(await usedOf(limiter, { user: 'bob' })).toEqual({ rpm: 3, tpm: 0, inflight: 0 });

    const tooBig = await proxy(request('bob', { 'x-estimate': '12000' }));
    expect(tooBig?.status).toBe(429);
    expect((await tooBig?.json()).error).toMatchObject({ type: 'tokens', limit: 'tpm', retry_after_ms: null });
  });

  it('continues with NextResponse.next() carrying the rate-limit headers when onAllowed asks for it', async () => {
    const limiter = limiterWith(POLICY, { clock: Date.now });
    const proxy = tollgateProxy({
      limiter,
      identify,
      headers: ['ietf', 'openai'],
      onAllowed: (_req, { headers, decision }) => NextResponse.next({ headers: { ...headers, 'x-tollgate-tier': decision.tier ?? 'none' } }),
    });

    const response = await proxy(request('carol'));

    expect(response?.headers.get('x-middleware-next')).toBe('1');
    expect(response?.headers.get('x-ratelimit-remaining-requests')).toBe('2');
    expect(response?.headers.get('ratelimit')).toContain('"rpm";r=2;');
    expect(response?.headers.get('x-tollgate-tier')).toBe('none');
  });

  it('answers 503 when the store fails and the policy denies', async () => {
    const proxy = tollgateProxy({ limiter: createLimiter({ store: downStore, limits: POLICY }), identify });

    const response = await proxy(request('dora'));

    expect(response?.status).toBe(503);
    expect(response?.headers.get('retry-after-ms')).toBe('1000');
    expect((await response?.json()).error).toMatchObject({ code: 'rate_limiter_unavailable', type: 'service_unavailable' });
  });

  it('lets skipped requests through uncounted', async () => {
    const limiter = limiterWith(POLICY, { clock: Date.now });
    const proxy = tollgateProxy({ limiter, identify, skip: (req) => req.nextUrl.pathname === '/api/health' });

    for (let i = 0; i < 5; i++) expect(await proxy(new NextRequest('http://localhost:3000/api/health', { headers: { authorization: 'Bearer erin' } }))).toBeUndefined();

    expect(await usedOf(limiter, { user: 'erin' })).toEqual({ rpm: 0, tpm: 0, inflight: 0 });
  });

  it('ignores client-sent X-User-ID and X-Forwarded-For unless ip or identify read them', async () => {
    const limiter = limiterWith([
      { name: 'rpm', scope: 'user', resource: 'requests', limit: 2, window: '1m' },
      { name: 'ip-rpm', scope: 'ip', resource: 'requests', limit: 3, window: '1m' },
    ], { clock: Date.now });
    const proxy = tollgateProxy({ limiter, identify });
    const behindVercel = tollgateProxy({ limiter, identify: () => ({}), ip: (req) => req.headers.get('x-real-ip') ?? undefined });

    const spoofed = [];
    for (let i = 0; i < 3; i++) spoofed.push((await proxy(request('frank', { 'x-user-id': `u${i}`, 'x-forwarded-for': `198.51.100.${i}` })))?.status ?? 200);
    const byIp = [];
    for (let i = 0; i < 4; i++) byIp.push((await behindVercel(request(`user${i}`, { 'x-real-ip': '203.0.113.9', 'x-forwarded-for': `198.51.100.${i}` })))?.status ?? 200);

    expect(spoofed).toEqual([200, 200, 429]);
    expect(byIp).toEqual([200, 200, 200, 429]);
    expect(await usedOf(limiter, { ip: '203.0.113.9' })).toMatchObject({ 'ip-rpm': 3 });
    expect(await usedOf(limiter, { ip: '198.51.100.0' })).toMatchObject({ 'ip-rpm': 0 });
  });

  it('answers refusals with onLimited when given, and refuses malformed options', async () => {
    const limiter = limiterWith([{ name: 'rpm', scope: 'user', resource: 'requests', limit: 0, window: '1m' }], { clock: Date.now });
    const proxy = tollgateProxy({ limiter, identify, onLimited: (req, { response }) => NextResponse.redirect(new URL(`/slow-down?status=${response.status}`, req.url)) });

    const response = await proxy(request('gina'));

    expect(response?.status).toBe(307);
    expect(response?.headers.get('location')).toBe('http://localhost:3000/slow-down?status=429');
    expect(() => tollgateProxy({ limiter, identify, onAllowed: true as never })).toThrow(ConfigurationError);
    expect(() => tollgateProxy({ limiter, identify, onAllowed: true as never })).toThrow('[tollgate] [adapter-next] onAllowed must be a function');
  });
});
