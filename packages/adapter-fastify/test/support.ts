import Fastify, { type FastifyInstance, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import { afterEach } from 'vitest';

export { auth, downStore, eventually, limiterWith, manualClock, signal, usedOf } from '@tollgate/test-kit';

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

/** The app's authentication, as far as these tests need one: `Authorization: Bearer <user>`. */
export function bearer(request: FastifyRequest): string {
  const user = /^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1];
  if (!user) throw Object.assign(new Error('missing bearer token'), { statusCode: 401 });
  return user;
}
