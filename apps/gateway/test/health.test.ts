import { createServer, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { afterTest, gatewayWith, POLICY, writeConfig } from './support.js';

/** A TCP server that accepts connections and never answers: a store that hangs. */
async function silentServer(): Promise<number> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  afterTest(() => {
    for (const socket of sockets) socket.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return (server.address() as { port: number }).port;
}

const get = async (url: string) => {
  const response = await fetch(url);
  return { status: response.status, body: await response.json() };
};

describe('health endpoints', () => {
  it('live, ready and the original /health answer 200 while the store answers', async () => {
    const gateway = await gatewayWith(writeConfig());

    expect(await get(`${gateway.url}/health/live`)).toEqual({ status: 200, body: { ok: true } });
    expect(await get(`${gateway.url}/health/ready`)).toEqual({ status: 200, body: { ok: true, store: 'ok' } });
    expect(await get(`${gateway.url}/health`)).toEqual({ status: 200, body: { ok: true, upstream: 'simulated' } });
  });

  it('ready answers 503 when the store does not answer within its timeout; live still answers 200', async () => {
    const port = await silentServer();
    const gateway = await gatewayWith(writeConfig(POLICY, { store: `redis://127.0.0.1:${port}` }));

    expect(await get(`${gateway.url}/health/ready`)).toEqual({ status: 503, body: { ok: false, store: 'timeout' } });
    expect(await get(`${gateway.url}/health/live`)).toEqual({ status: 200, body: { ok: true } });
  });

  it('an issued key that cannot be looked up (the store does not answer) gets a 503 once the store\'s timeout passes, not a hang', async () => {
    const port = await silentServer();
    const gateway = await gatewayWith(writeConfig(POLICY, { store: `redis://127.0.0.1:${port}` }));

    const response = await fetch(`${gateway.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: 'Bearer sk-tg-never-issued', 'content-type': 'application/json' }, body: '{}' });

    expect(response.status).toBe(503);
    expect((await response.json()).error).toMatchObject({ code: 'store_unavailable' });
  });
});
