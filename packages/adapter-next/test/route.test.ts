import { ConfigurationError, createLimiter, rateLimitHeaders, type TollgateContext } from '@tollgate/core';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { withTollgate, type TollgateRouteContext } from '../src/index.js';
import { downStore, POLICY, eventStream, limiterWith, manualClock, post, released, routeContext, usedOf, userOf } from './support.js';

const identify = (request: Request) => ({ user: userOf(request) });

describe('withTollgate: limits', () => {
  it('sends the rate-limit headers of the decision the handler sees, and reaches decision, lease and params', async () => {
    const clock = manualClock();
    const limiter = limiterWith(POLICY, { clock });
    let seen: TollgateContext | undefined;
    const POST = withTollgate(
      async (request, { tollgate, params }) => {
        seen = tollgate;
        await tollgate.lease.record({ inputTokens: 300, outputTokens: 200 });
        return Response.json({ params: await params, body: await request.json() }, { headers: { 'x-request-id': 'r1' } });
      },
      { limiter, identify, demand: () => ({ tokens: 1_500 }), headers: ['ietf', 'openai'], clock },
    );

    const response = await POST(post('alice', { body: JSON.stringify({ q: 'hi' }) }), { params: Promise.resolve({ id: '7' }) });

    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ params: { id: '7' }, body: { q: 'hi' } });
    expect(seen?.decision.allowed).toBe(true);
    expect(seen?.lease.released).toBe(true);
    expect(Object.fromEntries(response.headers)).toEqual({
      'content-type': 'application/json',
      'x-request-id': 'r1',
      ...rateLimitHeaders(seen!.decision, ['ietf', 'openai'], clock()),
    });
    expect(Object.fromEntries(response.headers)).toMatchObject({
      'ratelimit-policy': '"rpm";q=3;w=60, "tpm";q=10000;qu="tokens";w=60, "inflight";q=1;qu="concurrent-requests"',
      ratelimit: '"rpm";r=2;t=60, "tpm";r=8500;t=66, "inflight";r=0;t=1',
      'x-ratelimit-remaining-requests': '2',
      'x-ratelimit-remaining-tokens': '8500',
    });
    // The 1,500 reserved tokens are refunded down to the 500 used, and the slot is free.
    expect(await usedOf(limiter, { user: 'alice' })).toEqual({ rpm: 1, tpm: 500, inflight: 0 });
  });

  it('refuses over the limit with a 429, the OpenAI-style body and consistent headers, without running the handler', async () => {
    const clock = manualClock();
    const limiter = limiterWith(POLICY, { clock });
    let calls = 0;
    const POST = withTollgate(() => (calls++, new Response('ok')), { limiter, identify, headers: ['ietf', 'openai'], clock });
    for (let i = 0; i < 3; i++) {
      const response = await POST(post('bob'), routeContext());
      expect(await response.text()).toBe('ok');
      clock.advance(10_000);
    }

    const refused = await POST(post('bob'), routeContext());

    expect(calls).toBe(3);
    expect(refused.status).toBe(429);
    expect(refused.headers.get('content-type')).toBe('application/json');
    expect(await refused.json()).toEqual({
      error: {
        type: 'requests',
        code: 'rate_limit_exceeded',
        message: 'Rate limit reached on rpm (requests): limit 3, used 3. Please try again in 30s.',
        limit: 'rpm',
        retry_after_ms: 30_000,
        param: null,
      },
    });
    expect(Object.fromEntries(refused.headers)).toEqual({
      'content-type': 'application/json',
      'retry-after': '30',
      'retry-after-ms': '30000',
      'x-should-retry': 'true',
      'ratelimit-policy': '"rpm";q=3;w=60, "tpm";q=10000;qu="tokens";w=60, "inflight";q=1;qu="concurrent-requests"',
      ratelimit: '"rpm";r=0;t=30, "tpm";r=10000;t=0, "inflight";r=1;t=0',
      'x-ratelimit-limit-requests': '3',
      'x-ratelimit-remaining-requests': '0',
      'x-ratelimit-reset-requests': '30s',
      'x-ratelimit-limit-tokens': '10000',
      'x-ratelimit-remaining-tokens': '10000',
      'x-ratelimit-reset-tokens': '0ms',
    });
    // Another user is another caller.
    expect((await POST(post('carol'), routeContext())).status).toBe(200);
  });

  it('answers 503 when the store fails and the policy denies', async () => {
    const limiter = createLimiter({ store: downStore, limits: POLICY, onStoreError: 'deny' });
    const POST = withTollgate(() => new Response('never'), { limiter, identify });

    const response = await POST(post('alice'), routeContext());

    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toBe('1');
    expect(response.headers.get('retry-after-ms')).toBe('1000');
    expect(await response.json()).toMatchObject({ error: { type: 'service_unavailable', code: 'rate_limiter_unavailable', limit: null, retry_after_ms: 1000 } });
  });

  it('gives each route the limits of its own limiter', async () => {
    const chat = withTollgate(() => new Response('chat'), { limiter: limiterWith([{ name: 'chat-rpm', scope: 'user', resource: 'requests', limit: 1, window: '1m' }], { clock: Date.now }), identify });
    const search = withTollgate(() => new Response('search'), { limiter: limiterWith([{ name: 'search-rpm', scope: 'user', resource: 'requests', limit: 3, window: '1m' }], { clock: Date.now }), identify });

    const chats = [];
    const searches = [];
    for (let i = 0; i < 4; i++) {
      chats.push((await chat(post('dora'), routeContext())).status);
      searches.push((await search(post('dora', { path: '/api/search' }), routeContext())).status);
    }

    expect(chats).toEqual([200, 429, 429, 429]);
    expect(searches).toEqual([200, 200, 200, 429]);
    const refused = await search(post('dora', { path: '/api/search' }), routeContext());
    expect((await refused.json()).error.limit).toBe('search-rpm');
  });

  it('hands the degradation step to the handler', async () => {
    const limiter = limiterWith([{ name: 'daily-usd', scope: 'user', resource: 'cost', limit: 1, reset: { every: 'day' } }], {
      clock: Date.now,
      degrade: {
        budget: 'daily-usd',
        steps: [
          { below: 0.5, model: 'gpt-4o', maxTokens: 4096 },
          { below: 0.8, model: 'gpt-4o-mini', maxTokens: 2048 },
          { model: 'gpt-4o-mini', maxTokens: 1024 },
        ],
      },
    });
    const POST = withTollgate(
      async (_request, { tollgate }) => {
        await tollgate.lease.record({ cost: 0.3 });
        return Response.json(tollgate.degrade);
      },
      { limiter, identify },
    );

    const steps = [];
    for (let i = 0; i < 3; i++) steps.push(await (await POST(post('erin'), routeContext())).json());

    expect(steps).toEqual([
      { step: 0, model: 'gpt-4o', maxTokens: 4096, usageRatio: 0 },
      { step: 0, model: 'gpt-4o', maxTokens: 4096, usageRatio: 0.3 },
      { step: 1, model: 'gpt-4o-mini', maxTokens: 2048, usageRatio: 0.6 },
    ]);
  });

  it('refundWhen: a request whose response failed, or whose handler threw, does not count', async () => {
    const limiter = limiterWith(POLICY, { clock: Date.now });
    const POST = withTollgate(
      async (request) => {
        const { outcome } = (await request.json()) as { outcome: string };
        if (outcome === 'throw') throw new Error('handler bug');
        return Response.json({ outcome }, { status: outcome === 'fail' ? 502 : 200 });
      },
      { limiter, identify, refundWhen: (status) => status >= 500 },
    );
    const send = (outcome: string) => POST(post('grace', { body: JSON.stringify({ outcome }) }), routeContext());
    const failed = await send('fail');
    expect(failed.status).toBe(502);
    await failed.text(); // the lease is released once the body is sent
    await expect(send('throw')).rejects.toThrow('handler bug');
    await (await send('ok')).text();
    expect((await released(limiter, { user: 'grace' })).rpm).toBe(1);
  });

  it('lets skipped requests through uncounted, with tollgate null', async () => {
    const limiter = limiterWith(POLICY, { clock: Date.now });
    const POST = withTollgate(
      (_request, { tollgate }) => {
        expectTypeOf(tollgate).toEqualTypeOf<TollgateContext | null>();
        return Response.json({ tollgate });
      },
      { limiter, identify, skip: (request) => request.headers.get('authorization') === 'Bearer health-check' },
    );

    for (let i = 0; i < 5; i++) {
      const response = await POST(post('health-check'), routeContext());
      expect(await response.json()).toEqual({ tollgate: null });
      expect(response.headers.get('ratelimit')).toBeNull();
    }
    expect(await usedOf(limiter, { user: 'health-check' })).toEqual({ rpm: 0, tpm: 0, inflight: 0 });
    expect((await POST(post('frank'), routeContext())).headers.get('ratelimit')).toContain('"rpm";r=2;');
  });

  it('does not let client-sent X-User-ID or X-Forwarded-For change the identity', async () => {
    const limiter = limiterWith([
      { name: 'rpm', scope: 'user', resource: 'requests', limit: 2, window: '1m' },
      { name: 'ip-rpm', scope: 'ip', resource: 'requests', limit: 100, window: '1m' },
    ], { clock: Date.now });
    const POST = withTollgate(() => new Response('ok'), { limiter, identify });

    const statuses = [];
    for (let i = 0; i < 4; i++) {
      const response = await POST(post('gina', { headers: { 'x-user-id': `someone-${i}`, 'x-forwarded-for': `198.51.100.${i}` } }), routeContext());
      statuses.push(response.status);
      // No IP by default: the ip-scoped limit does not apply.
      expect(response.headers.get('ratelimit-policy')).toBe('"rpm";q=2;w=60');
    }

    expect(statuses).toEqual([200, 200, 429, 429]);
    expect(await usedOf(limiter, { user: 'someone-0' })).toMatchObject({ rpm: 0 });
    expect(await usedOf(limiter, { ip: '198.51.100.0' })).toMatchObject({ 'ip-rpm': 0 });
  });

  it('takes the IP from the ip option only, e.g. the x-real-ip a trusted proxy sets, grouping IPv6 by /64', async () => {
    const limiter = limiterWith([{ name: 'ip-rpm', scope: 'ip', resource: 'requests', limit: 2, window: '1m' }], { clock: Date.now });
    const POST = withTollgate(() => new Response('ok'), { limiter, identify: () => ({}), ip: (request) => request.headers.get('x-real-ip') ?? undefined });

    const statuses = [];
    for (let i = 0; i < 3; i++) {
      statuses.push((await POST(post('anyone', { headers: { 'x-real-ip': `2001:db8:1:2::${i}`, 'x-forwarded-for': `198.51.100.${i}` } }), routeContext())).status);
    }

    expect(statuses).toEqual([200, 200, 429]);
    expect(await usedOf(limiter, { ip: '2001:db8:1:2::/64' })).toEqual({ 'ip-rpm': 2 });
    expect((await POST(post('anyone', { headers: { 'x-real-ip': '203.0.113.9' } }), routeContext())).status).toBe(200);
  });

  it('answers refusals with onLimited when given', async () => {
    const limiter = limiterWith([{ name: 'rpm', scope: 'user', resource: 'requests', limit: 0, window: '1m' }], { clock: Date.now });
    const POST = withTollgate(() => new Response('never'), {
      limiter,
      identify,
      onLimited: (request, { decision, response }) =>
        Response.json({ who: userOf(request), limit: decision.deniedBy[0]?.name, status: response.status }, { status: 429, headers: { 'x-custom': 'yes' } }),
    });

    const response = await POST(post('hana'), routeContext());

    expect(response.status).toBe(429);
    expect(response.headers.get('x-custom')).toBe('yes');
    expect(await response.json()).toEqual({ who: 'hana', limit: 'rpm', status: 429 });
  });

  it('refuses malformed options when the route is defined', () => {
    const limiter = limiterWith(POLICY, { clock: Date.now });
    expect(() => withTollgate(() => new Response(), { limiter, identify, ip: 'x-real-ip' as never })).toThrow(ConfigurationError);
    expect(() => withTollgate(() => new Response(), { limiter, identify, ip: 'x-real-ip' as never })).toThrow('[tollgate] [adapter-next] ip must be a function');
    expect(() => withTollgate(() => new Response(), { limiter, identify, onLimited: 429 as never })).toThrow('[tollgate] [adapter-next] onLimited must be a function');
    expect(() => withTollgate(() => new Response(), { limiter })).toThrow(/identify\(req\) was left out, so callers are told apart by their IP alone, but no limit keys on ip/);
    // Next.js trusts no client address: without identify, the ip option must say where it comes from.
    const byIp = limiterWith([{ name: 'ip-rpm', scope: 'ip', resource: 'requests', limit: 1, window: '1m' }], { clock: Date.now });
    expect(() => withTollgate(() => new Response(), { limiter: byIp })).toThrow(/^\[tollgate\] \[adapter-next\] pass identify \(the caller as your app authenticates it\) or ip/);
    expect(() => withTollgate(() => new Response(), { limiter: byIp, ip: (request) => request.headers.get('x-real-ip') ?? undefined })).not.toThrow();
  });

  it('passes the dynamic params through, typed from the route, with tollgate added', async () => {
    const GET = withTollgate(
      async (_request, context: TollgateRouteContext<{ params: Promise<{ id: string }> }>) => {
        expectTypeOf(context.tollgate).toEqualTypeOf<TollgateContext>();
        return Response.json({ ...(await context.params), remaining: context.tollgate.decision.limits[0]?.remaining });
      },
      { limiter: limiterWith(POLICY, { clock: Date.now }), identify },
    );
    expectTypeOf(GET).parameter(1).toEqualTypeOf<{ params: Promise<{ id: string }> }>();

    const response = await GET(post('paul', { method: 'GET', path: '/api/chats/7' }), { params: Promise.resolve({ id: '7' }) });

    expect(await response.json()).toEqual({ id: '7', remaining: 2 });
  });
});

describe('withTollgate: responses', () => {
  it('adds the headers to a response whose headers are immutable, keeping status and location', async () => {
    const POST = withTollgate(() => Response.redirect('http://localhost:3000/elsewhere', 307), { limiter: limiterWith(POLICY, { clock: Date.now }), identify });

    const response = await POST(post('ivan'), routeContext());

    expect(response.status).toBe(307);
    expect(response.headers.get('location')).toBe('http://localhost:3000/elsewhere');
    expect(response.headers.get('ratelimit')).toContain('"rpm";r=2;');
  });

  it('keeps the status, status text, every header and the body byte for byte', async () => {
    const chunks = [new Uint8Array([0, 255, 10, 13]), new Uint8Array([1, 2, 3]), new TextEncoder().encode('data: é\n\n')];
    const POST = withTollgate(
      () => {
        const headers = new Headers({ 'content-type': 'application/octet-stream', 'x-ratelimit-remaining-requests': 'from upstream' });
        headers.append('set-cookie', 'a=1; Path=/');
        headers.append('set-cookie', 'b=2; Path=/');
        const body = new ReadableStream<Uint8Array>({
          start(controller) {
            for (const chunk of chunks) controller.enqueue(chunk);
            controller.close();
          },
        });
        return new Response(body, { status: 418, statusText: "I'm a teapot", headers });
      },
      { limiter: limiterWith(POLICY, { clock: Date.now }), identify, headers: ['ietf', 'openai'] },
    );

    const response = await POST(post('jane'), routeContext());

    expect(response.status).toBe(418);
    expect(response.statusText).toBe("I'm a teapot");
    expect(response.headers.get('content-type')).toBe('application/octet-stream');
    expect(response.headers.getSetCookie()).toEqual(['a=1; Path=/', 'b=2; Path=/']);
    // The limiter's view replaces what the handler copied from an upstream provider.
    expect(response.headers.get('x-ratelimit-remaining-requests')).toBe('2');
    const received: Uint8Array[] = [];
    const reader = response.body!.getReader();
    for (let read = await reader.read(); !read.done; read = await reader.read()) received.push(read.value);
    expect(received).toEqual(chunks);
  });
});

describe('withTollgate: releasing the lease', () => {
  const streamLimits = [
    { name: 'tpm', scope: 'user', resource: 'tokens', limit: 10_000, window: '1m' },
    { name: 'inflight', scope: 'user', resource: 'concurrency', limit: 1 },
  ] as const;

  it('releases a response without a body as the handler returns', async () => {
    const limiter = limiterWith([...streamLimits], { clock: Date.now });
    const POST = withTollgate(() => new Response(null, { status: 204 }), { limiter, identify, demand: () => ({ tokens: 4_000 }) });

    const response = await POST(post('kim'), routeContext());

    expect(response.status).toBe(204);
    expect(await usedOf(limiter, { user: 'kim' })).toEqual({ tpm: 0, inflight: 0 });
  });

  it('releases when the handler throws, refunding the unused reservation, and rethrows', async () => {
    const limiter = limiterWith([...streamLimits], { clock: Date.now });
    const POST = withTollgate(
      async (_request, { tollgate }) => {
        await tollgate.lease.record({ inputTokens: 700, outputTokens: 300 });
        throw new Error('model failed');
      },
      { limiter, identify, demand: () => ({ tokens: 4_000 }) },
    );

    await expect(POST(post('lee'), routeContext())).rejects.toThrow('model failed');

    expect(await usedOf(limiter, { user: 'lee' })).toEqual({ tpm: 1_000, inflight: 0 });
  });

  it('releases when the handler returns a response that cannot be sent (its body already read)', async () => {
    const limiter = limiterWith([...streamLimits], { clock: Date.now });
    const POST = withTollgate(
      async () => {
        const used = new Response('already read');
        await used.text();
        return used;
      },
      { limiter, identify },
    );

    await expect(POST(post('lee'), routeContext())).rejects.toThrow();
    expect((await usedOf(limiter, { user: 'lee' }))['inflight']).toBe(0);
  });

  it('holds the slot while a streamed (SSE) response is sent, and releases when the client cancels it mid-stream', async () => {
    const limiter = limiterWith([...streamLimits], { clock: Date.now });
    const source = eventStream();
    const POST = withTollgate(
      async (_request, { tollgate }) => {
        await tollgate.lease.record({ inputTokens: 500, outputTokens: 500 });
        return new Response(source.body, { headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' } });
      },
      { limiter, identify, demand: () => ({ tokens: 4_000 }) },
    );

    const response = await POST(post('mia'), routeContext());
    const reader = response.body!.getReader();
    const first = await reader.read();

    expect(response.headers.get('content-type')).toBe('text/event-stream');
    expect(new TextDecoder().decode(first.value)).toBe('data: {"n":0}\n\n');
    expect(await usedOf(limiter, { user: 'mia' })).toEqual({ tpm: 4_000, inflight: 1 });
    expect((await POST(post('mia'), routeContext())).status).toBe(429);

    await reader.cancel('client went away');

    expect(await released(limiter, { user: 'mia' })).toEqual({ tpm: 1_000, inflight: 0 });
    expect(source.cancelled()).toBe('client went away');
    const sentAtCancel = source.sent();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(source.sent()).toBe(sentAtCancel);
  });

  it('releases when the client cancels while the stream waits for the next token', async () => {
    const limiter = limiterWith([...streamLimits], { clock: Date.now });
    let cancelled: unknown;
    const POST = withTollgate(
      () => {
        const body = new ReadableStream<Uint8Array>({
          pull: () => new Promise<void>(() => {}), // the model never answers
          cancel(reason) {
            cancelled = reason;
          },
        });
        return new Response(body, { headers: { 'content-type': 'text/event-stream' } });
      },
      { limiter, identify },
    );

    const reader = (await POST(post('noor'), routeContext())).body!.getReader();
    const pending = reader.read();
    await reader.cancel('aborted');

    expect(await pending).toEqual({ done: true, value: undefined });
    expect(await released(limiter, { user: 'noor' })).toEqual({ tpm: 0, inflight: 0 });
    expect(cancelled).toBe('aborted');
  });

  it('releases when a streamed body ends, and when it errors', async () => {
    const limiter = limiterWith([...streamLimits], { clock: Date.now });
    const encoder = new TextEncoder();
    const POST = withTollgate(
      (request) => {
        const failing = request.headers.get('x-fail') === '1';
        const body = new ReadableStream<Uint8Array>({
          start(controller) {
            controller.enqueue(encoder.encode('data: one\n\n'));
            if (failing) controller.error(new Error('upstream reset'));
            else controller.close();
          },
        });
        return new Response(body, { headers: { 'content-type': 'text/event-stream' } });
      },
      { limiter, identify, demand: () => ({ tokens: 2_000 }) },
    );

    expect(await (await POST(post('nia'), routeContext())).text()).toBe('data: one\n\n');
    expect(await usedOf(limiter, { user: 'nia' })).toEqual({ tpm: 0, inflight: 0 });

    const failed = await POST(post('nia', { headers: { 'x-fail': '1' } }), routeContext());
    await expect(failed.text()).rejects.toThrow('upstream reset');
    expect(await usedOf(limiter, { user: 'nia' })).toEqual({ tpm: 0, inflight: 0 });
  });

  it('releases when the client has gone before the body is read (the request signal aborts)', async () => {
    const limiter = limiterWith([...streamLimits], { clock: Date.now });
    const client = new AbortController();
    const POST = withTollgate(() => new Response(eventStream().body, { headers: { 'content-type': 'text/event-stream' } }), { limiter, identify });

    await POST(post('omar', { signal: client.signal }), routeContext());
    expect(await usedOf(limiter, { user: 'omar' })).toEqual({ tpm: 0, inflight: 1 });
    client.abort();

    expect(await released(limiter, { user: 'omar' })).toEqual({ tpm: 0, inflight: 0 });
  });
});
