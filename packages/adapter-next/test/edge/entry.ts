// Bundled for the edge-runtime test: what a Next.js proxy or edge route ships, with the memory store.
import { createLimiter, type Identity, type Limiter } from '@tollgate/core';
import { MemoryStore } from '@tollgate/store-memory';
import { tollgateProxy, withTollgate } from '../../src/index.js';

const identify = (request: Request) => ({ user: request.headers.get('authorization') ?? undefined });
const post = (user: string) => new Request('https://example.com/api/chat', { method: 'POST', headers: { authorization: user } });
const context = { params: Promise.resolve({}) };
const inflight = async (limiter: Limiter, identity: Identity) => (await limiter.usage(identity)).find((state) => state.name === 'inflight')?.used;
const refusal = async (response: Response) => ({ status: response.status, limit: ((await response.json()) as { error: { limit: string } }).error.limit });

/** Runs the proxy and a streaming route handler on real decisions, and reports what happened. */
export async function run() {
  const proxyLimiter = createLimiter({ store: new MemoryStore(), limits: [{ name: 'proxy-rpm', scope: 'user', resource: 'requests', limit: 2, window: '1m' }] });
  const proxy = tollgateProxy({ limiter: proxyLimiter, identify });
  const proxied = [];
  for (let i = 0; i < 3; i++) {
    const response = await proxy(post('edge-user'));
    proxied.push(response === undefined ? 'next' : await refusal(response));
  }

  const limiter = createLimiter({
    store: new MemoryStore(),
    limits: [
      { name: 'rpm', scope: 'user', resource: 'requests', limit: 2, window: '1m' },
      { name: 'inflight', scope: 'user', resource: 'concurrency', limit: 1 },
    ],
  });
  const encoder = new TextEncoder();
  // Three server-sent events, then the end of the stream.
  const POST = withTollgate(() => {
    let n = 0;
    const body = new ReadableStream<Uint8Array>({
      pull: (controller) => (n < 3 ? controller.enqueue(encoder.encode(`data: ${n++}\n\n`)) : controller.close()),
    });
    return new Response(body, { headers: { 'content-type': 'text/event-stream' } });
  }, { limiter, identify });

  const cancelled = await POST(post('edge-user'), context);
  const reader = cancelled.body!.getReader();
  const first = new TextDecoder().decode((await reader.read()).value);
  const heldWhileStreaming = await inflight(limiter, { user: 'edge-user' });
  const whileStreaming = await refusal(await POST(post('edge-user'), context));
  await reader.cancel();
  const afterCancel = await inflight(limiter, { user: 'edge-user' });
  const completed = await POST(post('edge-user'), context);
  const text = await completed.text();
  const afterEnd = await inflight(limiter, { user: 'edge-user' });
  const overLimit = await refusal(await POST(post('edge-user'), context));

  return {
    proxied,
    route: { status: cancelled.status, ratelimit: cancelled.headers.get('ratelimit'), first, heldWhileStreaming, whileStreaming, afterCancel, text, afterEnd, overLimit },
  };
}
