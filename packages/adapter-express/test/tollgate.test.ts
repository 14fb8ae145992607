import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { ConfigurationError, createLimiter, staticPrices, type HttpWarning, type LimitConfig, type Store, type StoreBatch } from '@tollgate/core';
import { MemoryStore } from '@tollgate/store-memory';
import express, { type ErrorRequestHandler, type Request, type Response } from 'express';
import { describe, expect, it } from 'vitest';
import { tollgate } from '../src/index.js';
import { auth, bearer, downStore, eventually, frameworks, limiterWith, listen, manualClock, signal, usedOf } from './support.js';

/** Sends an error's `status` (default 500) and message as JSON, as an app's error handler would. */
const errorsAsJson: ErrorRequestHandler = (error: Error & { status?: number }, _req, res, _next) => {
  res.status(error.status ?? 500).json({ failed: error.message });
};

it('loads the Express majors the tests name', () => {
  const require = createRequire(import.meta.url);
  expect((require('express/package.json') as { version: string }).version).toMatch(/^5\./);
  expect((require('express4/package.json') as { version: string }).version).toMatch(/^4\./);
});

describe.each(frameworks)('tollgate() on $name', ({ create }) => {
  it('refundWhen: a request whose response failed does not count', async () => {
    const limiter = limiterWith([{ name: 'rpm', scope: 'user', resource: 'requests', limit: 2, window: '1m' }]);
    const app = create();
    app.use(tollgate({ limiter, identify: (req) => ({ user: bearer(req) }), refundWhen: (status) => status >= 500 }));
    app.get('/fail', (_req, res) => res.status(502).json({ error: 'upstream down' }));
    app.get('/ok', (_req, res) => res.json({ ok: true }));
    const url = await listen(app);
    for (let i = 0; i < 3; i++) expect((await fetch(`${url}/fail`, { headers: auth('alice') })).status).toBe(502);
    expect((await fetch(`${url}/ok`, { headers: auth('alice') })).status).toBe(200);
    expect(await eventually(() => usedOf(limiter, { user: 'alice' }), (used) => used.rpm === 1)).toEqual({ rpm: 1 });
  });

  it('without identify, keys callers by the address Express trusts, and warns once about an untrusted X-Forwarded-For', async () => {
    const limits: LimitConfig[] = [{ name: 'ip-rpm', scope: 'ip', resource: 'requests', limit: 1, window: '1m' }];
    const warnings: HttpWarning[] = [];
    const app = create();
    app.use(tollgate({ limiter: limiterWith(limits), onWarning: (warning) => warnings.push(warning) }));
    app.get('/', (_req, res) => res.send('ok'));
    const url = await listen(app);
    expect((await fetch(url, { headers: { 'x-forwarded-for': '198.51.100.7' } })).status).toBe(200);
    // Not trusted: the header is ignored, so another forwarded address is the same caller.
    expect((await fetch(url, { headers: { 'x-forwarded-for': '198.51.100.8' } })).status).toBe(429);
    expect(warnings).toEqual([{ code: 'TOLLGATE_FORWARDED_UNTRUSTED', message: expect.stringContaining("app.set('trust proxy', 1)") }]);

    const trusted = create();
    trusted.set('trust proxy', 1);
    trusted.use(tollgate({ limiter: limiterWith(limits), onWarning: (warning) => warnings.push(warning) }));
    trusted.get('/', (_req, res) => res.send('ok'));
    const behindProxy = await listen(trusted);
    expect((await fetch(behindProxy, { headers: { 'x-forwarded-for': '198.51.100.7' } })).status).toBe(200);
    expect((await fetch(behindProxy, { headers: { 'x-forwarded-for': '198.51.100.8' } })).status).toBe(200);
    expect(warnings).toHaveLength(1);
  });

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
    app.use('/v1', tollgate({ limiter, identify: (req) => ({ user: bearer(req) }), demand: () => ({ tokens: 1_500 }), headers: ['ietf', 'openai'], clock }));
    app.get('/v1/whoami', (req, res) => {
      const { decision, lease, degrade } = req.tollgate!;
      res.json({ allowed: decision.allowed, remaining: decision.limits.map((state) => [state.name, state.remaining]), reserved: lease.totals, released: lease.released, degrade: degrade ?? null });
    });
    const url = await listen(app);

    const response = await fetch(`${url}/v1/whoami`, { headers: auth('alice') });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ allowed: true, remaining: [['rpm', 2], ['tpm', 8_500], ['inflight', 1]], released: false, degrade: null });
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
    app.use(tollgate({ limiter, identify: (req) => ({ user: bearer(req) }), demand: () => ({ tokens: 100 }), headers: ['ietf', 'openai'], clock }));
    app.get('/chat', async (req, res) => {
      handled++;
      // Uses all it reserved, so no refund races the next request.
      await req.tollgate!.lease.record({ inputTokens: 100 });
      res.json({ ok: true });
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
    expect(handled).toBe(2);
    expect(await usedOf(limiter, { user: 'alice' })).toEqual({ rpm: 2, tpm: 200 });

    // Another caller has limits of its own.
    expect((await fetch(`${url}/chat`, { headers: auth('bob') })).status).toBe(200);
  });

  it("answers 503 when the store is down and the policy denies ('deny')", async () => {
    let handled = 0;
    const limiter = createLimiter({ store: downStore, limits: [{ name: 'rpm', scope: 'user', resource: 'requests', limit: 5, window: '1m' }], onStoreError: 'deny' });
    const app = create();
    app.use(tollgate({ limiter, identify: (req) => ({ user: bearer(req) }) }));
    app.get('/chat', (_req, res) => {
      handled++;
      res.json({ ok: true });
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

  it('gives a route limits of its own with another tollgate() on it', async () => {
    const clock = manualClock();
    const general = limiterWith([{ name: 'rpm', scope: 'user', resource: 'requests', limit: 10, window: '1m' }], { clock });
    const strict = limiterWith([{ name: 'images-per-hour', scope: 'user', resource: 'requests', limit: 1, window: '1h' }], { clock });
    const identify = (req: express.Request) => ({ user: bearer(req) });
    const app = create();
    app.use('/v1', tollgate({ limiter: general, identify, clock }));
    app.post('/v1/images', tollgate({ limiter: strict, identify, clock }), (req, res) => {
      res.json({ by: req.tollgate!.decision.limits.map((state) => state.name) });
    });
    app.post('/v1/chat', (req, res) => {
      res.json({ by: req.tollgate!.decision.limits.map((state) => state.name) });
    });
    const url = await listen(app);
    const post = (path: string) => fetch(`${url}${path}`, { method: 'POST', headers: auth('alice') });

    const image = await post('/v1/images');
    expect(image.status).toBe(200);
    expect(await image.json()).toEqual({ by: ['images-per-hour'] });
    const refused = await post('/v1/images');
    expect(refused.status).toBe(429);
    expect(await refused.json()).toMatchObject({ error: { limit: 'images-per-hour', retry_after_ms: 3_600_000 } });
    const chat = await post('/v1/chat');
    expect(chat.status).toBe(200);
    expect(await chat.json()).toEqual({ by: ['rpm'] });
    // The general limit saw all three requests; the route's limit only its own.
    expect(await usedOf(general, { user: 'alice' })).toEqual({ rpm: 3 });
    expect(await usedOf(strict, { user: 'alice' })).toEqual({ 'images-per-hour': 1 });
  });

  describe('releases the lease', () => {
    const limits: LimitConfig[] = [
      { name: 'tpm', scope: 'user', resource: 'tokens', limit: 100_000, window: '1m' },
      { name: 'inflight', scope: 'user', resource: 'concurrency', limit: 1 },
    ];

    it('when the response has been sent: the slot is free and the unused reservation refunded', async () => {
      const limiter = limiterWith(limits);
      const app = create();
      app.use(tollgate({ limiter, identify: (req) => ({ user: bearer(req) }), demand: () => ({ tokens: 4_000 }) }));
      app.post('/chat', async (req, res) => {
        await req.tollgate!.lease.record({ inputTokens: 300, outputTokens: 200 });
        res.json({ ok: true });
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

    it('when the handler throws or passes an error on (Express answers 500)', async () => {
      const limiter = limiterWith(limits);
      const app = create();
      app.use(tollgate({ limiter, identify: (req) => ({ user: bearer(req) }), demand: () => ({ tokens: 4_000 }) }));
      app.post('/throws', () => {
        throw new Error('boom');
      });
      app.post('/next-error', async (req, _res, next) => {
        await req.tollgate!.lease.record({ inputTokens: 50, outputTokens: 50 });
        next(new Error('upstream failed'));
      });
      const url = await listen(app);

      const thrown = await fetch(`${url}/throws`, { method: 'POST', headers: auth('alice') });
      expect(thrown.status).toBe(500);
      await thrown.text();
      expect(await eventually(() => usedOf(limiter, { user: 'alice' }), (used) => used['inflight'] === 0)).toEqual({ tpm: 0, inflight: 0 });

      const passed = await fetch(`${url}/next-error`, { method: 'POST', headers: auth('alice') });
      expect(passed.status).toBe(500);
      await passed.text();
      expect(await eventually(() => usedOf(limiter, { user: 'alice' }), (used) => used['inflight'] === 0)).toEqual({ tpm: 100, inflight: 0 });
    });

    it('when the client aborts a streamed (SSE) response mid-stream', async () => {
      const clock = manualClock();
      const limiter = limiterWith(limits, { clock });
      const streamEnded = signal();
      let chunks = 0;
      const app = create();
      app.use(tollgate({ limiter, identify: (req) => ({ user: bearer(req) }), demand: () => ({ tokens: 4_000 }), clock }));
      app.get('/stream', async (req, res) => {
        await req.tollgate!.lease.record({ inputTokens: 120, outputTokens: 0 });
        res.setHeader('content-type', 'text/event-stream');
        res.setHeader('cache-control', 'no-cache');
        res.flushHeaders();
        // Ten minutes of tokens, unless the client goes away first.
        const timer = setInterval(() => {
          res.write(`data: {"chunk":${chunks++}}\n\n`);
          if (chunks === 12_000) res.end();
        }, 50);
        res.on('close', () => {
          clearInterval(timer);
          streamEnded.resolve();
        });
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
      app.use((_req, res, next) => {
        res.on('close', closed.resolve);
        next();
      });
      app.use(tollgate({ limiter, identify: (req) => ({ user: bearer(req) }), demand: () => ({ tokens: 4_000 }), clock }));
      app.get('/chat', (_req, res) => {
        handled++;
        res.json({ ok: true });
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
  });

  it('lets skipped requests through unlimited and uncounted', async () => {
    const limiter = limiterWith([{ name: 'rpm', scope: 'user', resource: 'requests', limit: 1, window: '1m' }]);
    const app = create();
    app.use(tollgate({ limiter, identify: (req) => ({ user: bearer(req) }), skip: (req) => req.path === '/health' }));
    app.get('/health', (req, res) => {
      res.json({ limited: req.tollgate !== undefined });
    });
    const url = await listen(app);

    for (let i = 0; i < 5; i++) {
      const response = await fetch(`${url}/health`, { headers: auth('alice') });
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ limited: false });
      expect(response.headers.get('ratelimit')).toBeNull();
    }
    expect(await usedOf(limiter, { user: 'alice' })).toEqual({ rpm: 0 });
  });

  it("gives each request its own req.tollgate, in a mounted app and in the parent's handlers after it", async () => {
    const limiter = limiterWith([{ name: 'rpm', scope: 'user', resource: 'requests', limit: 10, window: '1m' }]);
    const app = create();
    const sub = create();
    sub.use(tollgate({ limiter, identify: (req) => ({ user: bearer(req) }), skip: (req) => req.path === '/skipped' }));
    sub.get('/seen', (req, res) => {
      res.json({ remaining: req.tollgate?.decision.limits[0]!.remaining ?? null });
    });
    sub.get('/skipped', (req, res) => {
      res.json({ remaining: req.tollgate?.decision.limits[0]!.remaining ?? null });
    });
    // Not answered in the mounted app: Express goes on to the parent's next handler.
    sub.get('/passed', (_req, _res, next) => next());
    app.use('/sub', sub);
    app.get('/sub/passed', (req, res) => {
      res.json({ remaining: req.tollgate?.decision.limits[0]!.remaining ?? null });
    });
    const url = await listen(app);

    const remaining = async (path: string) => ((await (await fetch(`${url}${path}`, { headers: auth('alice') })).json()) as { remaining: number | null }).remaining;
    expect(await remaining('/sub/seen')).toBe(9);
    expect(await remaining('/sub/skipped')).toBeNull();
    expect(await remaining('/sub/passed')).toBe(8);
    expect(await remaining('/sub/seen')).toBe(7);
  });

  describe('identity cannot be spoofed by client headers', () => {
    it('X-User-ID does not change the user identify() returns', async () => {
      const limiter = limiterWith([{ name: 'rpm', scope: 'user', resource: 'requests', limit: 2, window: '1m' }]);
      const app = create();
      app.use(tollgate({ limiter, identify: (req) => ({ user: bearer(req) }) }));
      app.get('/chat', (_req, res) => {
        res.json({ ok: true });
      });
      const url = await listen(app);

      const statuses: number[] = [];
      for (const claimed of ['bob', 'carol', 'dave']) {
        statuses.push((await fetch(`${url}/chat`, { headers: { ...auth('alice'), 'x-user-id': claimed } })).status);
      }
      expect(statuses).toEqual([200, 200, 429]);
      expect(await usedOf(limiter, { user: 'alice' })).toEqual({ rpm: 2 });
      expect(await usedOf(limiter, { user: 'bob' })).toEqual({ rpm: 0 });
    });

    it("X-Forwarded-For counts only when the app trusts the proxy (Express's 'trust proxy'), IPv6 grouped by /64", async () => {
      const limiter = limiterWith([{ name: 'ip-rpm', scope: 'ip', resource: 'requests', limit: 2, window: '1m' }]);
      const direct = create();
      const proxied = create();
      proxied.set('trust proxy', 'loopback');
      for (const app of [direct, proxied]) {
        app.use(tollgate({ limiter, identify: () => ({}) }));
        app.get('/chat', (req, res) => {
          res.json({ ip: req.ip });
        });
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
    app.use(tollgate({ limiter, identify: (req) => ({ user: bearer(req) }), demand: () => ({ model: 'gpt-4o' }) }));
    app.post('/chat', async (req, res) => {
      const { degrade, lease } = req.tollgate!;
      const model = degrade?.model ?? 'gpt-4o';
      // $0.25 of input and $0.35 of output at gpt-4o prices.
      await lease.record({ model, inputTokens: 100_000, outputTokens: 35_000 });
      res.json({ model, maxTokens: degrade?.maxTokens, step: degrade?.step, usageRatio: degrade?.usageRatio });
    });
    const url = await listen(app);

    const first = await fetch(`${url}/chat`, { method: 'POST', headers: auth('alice') });
    expect(await first.json()).toEqual({ model: 'gpt-4o', maxTokens: 4096, step: 0, usageRatio: 0 });
    const second = await fetch(`${url}/chat`, { method: 'POST', headers: auth('alice') });
    expect(await second.json()).toEqual({ model: 'gpt-4o-mini', maxTokens: 2048, step: 1, usageRatio: 0.6 });
  });

  it('passes errors from identify() and demand() to next(error), charging nothing', async () => {
    const limiter = limiterWith([{ name: 'rpm', scope: 'user', resource: 'requests', limit: 5, window: '1m' }]);
    let handled = 0;
    const app = create();
    app.use(express.json());
    app.use(
      tollgate({
        limiter,
        identify: async (req) => ({ user: bearer(req) }),
        demand: (req) => {
          if (typeof req.body?.tokens !== 'number') throw Object.assign(new Error('tokens must be a number'), { status: 400 });
          return { tokens: req.body.tokens };
        },
      }),
    );
    app.post('/chat', (_req, res) => {
      handled++;
      res.json({ ok: true });
    });
    app.use(errorsAsJson);
    const url = await listen(app);
    const post = (headers: Record<string, string>, body: unknown) => fetch(`${url}/chat`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

    const anonymous = await post({}, { tokens: 1 });
    expect(anonymous.status).toBe(401);
    expect(await anonymous.json()).toEqual({ failed: 'missing bearer token' });
    const malformed = await post(auth('alice'), { tokens: 'many' });
    expect(malformed.status).toBe(400);
    expect(await malformed.json()).toEqual({ failed: 'tokens must be a number' });
    // A demand the limiter rejects (InvalidInputError) goes the same way.
    const negative = await post(auth('alice'), { tokens: -5 });
    expect(negative.status).toBe(500);
    expect(await negative.json()).toMatchObject({ failed: expect.stringMatching(/tokens/) });
    expect(handled).toBe(0);
    expect(await usedOf(limiter, { user: 'alice' })).toEqual({ rpm: 0 });
  });

  it('lets onLimited answer a refusal, and sends its errors to next(error)', async () => {
    const limiter = limiterWith([{ name: 'rpm', scope: 'user', resource: 'requests', limit: 1, window: '1m' }]);
    const app = create();
    app.use(
      tollgate({
        limiter,
        identify: (req) => ({ user: bearer(req) }),
        onLimited: async (req, res, _next, { decision, response }) => {
          if (req.path === '/broken') throw new Error('onLimited failed');
          res
            .status(response.status)
            .set({ 'retry-after': response.headers['retry-after'] })
            .json({ message: 'Slow down', limit: decision.deniedBy[0]?.name, retryAfterMs: response.body.error.retry_after_ms });
        },
      }),
    );
    app.get(['/chat', '/broken'], (_req, res) => {
      res.json({ ok: true });
    });
    app.use(errorsAsJson);
    const url = await listen(app);

    expect((await fetch(`${url}/chat`, { headers: auth('alice') })).status).toBe(200);
    const refused = await fetch(`${url}/chat`, { headers: auth('alice') });
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('60');
    expect(refused.headers.get('ratelimit')).toBeNull();
    expect(await refused.json()).toEqual({ message: 'Slow down', limit: 'rpm', retryAfterMs: 60_000 });

    const broken = await fetch(`${url}/broken`, { headers: auth('alice') });
    expect(broken.status).toBe(500);
    expect(await broken.json()).toEqual({ failed: 'onLimited failed' });
  });
});

it('sets req.tollgate on a request that no Express app has handled', async () => {
  const limiter = limiterWith([{ name: 'rpm', scope: 'user', resource: 'requests', limit: 10, window: '1m' }]);
  const middleware = tollgate({ limiter, identify: (req) => ({ user: String(req.headers['x-user']) }) });
  // A plain Node server: the request keeps IncomingMessage's prototype, which has no Express app.
  const url = await listen((req: IncomingMessage, res: ServerResponse) => {
    const request = req as Request;
    middleware(request, res as Response, () => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ remaining: request.tollgate?.decision.limits[0]!.remaining ?? null, own: Object.hasOwn(request, 'tollgate') }));
    });
  });

  expect(await (await fetch(url, { headers: { 'x-user': 'alice' } })).json()).toEqual({ remaining: 9, own: true });
  expect(await (await fetch(url, { headers: { 'x-user': 'alice' } })).json()).toEqual({ remaining: 8, own: true });
});

describe('tollgate() options', () => {
  it('refuses malformed options when the middleware is created', () => {
    const limiter = limiterWith([{ name: 'rpm', scope: 'user', resource: 'requests', limit: 1, window: '1m' }]);
    expect(() => tollgate({ limiter, identify: 'user' as never })).toThrow(ConfigurationError);
    // Left out, identify keys callers by IP: a policy with no ip limit would refuse everyone.
    expect(() => tollgate({ limiter })).toThrow(/^\[tollgate\] \[adapter-express\] identify\(req\) was left out, so callers are told apart by their IP alone, but no limit keys on ip/);
    expect(() => tollgate({ limiter, identify: () => ({}), onLimited: 'json' as never })).toThrow('[tollgate] [adapter-express] onLimited must be a function');
  });
});
