import type { Identity, LimitConfig, Limiter } from '@tollgate/core';
import { eventually, usedOf } from '@tollgate/test-kit';

export { downStore, limiterWith, manualClock, usedOf } from '@tollgate/test-kit';

/** Three requests a minute, 10,000 tokens a minute and one request in flight, per user. */
export const POLICY: LimitConfig[] = [
  { name: 'rpm', scope: 'user', resource: 'requests', limit: 3, window: '1m' },
  { name: 'tpm', scope: 'user', resource: 'tokens', limit: 10_000, window: '1m' },
  { name: 'inflight', scope: 'user', resource: 'concurrency', limit: 1 },
];

/** Waits (up to 5 s) until the `inflight` slot of `identity` is free again, and returns the usage then. */
export const released = (limiter: Limiter, identity: Identity) => eventually(() => usedOf(limiter, identity), (used) => used['inflight'] === 0);

/** The signed-in user, as an app would read it from its verified session (here: a bearer token). */
export const userOf = (request: Request) => request.headers.get('authorization')?.replace(/^Bearer /, '') ?? undefined;

export const post = (user: string, init: RequestInit & { path?: string } = {}) => {
  const { path = '/api/chat', headers, ...rest } = init;
  return new Request(`http://localhost:3000${path}`, { method: 'POST', ...rest, headers: { authorization: `Bearer ${user}`, ...(headers as Record<string, string>) } });
};

/** What Next.js passes a route handler of a static route. */
export const routeContext = () => ({ params: Promise.resolve({}) });

/** A server-sent events stream that sends one event per pull until cancelled, and reports the cancel. */
export function eventStream() {
  let sent = 0;
  let cancelled: unknown = 'not cancelled';
  const encoder = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      controller.enqueue(encoder.encode(`data: ${JSON.stringify({ n: sent++ })}\n\n`));
    },
    cancel(reason) {
      cancelled = reason;
    },
  });
  return { body, sent: () => sent, cancelled: () => cancelled };
}
