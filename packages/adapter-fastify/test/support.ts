import { createLimiter, type LimitConfig, type LimiterOptions } from '@tollgate/core';
import { MemoryStore } from '@tollgate/store-memory';
import { manualClock } from '@tollgate/test-kit';
import Fastify, { type FastifyInstance, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import { afterEach } from 'vitest';

export { auth, downStore, manualClock, signal, usageWhen, usedOf } from '@tollgate/test-kit';

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

/** A limiter on a memory store sharing one clock. */
export function limiterWith(limits: LimitConfig[], extra: Partial<LimiterOptions> = {}, clock: () => number = manualClock()) {
  return createLimiter({ store: new MemoryStore({ clock }), limits, clock, ...extra });
}

/** The app's authentication, as far as these tests need one: `Authorization: Bearer <user>`. */
export function bearer(request: FastifyRequest): string {
  const user = /^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1];
  if (!user) throw Object.assign(new Error('missing bearer token'), { statusCode: 401 });
  return user;
}
