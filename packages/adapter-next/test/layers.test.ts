import type { LimitConfig } from '@tollgate/core';
import { NextRequest } from 'next/server';
import { describe, expect, it } from 'vitest';
import { tollgateProxy, withTollgate, type TollgateProxyAdmission } from '../src/index.js';
import { limiterWith, manualClock, post, routeContext, userOf } from './support.js';

// A proxy's limit and a route's, as in the README's two examples; apps/next-example checks the same
// through a real `next start`, where the proxy continues with NextResponse.next({ request: { headers } }).
const API: LimitConfig[] = [{ name: 'api-rpm', scope: 'user', resource: 'requests', limit: 30, window: '1m' }];
const ROUTE: LimitConfig[] = [{ name: 'rpm', scope: 'user', resource: 'requests', limit: 2, window: '1m' }];
const identify = (request: Request) => ({ user: userOf(request) });

/** The proxy, then the route on the request as the proxy continues it (its `requestHeaders`). */
function layered(routeOptions: { headers?: Array<'ietf' | 'openai' | 'legacy'>; limits?: LimitConfig[] } = {}) {
  const clock = manualClock();
  const route = withTollgate(() => new Response('ok'), { limiter: limiterWith(routeOptions.limits ?? ROUTE, { clock }), identify, clock, ...(routeOptions.headers && { headers: routeOptions.headers }) });
  let admission: TollgateProxyAdmission | undefined;
  const proxy = tollgateProxy({ limiter: limiterWith(API, { clock }), identify, clock, onAllowed: (_request, seen) => void (admission = seen) });
  return {
    /** One request through the proxy and the route, with `headers` sent by the client; and what the proxy forwarded. */
    async call(user: string, headers: Record<string, string> = {}): Promise<{ response: Response; forwarded: Headers }> {
      const request = post(user, { headers });
      await proxy(new NextRequest(request));
      const forwarded = admission!.requestHeaders;
      return { response: await route(new Request(request.url, { method: 'POST', headers: forwarded }), routeContext()), forwarded };
    },
  };
}

describe('a proxy and a route that both limit a request', () => {
  it("lists the proxy's policies before the route's, on the route's responses and its 429", async () => {
    const { call } = layered();

    const { response: first } = await call('alice');
    await call('alice');
    const { response: refused } = await call('alice');

    expect(first.headers.get('ratelimit-policy')).toBe('"api-rpm";q=30;w=60, "rpm";q=2;w=60');
    expect(first.headers.get('ratelimit')).toBe('"api-rpm";r=29;t=60, "rpm";r=1;t=60');
    expect(refused.status).toBe(429);
    expect(refused.headers.get('ratelimit-policy')).toBe('"api-rpm";q=30;w=60, "rpm";q=2;w=60');
    expect(refused.headers.get('ratelimit')).toBe('"api-rpm";r=27;t=60, "rpm";r=0;t=60');
    expect((await refused.json()).error.limit).toBe('rpm');
  });

  it("keeps the route's item where both layers have a policy of the same name", async () => {
    const { call } = layered({ limits: [{ name: 'api-rpm', scope: 'user', resource: 'requests', limit: 5, window: '1m' }] });

    const { response } = await call('bob');

    expect(response.headers.get('ratelimit-policy')).toBe('"api-rpm";q=5;w=60');
    expect(response.headers.get('ratelimit')).toBe('"api-rpm";r=4;t=60');
  });

  it("merges only the IETF fields, and only where the route sends them", async () => {
    const { response: openaiOnly } = await layered({ headers: ['openai'] }).call('carol');
    const { response: none } = await layered({ headers: [] }).call('carol');

    expect(openaiOnly.headers.get('ratelimit')).toBeNull();
    expect(openaiOnly.headers.get('x-ratelimit-remaining-requests')).toBe('1');
    expect([...none.headers.keys()].filter((name) => name.includes('ratelimit'))).toEqual([]);
  });

  it('replaces the proxy state a client sends with its own, so a route never echoes a forged one', async () => {
    const { call } = layered();
    const forged = { 'x-tollgate-proxy-ratelimit': '"free-lunch";r=1000000;t=1', 'x-tollgate-proxy-ratelimit-policy': '"free-lunch";q=1000000;w=1' };

    const { response, forwarded } = await call('dan', forged);

    expect(forwarded.get('x-tollgate-proxy-ratelimit')).toBe('"api-rpm";r=29;t=60');
    expect(forwarded.get('x-tollgate-proxy-ratelimit-policy')).toBe('"api-rpm";q=30;w=60');
    expect(forwarded.get('authorization')).toBe('Bearer dan');
    expect(response.headers.get('ratelimit')).toBe('"api-rpm";r=29;t=60, "rpm";r=1;t=60');
  });

  it('forwards no proxy state when the proxy sends no IETF fields, removing one a client sent', async () => {
    let forwarded: Headers | undefined;
    const proxy = tollgateProxy({ limiter: limiterWith(API, { clock: Date.now }), identify, headers: ['openai'], onAllowed: (_request, { requestHeaders }) => void (forwarded = requestHeaders) });

    await proxy(new NextRequest(post('fay', { headers: { 'x-tollgate-proxy-ratelimit': '"a";r=1', 'x-tollgate-proxy-ratelimit-policy': '"a";q=1' } })));

    expect(forwarded?.has('x-tollgate-proxy-ratelimit')).toBe(false);
    expect(forwarded?.has('x-tollgate-proxy-ratelimit-policy')).toBe(false);
  });

  it('ignores a forwarded state that is malformed, too long, or whose two fields disagree', async () => {
    const clock = manualClock();
    const route = withTollgate(() => new Response('ok'), { limiter: limiterWith([{ ...ROUTE[0]!, limit: 100 }], { clock }), identify, clock });
    const cases: Array<Record<string, string>> = [
      { 'x-tollgate-proxy-ratelimit': 'a;r=1', 'x-tollgate-proxy-ratelimit-policy': 'a;q=1' },
      { 'x-tollgate-proxy-ratelimit': '"a";r=1;t=1, "b";r=x', 'x-tollgate-proxy-ratelimit-policy': '"a";q=1, "b";q=1' },
      { 'x-tollgate-proxy-ratelimit': '"a";r=1;t=1', 'x-tollgate-proxy-ratelimit-policy': '"b";q=1' },
      { 'x-tollgate-proxy-ratelimit': '"a";r=1;t=1' },
      { 'x-tollgate-proxy-ratelimit': `"a";r=1${';t=1'.repeat(1200)}`, 'x-tollgate-proxy-ratelimit-policy': '"a";q=1' },
    ];

    const sent = [];
    for (const headers of cases) sent.push((await route(post('erin', { headers }), routeContext())).headers.get('ratelimit-policy'));

    expect(sent).toEqual(cases.map(() => '"rpm";q=100;w=60'));
  });
});
