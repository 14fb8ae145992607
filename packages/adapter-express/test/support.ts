import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLimiter, type Identity, type Limiter, type LimitConfig, type LimiterOptions, type Store } from '@tollgate/core';
import { MemoryStore } from '@tollgate/store-memory';
import express, { type Express, type Request } from 'express';
import express4 from 'express4';
import { afterEach } from 'vitest';

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
export async function listen(app: Express): Promise<string> {
  const server = createServer(app);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
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
export function bearer(req: Request): string {
  const user = /^Bearer (.+)$/.exec(req.get('authorization') ?? '')?.[1];
  if (!user) throw Object.assign(new Error('missing bearer token'), { status: 401 });
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
export async function usageWhen(
  limiter: Limiter,
  identity: Identity,
  done: (used: Record<string, number>) => boolean,
): Promise<Record<string, number>> {
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
