import { Readable } from 'node:stream';
import { ConfigurationError, createLimiter, staticPrices, type HttpWarning, type LimitConfig, type Store, type StoreBatch } from '@tollgate/core';
import { MemoryStore } from '@tollgate/store-memory';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { describe, expect, it } from 'vitest';
import { tollgate } from '../src/index.js';
import { auth, bearer, create, downStore, eventually, limiterWith, listen, manualClock, signal, usedOf } from './support.js';

const identify = (request: FastifyRequest) => ({ user: bearer(request) });

describe('refundWhen', () => {
  it('a request whose response failed does not count', async () => {
    const limiter = limiterWith([{ name: 'rpm', scope: 'user', resource: 'requests', limit: 2, window: '1m' }]);
    const app = create();
    await app.register(tollgate, { limiter, identify: (request) => ({ user: bearer(request) }), refundWhen: (status) => status >= 500 });
    app.get('/fail', async (_request, reply) => reply.code(502).send({ error: 'upstream down' }));
    app.get('/ok', async () => ({ ok: true }));
    const url = await listen(app);
    for (let i = 0; i < 3; i++) expect((await fetch(`${url}/fail`, { headers: auth('alice') })).status).toBe(502);
    expect((await fetch(`${url}/ok`, { headers: auth('alice') })).status).toBe(200);
    expect(await eventually(() => usedOf(limiter, { user: 'alice' }), (used) => used.rpm === 1)).toEqual({ rpm: 1 });
  });
});

describe('identify left out', () => {
  it('keys callers by the address Fastify trusts, and warns once about an untrusted X-Forwarded-For', async () => {
    const limits: LimitConfig[] = [{ name: 'ip-rpm', scope: 'ip', resource: 'requests', limit: 1, window: '1m' }];
    const warnings: HttpWarning[] = [];
    const app = create();
    await app.register(tollgate, { limiter: limiterWith(limits), onWarning: (warning) => warnings.push(warning) });
    app.get('/', async () => 'ok');
    const url = await listen(app);
    expect((await fetch(url, { headers: { 'x-forwarded-for': '198.51.100.7' } })).status).toBe(200);
    // Not trusted: the header is ignored, so another forwarded address is the same caller.
    expect((await fetch(url, { headers: { 'x-forwarded-for': '198.51.100.8' } })).status).toBe(429);
    expect(warnings).toEqual([{ code: 'TOLLGATE_FORWARDED_UNTRUSTED', message: expect.stringContaining("Fastify({ trustProxy: '10.0.0.1' })") }]);

    const trusted = create({ trustProxy: '127.0.0.1' });
    await trusted.register(tollgate, { limiter: limiterWith(limits), onWarning: (warning) => warnings.push(warning) });
    trusted.get('/', async () => 'ok');
    const behindProxy = await listen(trusted);
    expect((await fetch(behindProxy, { headers: { 'x-forwarded-for': '198.51.100.7' } })).status).toBe(200);
    expect((await fetch(behindProxy, { headers: { 'x-forwarded-for': '198.51.100.8' } })).status).toBe(200);
    expect(warnings).toHaveLength(1);
  });
});

describe('the tollgate plugin', () => {
  it('admits with the rate-limit headers and hands the decision, lease and degrade step to the handler', async () => {
    const clock = manualClock();
    const limiter = limiterWith(
      [
        { name: 'rpm', scope: 'user', resource: 'requests', limit: 3, window: '1m' },
        { name: 'tpm', scope: 'user', resource: 'tokens', limit: 10_000, window: '1m' },
        { name: 'inflight', scope: 'user', resource: 'concurrency', limit: 2 },
      ],
      { clock },
    );
    const app = create();
    await app.register(tollgate, { limiter, identify, demand: () => ({ tokens: 1_500 }), headers: ['ietf', 'openai'], clock });
    app.get('/v1/whoami', async (request) => {
      const { decision, lease, degrade } = request.tollgate!;
      return { allowed: decision.allowed, remaining: decision.limits.map((state) => [state.name, state.remaining]), released: lease.released, degrade: degrade ?? null };
    });
    const url = await listen(app);

    const response = await fetch(`${url}/v1/whoami`, { headers: auth('alice') });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ allowed: true, remaining: [['rpm', 2], ['tpm', 8_500], ['inflight', 1]], released: false, degrade: null });
    // The same decision, as headers: the tokens window has 10 segments, so the 1,500 tokens count
    // until their 6 s segment has left it; a slot may free within a second (whenever a lease ends).
    expect(response.headers.get('ratelimit-policy')).toBe('"rpm";q=3;w=60, "tpm";q=10000;qu="tokens";w=60, "inflight";q=2;qu="concurrent-requests"');
    expect(response.headers.get('ratelimit')).toBe('"rpm";r=2;t=60, "tpm";r=8500;t=66, "inflight";r=1;t=1');
    const openAiHeaders: Record<string, string> = {};
    response.headers.forEach((value, name) => {
      if (name.startsWith('x-ratelimit-')) openAiHeaders[name] = value;
    });
    expect(openAiHeaders).toEqual({
      'x-ratelimit-limit-requests': '3',
      'x-ratelimit-remaining-requests': '2',
      'x-ratelimit-reset-requests': '1m0s',
      'x-ratelimit-limit-tokens': '10000',
      'x-ratelimit-remaining-tokens': '8500',
      'x-ratelimit-reset-tokens': '1m6s',
    });
    expect(response.headers.get('retry-after')).toBeNull();
  });

  it('refuses past the limit with a 429, the OpenAI-style body and headers consistent with the decision, charging nothing', async () => {
    const clock = manualClock();
    const limiter = limiterWith(
      [
        { name: 'rpm', scope: 'user', resource: 'requests', limit: 2, window: '1m' },
        { name: 'tpm', scope: 'user', resource: 'tokens', limit: 10_000, window: '1m' },
      ],
      { clock },
    );
    let handled = 0;
    const app = create();
    // An async onSend hook: the refusal is not sent at once, and still the handler must not run.
    app.addHook('onSend', async (_request, reply) => {
      await new Promise((resolve) => setTimeout(resolve, 10));
      reply.header('x-served-by', 'test');
    });
    await app.register(tollgate, { limiter, identify, demand: () => ({ tokens: 100 }), headers: ['ietf', 'openai'], clock });
    app.get('/chat', async (request) => {
      handled++;
      // Uses all it reserved, so no refund races the next request.
      await request.tollgate!.lease.record({ inputTokens: 100 });
      return { ok: true };
    });
    const url = await listen(app);

    expect((await fetch(`${url}/chat`, { headers: auth('alice') })).status).toBe(200);
    clock.advance(15_000);
    expect((await fetch(`${url}/chat`, { headers: auth('alice') })).status).toBe(200);
    clock.advance(15_000);
    const refused = await fetch(`${url}/chat`, { headers: auth('alice') });

    expect(refused.status).toBe(429);
    expect(refused.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await refused.json()).toEqual({
      error: {
        type: 'requests',
        code: 'rate_limit_exceeded',
        message: 'Rate limit reached on rpm (requests): limit 2, used 2. Please try again in 30s.',
        limit: 'rpm',
        retry_after_ms: 30_000,
        param: null,
      },
    });
    expect(refused.headers.get('retry-after')).toBe('30');
    expect(refused.headers.get('retry-after-ms')).toBe('30000');
    expect(refused.headers.get('x-should-retry')).toBe('true');
    expect(refused.headers.get('ratelimit-policy')).toBe('"rpm";q=2;w=60, "tpm";q=10000;qu="tokens";w=60');
    expect(refused.headers.get('ratelimit')).toMatch(/^"rpm";r=0;t=30, "tpm";r=9800;t=\d+$/);
    expect(refused.headers.get('x-ratelimit-limit-requests')).toBe('2');
    expect(refused.headers.get('x-ratelimit-remaining-requests')).toBe('0');
    expect(refused.headers.get('x-ratelimit-reset-requests')).toBe('30s');
    expect(refused.headers.get('x-ratelimit-remaining-tokens')).toBe('9800');
    expect(refused.headers.get('x-served-by')).toBe('test');
    expect(handled).toBe(2);
    expect(await usedOf(limiter, { user: 'alice' })).toEqual({ rpm: 2, tpm: 200 });

    // Another caller has limits of its own.
    expect((await fetch(`${url}/chat`, { headers: auth('bob') })).status).toBe(200);
  });

  it("answers 503 when the store is down and the policy denies ('deny')", async () => {
    let handled = 0;
    const limiter = createLimiter({ store: downStore, limits: [{ name: 'rpm', scope: 'user', resource: 'requests', limit: 5, window: '1m' }], onStoreError: 'deny' });
    const app = create();
    await app.register(tollgate, { limiter, identify });
    app.get('/chat', async () => {
      handled++;
      return { ok: true };
    });
    const url = await listen(app);

    const response = await fetch(`${url}/chat`, { headers: auth('alice') });
    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toBe('1');
    expect(response.headers.get('retry-after-ms')).toBe('1000');
    expect(await response.json()).toEqual({
      error: {
        type: 'service_unavailable',
        code: 'rate_limiter_unavailable',
        message: 'The rate limiter could not decide (store-error); the request was refused. Retry shortly.',
        limit: null,
        retry_after_ms: 1000,
        param: null,
      },
    });
    expect(handled).toBe(0);
  });

  describe('per-route config', () => {
    it('gives a route a limiter of its own, leaves a `tollgate: false` route unlimited, and validates each once', async () => {
      const clock = manualClock();
      const general = limiterWith([{ name: 'rpm', scope: 'user', resource: 'requests', limit: 10, window: '1m' }], { clock });
      const strict = limiterWith([{ name: 'images-per-hour', scope: 'user', resource: 'requests', limit: 1, window: '1h' }], { clock });
      // Counts how often the route's options are read: once, when the route is declared.
      let reads = 0;
      const imagesConfig = {
        get limiter() {
          reads++;
          return strict;
        },
      };
      const app = create();
      await app.register(tollgate, { limiter: general, identify, clock });
      const limitsOf = async (request: FastifyRequest) => ({ by: request.tollgate?.decision.limits.map((state) => state.name) ?? null });
      app.get('/v1/images', { config: { tollgate: imagesConfig } }, limitsOf);
      app.post('/v1/chat', limitsOf);
      app.get('/health', { config: { tollgate: false } }, limitsOf);
      const url = await listen(app);
      expect(reads).toBe(1); // the GET route and the HEAD route Fastify adds for it share one

      const image = await fetch(`${url}/v1/images`, { headers: auth('alice') });
      expect(image.status).toBe(200);
      expect(await image.json()).toEqual({ by: ['images-per-hour'] });
      const refused = await fetch(`${url}/v1/images`, { headers: auth('alice') });
      expect(refused.status).toBe(429);
      expect(await refused.json()).toMatchObject({ error: { limit: 'images-per-hour', retry_after_ms: 3_600_000 } });
      const chat = await fetch(`${url}/v1/chat`, { method: 'POST', headers: auth('alice') });
      expect(chat.status).toBe(200);
      expect(await chat.json()).toEqual({ by: ['rpm'] });
      for (let i = 0; i < 12; i++) {
        // No authentication needed either: identify() never runs.
        const health = await fetch(`${url}/health`);
        expect(health.status).toBe(200);
        expect(health.headers.get('ratelimit')).toBeNull();
        expect(await health.json()).toEqual({ by: null });
      }

      // The route's limiter replaces the plugin's: the general limit saw only the chat request.
      expect(await usedOf(general, { user: 'alice' })).toEqual({ rpm: 1 });
      expect(await usedOf(strict, { user: 'alice' })).toEqual({ 'images-per-hour': 1 });
      expect(reads).toBe(1);
    });

    it("applies to the routes of the context it is registered in and its children, not to its parent's", async () => {
      const limiter = limiterWith([{ name: 'rpm', scope: 'user', resource: 'requests', limit: 1, window: '1m' }]);
      const app = create();
      await app.register(
        async (v1) => {
          await v1.register(tollgate, { limiter, identify });
          v1.get('/chat', async (request) => ({ limited: request.tollgate !== null }));
          await v1.register(async (nested) => {
            nested.get('/models', async (request) => ({ limited: request.tollgate !== null }));
          });
        },
        { prefix: '/v1' },
      );
      app.get('/public', async () => ({ ok: true }));
      const url = await listen(app);

      expect((await fetch(`${url}/v1/chat`, { headers: auth('alice') })).status).toBe(200);
      expect((await fetch(`${url}/v1/models`, { headers: auth('alice') })).status).toBe(429);
      expect((await fetch(`${url}/v1/models`, { headers: auth('bob') })).status).toBe(200);
      for (let i = 0; i < 3; i++) expect((await fetch(`${url}/public`, { headers: auth('alice') })).status).toBe(200);
      expect(await usedOf(limiter, { user: 'alice' })).toEqual({ rpm: 1 });
    });

    it('stacks registrations at two levels, but applies a route\'s own options once (GET and HEAD alike)', async () => {
      const rpm = (limit: number) => [{ name: 'rpm', scope: 'user', resource: 'requests', limit, window: '1m' }] as LimitConfig[];
      const [outer, inner, chat] = [limiterWith(rpm(100)), limiterWith(rpm(100)), limiterWith(rpm(100))];
      const app = create();
      await app.register(tollgate, { limiter: outer, identify });
      await app.register(async (child) => {
        await child.register(tollgate, { limiter: inner, identify });
        child.get('/models', async () => ({ ok: true }));
        child.get('/chat', { config: { tollgate: { limiter: chat } } }, async () => ({ ok: true }));
      });
      const url = await listen(app);

      expect((await fetch(`${url}/models`, { headers: auth('alice') })).status).toBe(200);
      expect([await usedOf(outer, { user: 'alice' }), await usedOf(inner, { user: 'alice' })]).toEqual([{ rpm: 1 }, { rpm: 1 }]);
      expect((await fetch(`${url}/chat`, { headers: auth('alice') })).status).toBe(200);
      expect((await fetch(`${url}/chat`, { method: 'HEAD', headers: auth('alice') })).status).toBe(200);
      expect(await usedOf(chat, { user: 'alice' })).toEqual({ rpm: 2 });
      expect([await usedOf(outer, { user: 'alice' }), await usedOf(inner, { user: 'alice' })]).toEqual([{ rpm: 1 }, { rpm: 1 }]);
    });

    it('refuses malformed route options when the route is declared, naming the route', async () => {
      const limiter = limiterWith([{ name: 'rpm', scope: 'user', resource: 'requests', limit: 1, window: '1m' }]);
      const app = create();
      await app.register(tollgate, { limiter, identify });
      const handler = async () => ({ ok: true });

      expect(() => app.post('/a', { config: { tollgate: { demand: 2_000 as never } } }, handler)).toThrow(ConfigurationError);
      expect(() => app.post('/b', { config: { tollgate: { demand: 2_000 as never } } }, handler)).toThrow(
        '[tollgate] [adapter-fastify] demand must be a function (in config.tollgate of POST /b)',
      );
      expect(() => app.post('/c', { config: { tollgate: { hook: 'onSend' as never } } }, handler)).toThrow(
        `[tollgate] [adapter-fastify] hook must be 'onRequest' or 'preHandler', got "onSend" (in config.tollgate of POST /c)`,
      );
      expect(() => app.post('/d', { config: { tollgate: true as never } }, handler)).toThrow(
        '[tollgate] [adapter-fastify] POST /d: config.tollgate must be false or an object of options, got true',
      );
    });
  });

  describe("hook: 'preHandler'", () => {
    it('lets demand read the parsed JSON body, and identify what an authentication hook set', async () => {
      const limiter = limiterWith([{ name: 'tpm', scope: 'user', resource: 'tokens', limit: 10_000, window: '1m' }]);
      const bodies: string[] = [];
      const app = create();
      app.decorateRequest('user', '');
      await app.register(tollgate, {
        limiter,
        hook: 'preHandler',
        headers: ['ietf', 'openai'],
        identify: (request) => ({ user: (request as FastifyRequest & { user: string }).user }),
        demand: (request) => ({ tokens: (request.body as { max_tokens: number }).max_tokens }),
      });
      // Added after the plugin, yet it runs first: the plugin's hook is the route's own.
      app.addHook('preHandler', async (request) => {
        (request as FastifyRequest & { user: string }).user = bearer(request);
      });
      app.post('/chat', async (request) => {
        // Uses all it reserved, so no refund races the next request.
        await request.tollgate!.lease.record({ outputTokens: (request.body as { max_tokens: number }).max_tokens });
        return { ok: true };
      });
      // On a route that keeps the default hook, the body has not been read yet.
      app.post('/early', { config: { tollgate: { hook: 'onRequest', identify: () => ({ user: 'early' }), demand: (request) => (bodies.push(typeof request.body), undefined) } } }, async () => ({ ok: true }));
      const url = await listen(app);
      const post = (path: string, body: unknown) => fetch(`${url}${path}`, { method: 'POST', headers: { ...auth('alice'), 'content-type': 'application/json' }, body: JSON.stringify(body) });

      const first = await post('/chat', { max_tokens: 4_000 });
      expect(first.status).toBe(200);
      expect(first.headers.get('x-ratelimit-remaining-tokens')).toBe('6000');
      const refused = await post('/chat', { max_tokens: 7_000 });
      expect(refused.status).toBe(429);
      expect(await refused.json()).toMatchObject({ error: { type: 'tokens', limit: 'tpm' } });
      expect(await usedOf(limiter, { user: 'alice' })).toEqual({ tpm: 4_000 });

      expect((await post('/early', { max_tokens: 1 })).status).toBe(200);
      expect(bodies).toEqual(['undefined']);
    });
  });

  describe('releases the lease', () => {
    const limits: LimitConfig[] = [
      { name: 'tpm', scope: 'user', resource: 'tokens', limit: 100_000, window: '1m' },
      { name: 'inflight', scope: 'user', resource: 'concurrency', limit: 1 },
    ];

    it('when the response has been sent: the slot is free and the unused reservation refunded', async () => {
      const limiter = limiterWith(limits);
      const app = create();
      await app.register(tollgate, { limiter, identify, demand: () => ({ tokens: 4_000 }) });
      app.post('/chat', async (request) => {
        await request.tollgate!.lease.record({ inputTokens: 300, outputTokens: 200 });
        return { ok: true };
      });
      const url = await listen(app);

      for (let i = 0; i < 3; i++) {
        // One slot: each request passes only because the one before gave its slot back.
        const response = await fetch(`${url}/chat`, { method: 'POST', headers: auth('alice') });
        expect(response.status).toBe(200);
        await response.text();
        expect(await eventually(() => usedOf(limiter, { user: 'alice' }), (used) => used['inflight'] === 0)).toEqual({ tpm: 500 * (i + 1), inflight: 0 });
      }
    });

    it('when the handler throws (Fastify answers with the error)', async () => {
      const limiter = limiterWith(limits);
      const app = create();
      await app.register(tollgate, { limiter, identify, demand: () => ({ tokens: 4_000 }) });
      app.post('/throws', async () => {
        throw new Error('boom');
      });
      app.post('/upstream-failed', async (request) => {
        await request.tollgate!.lease.record({ inputTokens: 50, outputTokens: 50 });
        throw Object.assign(new Error('upstream failed'), { statusCode: 502 });
      });
      const url = await listen(app);

      const thrown = await fetch(`${url}/throws`, { method: 'POST', headers: auth('alice') });
      expect(thrown.status).toBe(500);
      await thrown.text();
      expect(await eventually(() => usedOf(limiter, { user: 'alice' }), (used) => used['inflight'] === 0)).toEqual({ tpm: 0, inflight: 0 });

      const failed = await fetch(`${url}/upstream-failed`, { method: 'POST', headers: auth('alice') });
      expect(failed.status).toBe(502);
      expect(await failed.json()).toMatchObject({ message: 'upstream failed' });
      expect(await eventually(() => usedOf(limiter, { user: 'alice' }), (used) => used['inflight'] === 0)).toEqual({ tpm: 100, inflight: 0 });
    });

    const encoder = new TextEncoder();
    /** Ten minutes of server-sent events, unless the client goes away first; three ways to stream. */
    const streams: ReadonlyArray<{ way: string; stream: (reply: FastifyReply, next: () => string, ended: () => void) => unknown }> = [
      {
        way: 'written to reply.raw',
        stream: (reply, next, ended) => {
          reply.hijack();
          // A hijacked reply sends the headers plugins set on it only if the handler passes them on.
          reply.raw.writeHead(200, { ...(reply.getHeaders() as Record<string, string>), 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
          const timer = setInterval(() => reply.raw.write(next()), 50);
          reply.raw.on('close', () => {
            clearInterval(timer);
            ended();
          });
          return reply;
        },
      },
      {
        way: 'sent as a Node Readable',
        stream: (reply, next, ended) => {
          const body = new Readable({ read() {} });
          const timer = setInterval(() => body.push(next()), 50);
          body.on('close', () => {
            clearInterval(timer);
            ended();
          });
          return reply.header('content-type', 'text/event-stream').send(body);
        },
      },
      {
        way: 'sent as a web ReadableStream',
        stream: (reply, next, ended) => {
          let timer: ReturnType<typeof setInterval>;
          const body = new ReadableStream<Uint8Array>({
            start: (controller) => {
              timer = setInterval(() => controller.enqueue(encoder.encode(next())), 50);
            },
            cancel: () => {
              clearInterval(timer);
              ended();
            },
          });
          return reply.header('content-type', 'text/event-stream').send(body);
        },
      },
    ];

    it.each(streams)('when the client aborts a streamed (SSE) response mid-stream, $way', async ({ stream }) => {
      const clock = manualClock();
      const limiter = limiterWith(limits, { clock });
      const streamEnded = signal();
      let chunks = 0;
      const app = create();
      await app.register(tollgate, { limiter, identify, demand: () => ({ tokens: 4_000 }), clock });
      app.get('/stream', async (request, reply) => {
        await request.tollgate!.lease.record({ inputTokens: 120, outputTokens: 0 });
        return stream(reply, () => `data: {"chunk":${chunks++}}\n\n`, streamEnded.resolve);
      });
      const url = await listen(app);

      const controller = new AbortController();
      const response = await fetch(`${url}/stream`, { headers: auth('alice'), signal: controller.signal });
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('text/event-stream');
      expect(response.headers.get('ratelimit')).toMatch(/^"tpm";r=96000;t=\d+, "inflight";r=0;t=1$/);
      const reader = response.body!.getReader();
      const first = await reader.read();
      expect(new TextDecoder().decode(first.value)).toContain('data: {"chunk":0}');

      // While it streams, the request holds the only slot.
      expect(await usedOf(limiter, { user: 'alice' })).toEqual({ tpm: 4_000, inflight: 1 });
      const second = await fetch(`${url}/stream`, { headers: auth('alice') });
      expect(second.status).toBe(429);
      expect(await second.json()).toMatchObject({ error: { type: 'concurrency', limit: 'inflight' } });

      controller.abort();
      await streamEnded.promise;
      expect(await eventually(() => usedOf(limiter, { user: 'alice' }), (used) => used['inflight'] === 0)).toEqual({ tpm: 120, inflight: 0 });
      expect(chunks).toBeLessThan(12_000);
    });

    it('when the client left while the limiter was deciding, without running the handler', async () => {
      const clock = manualClock();
      const memory = new MemoryStore({ clock });
      const arrived = signal();
      const gate = signal();
      const decided = signal();
      let held = false;
      // Holds the first decision until the test has closed the connection.
      const slow: Store = {
        capabilities: memory.capabilities,
        apply: async (batch: StoreBatch) => {
          if (held) return memory.apply(batch);
          held = true;
          arrived.resolve();
          await gate.promise;
          const result = memory.apply(batch);
          decided.resolve();
          return result;
        },
      };
      const limiter = createLimiter({ store: slow, clock, limits: [{ name: 'rpm', scope: 'user', resource: 'requests', limit: 10, window: '1m' }, ...limits] });
      const closed = signal();
      let handled = 0;
      const app = create();
      app.addHook('onRequest', async (_request, reply) => {
        reply.raw.on('close', closed.resolve);
      });
      await app.register(tollgate, { limiter, identify, demand: () => ({ tokens: 4_000 }), clock });
      app.get('/chat', async () => {
        handled++;
        return { ok: true };
      });
      const url = await listen(app);

      const controller = new AbortController();
      const request = fetch(`${url}/chat`, { headers: auth('alice'), signal: controller.signal });
      await arrived.promise;
      controller.abort();
      await expect(request).rejects.toThrow();
      await closed.promise;
      gate.resolve();
      await decided.promise;

      // Admitted (one request charged), then released at once: slot free, reservation refunded.
      expect(await eventually(() => usedOf(limiter, { user: 'alice' }), (used) => used['inflight'] === 0)).toEqual({ rpm: 1, tpm: 0, inflight: 0 });
      expect(handled).toBe(0);
    });

    it('under app.inject() too', async () => {
      const limiter = limiterWith(limits);
      const app = create();
      await app.register(tollgate, { limiter, identify, demand: () => ({ tokens: 4_000 }) });
      app.post('/chat', async (request) => {
        await request.tollgate!.lease.record({ inputTokens: 10, outputTokens: 10 });
        return { ok: true };
      });

      for (let i = 1; i <= 2; i++) {
        const response = await app.inject({ method: 'POST', url: '/chat', headers: auth('alice') });
        expect(response.statusCode).toBe(200);
        expect(response.headers['ratelimit']).toMatch(/"inflight";r=0/);
        expect(await eventually(() => usedOf(limiter, { user: 'alice' }), (used) => used['inflight'] === 0)).toEqual({ tpm: 20 * i, inflight: 0 });
      }
    });
  });

  it('lets skipped requests through unlimited and uncounted', async () => {
    const limiter = limiterWith([{ name: 'rpm', scope: 'user', resource: 'requests', limit: 1, window: '1m' }]);
    const app = create();
    await app.register(tollgate, { limiter, identify, skip: (request) => request.headers['x-internal-probe'] === 'yes' });
    app.get('/chat', async (request) => ({ limited: request.tollgate !== null }));
    const url = await listen(app);

    for (let i = 0; i < 5; i++) {
      const response = await fetch(`${url}/chat`, { headers: { ...auth('alice'), 'x-internal-probe': 'yes' } });
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ limited: false });
      expect(response.headers.get('ratelimit')).toBeNull();
    }
    expect(await usedOf(limiter, { user: 'alice' })).toEqual({ rpm: 0 });
    const limited = await fetch(`${url}/chat`, { headers: auth('alice') });
    expect(await limited.json()).toEqual({ limited: true });
  });

  describe('identity cannot be spoofed by client headers', () => {
    it('X-User-ID does not change the user identify() returns', async () => {
      const limiter = limiterWith([{ name: 'rpm', scope: 'user', resource: 'requests', limit: 2, window: '1m' }]);
      const app = create();
      await app.register(tollgate, { limiter, identify });
      app.get('/chat', async () => ({ ok: true }));
      const url = await listen(app);

      const statuses: number[] = [];
      for (const claimed of ['bob', 'carol', 'dave']) {
        statuses.push((await fetch(`${url}/chat`, { headers: { ...auth('alice'), 'x-user-id': claimed } })).status);
      }
      expect(statuses).toEqual([200, 200, 429]);
      expect(await usedOf(limiter, { user: 'alice' })).toEqual({ rpm: 2 });
      expect(await usedOf(limiter, { user: 'bob' })).toEqual({ rpm: 0 });
    });

    it("X-Forwarded-For counts only when the app trusts the proxy (Fastify's trustProxy), IPv6 grouped by /64", async () => {
      const limiter = limiterWith([{ name: 'ip-rpm', scope: 'ip', resource: 'requests', limit: 2, window: '1m' }]);
      const direct = create();
      const proxied = create({ trustProxy: '127.0.0.1' });
      for (const app of [direct, proxied]) {
        await app.register(tollgate, { limiter, identify: () => ({}) });
        app.get('/chat', async (request) => ({ ip: request.ip }));
      }
      const directUrl = await listen(direct);
      const proxiedUrl = await listen(proxied);
      const statuses = async (url: string, forwardedFor: string[]) => {
        const seen: number[] = [];
        for (const address of forwardedFor) seen.push((await fetch(`${url}/chat`, { headers: { 'x-forwarded-for': address } })).status);
        return seen;
      };

      expect(await statuses(directUrl, ['198.51.100.1', '198.51.100.2', '198.51.100.3'])).toEqual([200, 200, 429]);
      expect(await usedOf(limiter, { ip: '127.0.0.1' })).toEqual({ 'ip-rpm': 2 });
      expect(await usedOf(limiter, { ip: '198.51.100.1' })).toEqual({ 'ip-rpm': 0 });

      expect(await statuses(proxiedUrl, ['198.51.100.1', '198.51.100.2', '198.51.100.3'])).toEqual([200, 200, 200]);
      expect(await usedOf(limiter, { ip: '198.51.100.1' })).toEqual({ 'ip-rpm': 1 });
      // One IPv6 client holds a whole /64: rotating addresses inside it buys nothing.
      expect(await statuses(proxiedUrl, ['2001:db8:1:2::a', '2001:db8:1:2::b', '2001:db8:1:2::c', '2001:db8:1:3::a'])).toEqual([200, 200, 429, 200]);
      expect(await usedOf(limiter, { ip: '2001:db8:1:2::/64' })).toEqual({ 'ip-rpm': 2 });
    });
  });

  it('hands the degradation step to the handler as the budget fills', async () => {
    const limiter = limiterWith([{ name: 'daily-usd', scope: 'user', resource: 'cost', limit: 1, reset: { every: 'day' } }], {
      prices: staticPrices({ 'gpt-4o': { input: 2.5, output: 10 }, 'gpt-4o-mini': { input: 0.15, output: 0.6 } }),
      degrade: {
        budget: 'daily-usd',
        steps: [
          { below: 0.5, model: 'gpt-4o', maxTokens: 4096 },
          { below: 0.8, model: 'gpt-4o-mini', maxTokens: 2048 },
          { model: 'gpt-4o-mini', maxTokens: 1024 },
        ],
      },
    });
    const app = create();
    await app.register(tollgate, { limiter, identify, demand: () => ({ model: 'gpt-4o' }) });
    app.post('/chat', async (request) => {
      const { degrade, lease } = request.tollgate!;
      const model = degrade?.model ?? 'gpt-4o';
      // $0.25 of input and $0.35 of output at gpt-4o prices.
      await lease.record({ model, inputTokens: 100_000, outputTokens: 35_000 });
      return { model, maxTokens: degrade?.maxTokens, step: degrade?.step, usageRatio: degrade?.usageRatio };
    });
    const url = await listen(app);

    const first = await fetch(`${url}/chat`, { method: 'POST', headers: auth('alice') });
    expect(await first.json()).toEqual({ model: 'gpt-4o', maxTokens: 4096, step: 0, usageRatio: 0 });
    const second = await fetch(`${url}/chat`, { method: 'POST', headers: auth('alice') });
    expect(await second.json()).toEqual({ model: 'gpt-4o-mini', maxTokens: 2048, step: 1, usageRatio: 0.6 });
  });

  it("sends errors from identify() and demand() to Fastify's error handler, charging nothing", async () => {
    const limiter = limiterWith([{ name: 'rpm', scope: 'user', resource: 'requests', limit: 5, window: '1m' }]);
    let handled = 0;
    const app = create();
    await app.register(tollgate, {
      limiter,
      hook: 'preHandler',
      identify: async (request) => identify(request),
      demand: (request) => {
        const tokens = (request.body as { tokens?: unknown }).tokens;
        if (typeof tokens !== 'number') throw Object.assign(new Error('tokens must be a number'), { statusCode: 400 });
        return { tokens };
      },
    });
    app.post('/chat', async () => {
      handled++;
      return { ok: true };
    });
    const url = await listen(app);
    const post = (headers: Record<string, string>, body: unknown) => fetch(`${url}/chat`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

    const anonymous = await post({}, { tokens: 1 });
    expect(anonymous.status).toBe(401);
    expect(await anonymous.json()).toMatchObject({ message: 'missing bearer token' });
    const malformed = await post(auth('alice'), { tokens: 'many' });
    expect(malformed.status).toBe(400);
    expect(await malformed.json()).toMatchObject({ message: 'tokens must be a number' });
    // A demand the limiter rejects (InvalidInputError) goes the same way.
    const negative = await post(auth('alice'), { tokens: -5 });
    expect(negative.status).toBe(500);
    expect(await negative.json()).toMatchObject({ message: expect.stringMatching(/tokens/) });
    expect(handled).toBe(0);
    expect(await usedOf(limiter, { user: 'alice' })).toEqual({ rpm: 0 });
  });

  it('sends the default refusal when onLimited neither sends nor returns anything (never an empty 200)', async () => {
    const limiter = limiterWith([{ name: 'rpm', scope: 'user', resource: 'requests', limit: 1, window: '1m' }]);
    const seen: string[] = [];
    const app = create();
    await app.register(tollgate, { limiter, identify, onLimited: async (_request, _reply, { decision }) => void seen.push(decision.deniedBy[0]!.name) });
    app.get('/chat', async () => ({ ok: true }));
    const url = await listen(app);

    await fetch(`${url}/chat`, { headers: auth('alice') });
    const refused = await fetch(`${url}/chat`, { headers: auth('alice') });
    expect(refused.status).toBe(429);
    expect(await refused.json()).toMatchObject({ error: { code: 'rate_limit_exceeded', limit: 'rpm' } });
    expect(seen).toEqual(['rpm']);
  });

  it('lets onLimited answer a refusal, by sending the reply or returning a payload; its errors go to the error handler', async () => {
    const limiter = limiterWith([{ name: 'rpm', scope: 'user', resource: 'requests', limit: 1, window: '1m' }]);
    let handled = 0;
    const app = create();
    // Delays every reply, so a refusal is still being sent when onLimited returns.
    app.addHook('onSend', async () => {
      await new Promise((resolve) => setTimeout(resolve, 10));
    });
    await app.register(tollgate, {
      limiter,
      identify,
      onLimited: async (request, reply, { decision, response }) => {
        if (request.url === '/broken') throw new Error('onLimited failed');
        reply.code(response.status).header('retry-after', response.headers['retry-after']);
        const body = { message: 'Slow down', limit: decision.deniedBy[0]?.name, retryAfterMs: response.body.error.retry_after_ms };
        if (request.url === '/returns') return body;
        return reply.send(body);
      },
    });
    app.get('/sends', async () => (handled++, { ok: true }));
    app.get('/returns', async () => (handled++, { ok: true }));
    app.get('/broken', async () => (handled++, { ok: true }));
    const url = await listen(app);

    expect((await fetch(`${url}/sends`, { headers: auth('alice') })).status).toBe(200);
    for (const path of ['/sends', '/returns']) {
      const refused = await fetch(`${url}${path}`, { headers: auth('alice') });
      expect(refused.status).toBe(429);
      expect(refused.headers.get('retry-after')).toBe('60');
      expect(refused.headers.get('ratelimit')).toBeNull();
      expect(await refused.json()).toEqual({ message: 'Slow down', limit: 'rpm', retryAfterMs: 60_000 });
    }
    const broken = await fetch(`${url}/broken`, { headers: auth('alice') });
    expect(broken.status).toBe(500);
    expect(await broken.json()).toMatchObject({ message: 'onLimited failed' });
    expect(handled).toBe(1);
  });

  it('refuses malformed plugin options when it is registered', async () => {
    const limiter = limiterWith([{ name: 'rpm', scope: 'user', resource: 'requests', limit: 1, window: '1m' }]);
    await expect(create().register(tollgate, { limiter, identify: 'user' as never })).rejects.toThrow(ConfigurationError);
    // Left out, identify keys callers by IP: a policy with no ip limit would refuse everyone.
    await expect(create().register(tollgate, { limiter })).rejects.toThrow(/^\[tollgate\] \[adapter-fastify\] identify\(req\) was left out, so callers are told apart by their IP alone, but no limit keys on ip/);
    await expect(create().register(tollgate, { limiter, identify, onLimited: 'json' as never })).rejects.toThrow('[tollgate] [adapter-fastify] onLimited must be a function');
    await expect(create().register(tollgate, { limiter, identify, hook: 'onResponse' as never })).rejects.toThrow(`[tollgate] [adapter-fastify] hook must be 'onRequest' or 'preHandler', got "onResponse"`);
  });
});
