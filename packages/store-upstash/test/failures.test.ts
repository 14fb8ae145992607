import { createLimiter, StoreError, StoreTimeoutError, type Decision, type LimitConfig, type StoreErrorPolicy } from '@tollgate/core';
import { MemoryStore } from '@tollgate/store-memory';
import { startBridge } from '@tollgate/upstash-bridge';
import { Redis } from '@upstash/redis';
import { describe, expect, inject, it } from 'vitest';
import { UpstashStore } from '../src/index.js';
import { TOKEN, useBridge } from './support/bridge.js';

const http = useBridge();
const limits: LimitConfig[] = [{ name: 'rpm', scope: 'user', resource: 'requests', limit: 5, window: '1m' }];
const TIMEOUT_MS = 300;

/**
 * How long a decision may take beyond `timeoutMs` on a loaded CI machine. Far below the ~4.3 s the
 * client's default retries spend on a bridge that is down, so a test that passes shows the
 * deadline cut them short; no test asserts anything finer about time.
 */
const SLACK_MS = 1_500;

function limiterOn(client: Redis, onStoreError: StoreErrorPolicy) {
  const store = new UpstashStore({ client, prefix: `f${Date.now()}-${Math.random()}:` });
  return createLimiter({ store, limits, timeoutMs: TIMEOUT_MS, onStoreError, ...(onStoreError === 'local' && { localStore: new MemoryStore() }) });
}

async function timed<T>(work: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const start = performance.now();
  const value = await work();
  return { value, ms: performance.now() - start };
}

/** A bridge that was started and closed: its port refuses connections. */
async function closedBridgeUrl(): Promise<string> {
  const bridge = await startBridge({ redis: { port: inject('redisPort') }, token: TOKEN, port: 0 });
  await bridge.close();
  return bridge.url;
}

/** 'deny' and 'allow' answer without limits; 'local' decides on the local store, saying why. */
function expectTimeoutHandled(decision: Decision, policy: StoreErrorPolicy) {
  expect(decision.fallback).toBe(policy);
  expect(decision.error).toBeInstanceOf(StoreTimeoutError);
  if (policy === 'local') expect(decision).toMatchObject({ allowed: true, reason: 'ok', limits: [{ name: 'rpm', used: 1 }] });
  else expect(decision).toMatchObject({ allowed: policy === 'allow', reason: 'timeout', limits: [] });
}

describe('UpstashStore when HTTP fails', () => {
  it('a wrong token is a store error, handled per onStoreError at once', async () => {
    const client = new Redis({ url: http.bridge.url, token: 'wrong', retry: false });
    const denied = await timed(() => limiterOn(client, 'deny').acquire({ user: 'u' }));
    expect(denied.value).toMatchObject({ allowed: false, reason: 'store-error', fallback: 'deny' });
    expect(denied.value.error).toBeInstanceOf(StoreError);
    expect(denied.value.error!.message).toMatch(/Unauthorized/);
    expect(denied.ms).toBeLessThan(TIMEOUT_MS + SLACK_MS);
    expect(await limiterOn(client, 'allow').acquire({ user: 'u' })).toMatchObject({ allowed: true, reason: 'store-error', fallback: 'allow' });
  });

  it("a bridge that is down: the client's default 5 retries (~4 s) do not outlast timeoutMs", async () => {
    const client = new Redis({ url: await closedBridgeUrl(), token: TOKEN }); // default retry policy
    for (const policy of ['deny', 'allow', 'local'] as const) {
      const { value, ms } = await timed(() => limiterOn(client, policy).acquire({ user: 'u' }));
      expectTimeoutHandled(value, policy);
      expect(ms).toBeLessThan(TIMEOUT_MS + SLACK_MS);
    }
  });

  it('a bridge that hangs: a timeout, handled per onStoreError within timeoutMs', async () => {
    http.bridge.hang(true);
    try {
      const client = http.client();
      for (const policy of ['deny', 'allow', 'local'] as const) {
        const { value, ms } = await timed(() => limiterOn(client, policy).acquire({ user: 'u' }));
        expectTimeoutHandled(value, policy);
        expect(ms).toBeGreaterThanOrEqual(TIMEOUT_MS - 5);
        expect(ms).toBeLessThan(TIMEOUT_MS + SLACK_MS);
      }
    } finally {
      http.bridge.hang(false);
    }
    // The bridge answers again: so does the store.
    expect(await limiterOn(http.client(), 'deny').acquire({ user: 'u' })).toMatchObject({ allowed: true, reason: 'ok' });
  });
});
