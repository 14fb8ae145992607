import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type Express, type Request } from 'express';
import express4 from 'express4';
import { afterEach } from 'vitest';

export { auth, downStore, eventually, limiterWith, manualClock, signal, usedOf } from '@tollgate/test-kit';

/** Every behavioural test runs on both majors the peer range allows. */
export const frameworks: ReadonlyArray<{ name: string; major: number; create: () => Express }> = [
  { name: 'Express 5', major: 5, create: () => express() },
  { name: 'Express 4', major: 4, create: () => express4() },
];

const servers: Server[] = [];

afterEach(async () => {
  const open = servers.splice(0);
  await Promise.all(
    open.map(
      (server) =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    ),
  );
});

/** Serves the app on 127.0.0.1 on a free port; the server is closed after the test. */
export async function listen(app: Express | RequestListener): Promise<string> {
  const server = createServer(app);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** The app's authentication, as far as these tests need one: `Authorization: Bearer <user>`. */
export function bearer(req: Request): string {
  const user = /^Bearer (.+)$/.exec(req.get('authorization') ?? '')?.[1];
  if (!user) throw Object.assign(new Error('missing bearer token'), { status: 401 });
  return user;
}
