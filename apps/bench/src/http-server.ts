/**
 * One contender's server in a fresh process: `http-server.ts <framework> <contender>`. Serves `GET /hello` on a
 * free loopback port, prints the port, and runs until killed. Every limited contender counts one
 * limit per API key (the `x-api-key` header), far above the load, so all requests are admitted and
 * what is measured is the cost of deciding.
 */
import type { AddressInfo } from 'node:net';
import rateLimitFastify from '@fastify/rate-limit';
import { tollgate as expressTollgate } from '@tollgate/adapter-express';
import { tollgate as fastifyTollgate } from '@tollgate/adapter-fastify';
import { createLimiter, type Limiter } from '@tollgate/core';
import { MemoryStore } from '@tollgate/store-memory';
import express from 'express';
import { rateLimit } from 'express-rate-limit';
import Fastify from 'fastify';

const LIMIT = 10_000_000;
const WINDOW_MS = 60_000;

/** Tollgate's limiter for the benchmark: one request limit per API key, on the memory store. */
function limiter(algorithm: 'sliding-log' | 'sliding-window'): Limiter {
  return createLimiter({
    store: new MemoryStore(),
    limits: [{ name: 'rpm', scope: 'apiKey', resource: 'requests', limit: LIMIT, window: WINDOW_MS, algorithm }],
  });
}

const apiKey = (header: string | string[] | undefined) => (typeof header === 'string' ? header : 'anonymous');

async function expressServer(contender: string): Promise<number> {
  const app = express();
  app.set('etag', false);
  if (contender === 'noop') {
    app.use((_req, _res, next) => next());
  } else if (contender === 'express-rate-limit') {
    app.use(rateLimit({ windowMs: WINDOW_MS, limit: LIMIT, keyGenerator: (req) => apiKey(req.headers['x-api-key']), standardHeaders: 'draft-8', legacyHeaders: false }));
  } else if (contender !== 'bare') {
    app.use(expressTollgate({ limiter: limiter(contender === 'tollgate-window' ? 'sliding-window' : 'sliding-log'), identify: (req) => ({ apiKey: apiKey(req.headers['x-api-key']) }) }));
  }
  app.get('/hello', (_req, res) => {
    res.json({ hello: 'world' });
  });
  return new Promise((resolve) => {
    const server = app.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}

async function fastifyServer(contender: string): Promise<number> {
  const app = Fastify({ logger: false });
  if (contender === 'noop') {
    app.addHook('onRequest', async () => {});
  } else if (contender === '@fastify/rate-limit') {
    await app.register(rateLimitFastify, { max: LIMIT, timeWindow: WINDOW_MS, keyGenerator: (request) => apiKey(request.headers['x-api-key']) });
  } else if (contender !== 'bare') {
    await app.register(fastifyTollgate, { limiter: limiter(contender === 'tollgate-window' ? 'sliding-window' : 'sliding-log'), identify: (request) => ({ apiKey: apiKey(request.headers['x-api-key']) }) });
  }
  app.get('/hello', async () => ({ hello: 'world' }));
  await app.listen({ port: 0, host: '127.0.0.1' });
  return (app.server.address() as AddressInfo).port;
}

const [framework, contender] = process.argv.slice(2);
const port = framework === 'fastify' ? await fastifyServer(contender!) : await expressServer(contender!);
process.send!({ port });
// Exit normally on SIGINT, so a server run with --cpu-prof writes its profile.
process.on('SIGINT', () => process.exit(0));
