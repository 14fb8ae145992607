import { createLimiter, type DegradeConfig, type Identity, type LimitConfig, type Limiter, type Store, type StoreBatch } from '@tollgate/core';
import { MemoryStore } from '@tollgate/store-memory';

/** A clock the tests move by hand, shared by the store, the limiter and the headers. */
export interface ManualClock {
  (): number;
  advance(ms: number): void;
}

/** Starts mid-day UTC, so that calendar limits do not roll over by accident. */
export function manualClock(start = Date.UTC(2026, 0, 15, 12, 0, 0)): ManualClock {
  let now = start;
  const clock = (() => now) as ManualClock;
  clock.advance = (ms) => {
    now += ms;
  };
  return clock;
}

/** Three requests a minute, 10,000 tokens a minute and one request in flight, per user. */
export const POLICY: LimitConfig[] = [
  { name: 'rpm', scope: 'user', resource: 'requests', limit: 3, window: '1m' },
  { name: 'tpm', scope: 'user', resource: 'tokens', limit: 10_000, window: '1m' },
  { name: 'inflight', scope: 'user', resource: 'concurrency', limit: 1 },
];

export function limiterWith(limits: LimitConfig[] = POLICY, options: { clock?: () => number; degrade?: DegradeConfig } = {}): Limiter {
  const { clock = Date.now, degrade } = options;
  return createLimiter({ store: new MemoryStore({ clock }), limits, clock, ...(degrade && { degrade }) });
}

/** A store that is down: every decision fails. */
export const DOWN: Store = {
  capabilities: { algorithms: ['log', 'window', 'bucket', 'calendar', 'slots'] },
  apply: (_batch: StoreBatch) => Promise.reject(new Error('down')),
};

/** How much of each limit `identity` has used, by limit name. */
export async function usedBy(limiter: Limiter, identity: Identity): Promise<Record<string, number>> {
  return Object.fromEntries((await limiter.usage(identity)).map((state) => [state.name, state.used]));
}

/** Waits (up to 5 s) until the `inflight` slot of `identity` is free again, and returns the usage then. */
export async function released(limiter: Limiter, identity: Identity): Promise<Record<string, number>> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const used = await usedBy(limiter, identity);
    if (used['inflight'] === 0 || Date.now() > deadline) return used;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

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
