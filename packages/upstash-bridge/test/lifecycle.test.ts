/**
 * Starting, counting, hanging and closing: the parts tests of other packages lean on.
 */
import { createServer } from 'node:net';
import { Redis } from '@upstash/redis';
import { describe, expect, it } from 'vitest';
import { startBridge } from '../src/index.js';
import { key, post, setupBridge, token } from './support.js';

const env = setupBridge();

/** Connections the redis-server has open right now. */
async function redisClients(): Promise<number> {
  const list = (await env.direct.call('CLIENT', 'LIST')) as string;
  return list.trim().split('\n').length;
}

/** Waits until the bridge has received `total` requests (a fetch resolves only once answered). */
async function untilReceived(bridge: { requests: { total: number } }, total: number): Promise<void> {
  while (bridge.requests.total < total) await new Promise((resolve) => setTimeout(resolve, 5));
}

describe('request counting', () => {
  it('counts every request by path, unauthorized and unknown ones included, until reset', async () => {
    const { bridge } = env;
    bridge.resetCounts();
    await post(bridge.url, '/', ['PING']);
    await post(bridge.url, '/', ['PING'], { auth: 'Bearer wrong' });
    await post(bridge.url, '/pipeline', [['PING'], ['PING']]);
    await post(bridge.url, '/nowhere', []);
    expect(bridge.requests).toEqual({ total: 4, byPath: { '/': 2, '/pipeline': 1, '/nowhere': 1 } });
    bridge.resetCounts();
    expect(bridge.requests).toEqual({ total: 0, byPath: {} });
  });

  it('hands out a copy, so a caller cannot change the counts', () => {
    const counts = env.bridge.requests;
    counts.total = 99;
    counts.byPath['/'] = 99;
    expect(env.bridge.requests.total).not.toBe(99);
  });
});

describe('hang', () => {
  it('holds requests unanswered and unrun, so a client timeout fires; off answers new ones again', async () => {
    const { bridge } = env;
    const k = key();
    bridge.resetCounts();
    bridge.hang(true);
    try {
      const held = fetch(`${bridge.url}/`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}` },
        body: JSON.stringify(['SET', k, 'v']),
        signal: AbortSignal.timeout(200),
      });
      await expect(held).rejects.toMatchObject({ name: 'TimeoutError' });
      expect(bridge.requests).toEqual({ total: 1, byPath: { '/': 1 } });
      expect(await env.direct.exists(k)).toBe(0);
    } finally {
      bridge.hang(false);
    }
    expect((await post(bridge.url, '/', ['SET', k, 'v'])).json).toEqual({ result: 'OK' });
  });

  // Client behaviour the bridge makes testable: worth knowing before relying on `signal`.
  it('makes a client with a signal factory reject, but one with a plain signal resolve to null', async () => {
    const { bridge } = env;
    const k = key();
    await post(bridge.url, '/', ['SET', k, 'present']);
    bridge.hang(true);
    try {
      const options = { url: bridge.url, token, enableTelemetry: false, enableAutoPipelining: false };
      const factory = new Redis({ ...options, signal: () => AbortSignal.timeout(200) });
      await expect(factory.get(k)).rejects.toMatchObject({ name: 'TimeoutError' });
      // On abort the client fabricates a 200 reply `{"result": <abort reason>}`; the reason
      // serialises to {}, which decodes to null: a timed-out read looks like a missing key.
      const plain = new Redis({ ...options, signal: AbortSignal.timeout(200) });
      expect(await plain.get(k)).toBeNull();
    } finally {
      bridge.hang(false);
    }
  });
});

describe('startBridge and close', () => {
  it('close() finishes with a request held open, destroys its socket, and quits the Redis connection', async () => {
    const before = await redisClients();
    const bridge = await startBridge({ redis: `redis://127.0.0.1:${env.redisPort}`, token });
    expect(bridge.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(await redisClients()).toBe(before + 1);

    bridge.hang(true);
    const held = fetch(`${bridge.url}/`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: '["PING"]' });
    const outcome = held.then(() => 'answered', () => 'failed');
    await untilReceived(bridge, 1);
    await bridge.close();
    expect(await outcome).toBe('failed');
    expect(await redisClients()).toBe(before);
    await bridge.close(); // a second close is harmless
  });

  it('rejects when Redis cannot be reached, naming the address', async () => {
    const port = await new Promise<number>((resolve) => {
      const server = createServer().listen(0, '127.0.0.1', () => {
        const { port } = server.address() as { port: number };
        server.close(() => resolve(port));
      });
    });
    await expect(startBridge({ redis: { port }, token })).rejects.toThrow(
      `[upstash-bridge] could not connect to Redis at 127.0.0.1:${port}: connect ECONNREFUSED 127.0.0.1:${port}`,
    );
  });

  it('rejects an empty token', async () => {
    await expect(startBridge({ redis: { port: env.redisPort }, token: '' })).rejects.toThrow('`token` must be a non-empty string');
  });
});
