import { createLimiter, type Identity, type Limiter, type LimitConfig, type LimiterOptions, type Store } from '@tollgate/core';
import { MemoryStore } from '@tollgate/store-memory';
import Fastify, { type FastifyInstance, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import { afterEach } from 'vitest';

const apps: FastifyInstance[] = [];

afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

/** A Fastify app closed after the test, open connections (an unfinished stream) included. */
export function create(options: FastifyServerOptions = {}): FastifyInstance {
  const app = Fastify({ forceCloseConnections: true, ...options });
  apps.push(app);
  return app;
}

/** Serves the app on 127.0.0.1 on a free port. */
export async function listen(app: FastifyInstance): Promise<string> {
  return app.listen({ port: 0, host: '127.0.0.1' });
}

/** A clock the test moves by hand, so windows and retry times are exact. */
export function manualClock(start = Date.UTC(2026, 0, 15, 12, 0, 0)) {
  let now = start;
  const clock = () => now;
  clock.advance = (ms: number) => {
    now += ms;
  };
  return clock;
}

/** A limiter on a memory store sharing one clock. */
export function limiterWith(limits: LimitConfig[], extra: Partial<LimiterOptions> = {}, clock: () => number = manualClock()) {
  return createLimiter({ store: new MemoryStore({ clock }), limits, clock, ...extra });
}

/** A store that is down: every decision fails. */
export const downStore: Store = {
  capabilities: { algorithms: ['log', 'window', 'bucket', 'calendar', 'slots'] },
  apply: () => Promise.reject(new Error('down')),
};

/** The app's authentication, as far as these tests need one: `Authorization: Bearer <user>`. */
export function bearer(request: FastifyRequest): string {
  const user = /^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1];
  if (!user) throw Object.assign(new Error('missing bearer token'), { statusCode: 401 });
  return user;
}

export const auth = (user: string) => ({ authorization: `Bearer ${user}` });

/** Each limit's `used`, by name. */
export async function usedOf(limiter: Limiter, identity: Identity): Promise<Record<string, number>> {
  return Object.fromEntries((await limiter.usage(identity)).map((state) => [state.name, state.used]));
}

/**
 * Polls usage until `done` holds (a release happens after the response, asynchronously), for at
 * most 5 s; returns the usage that satisfied it, or fails with the last one seen.
 */
export async function usageWhen(limiter: Limiter, identity: Identity, done: (used: Record<string, number>) => boolean): Promise<Record<string, number>> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const used = await usedOf(limiter, identity);
    if (done(used)) return used;
    if (Date.now() > deadline) throw new Error(`usage never reached the expected state: ${JSON.stringify(used)}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A promise with its resolve function, to hand a moment from one side of the socket to the other. */
export function signal() {
  let resolve!: () => void;
  const promise = new Promise<void>((done) => (resolve = done));
  return { promise, resolve };
}
