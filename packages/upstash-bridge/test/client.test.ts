/**
 * The real `@upstash/redis` client against the bridge and a real redis-server: what users of the
 * bridge will actually run.
 */
import { Redis, type RedisConfigNodejs } from '@upstash/redis';
import { describe, expect, it } from 'vitest';
import { key, setupBridge, token, UNKNOWN_SHA } from './support.js';

const env = setupBridge();

/**
 * A client for the bridge, made inside a test (the bridge starts in beforeAll). Auto-pipelining is
 * off unless a test turns it on: in @upstash/redis 1.39 it defaults to on, which sends even a lone
 * command to /pipeline.
 */
function client(options: Partial<RedisConfigNodejs> = {}): Redis {
  return new Redis({ url: env.bridge.url, token, enableTelemetry: false, enableAutoPipelining: false, ...options });
}

const text = 'héllo wörld — 日本語 🚀👍🏽 \u0000 "quoted" \\ end';

// The client sends `Upstash-Encoding: base64` unless `responseEncoding: false`.
describe.each([
  { encoding: 'base64 (the client default)', responseEncoding: undefined },
  { encoding: 'off', responseEncoding: false as const },
])('response encoding $encoding', ({ responseEncoding }) => {
  const encodingClient = () => client(responseEncoding === false ? { responseEncoding } : {});

  it('round-trips unicode and emoji', async () => {
    const redis = encodingClient();
    const k = key();
    expect(await redis.set(k, text)).toBe('OK');
    expect(await redis.get(k)).toBe(text);
    expect(await env.direct.get(k)).toBe(text);
  });

  it('returns OK, integers and nil', async () => {
    const redis = encodingClient();
    const k = key();
    expect(await redis.set(k, '10')).toBe('OK');
    expect(await redis.incrby(k, 5)).toBe(15);
    expect(await redis.del(k)).toBe(1);
    expect(await redis.get(k)).toBeNull();
  });

  it('returns nested arrays from a script', async () => {
    const redis = encodingClient();
    const reply = await redis.eval("return {1, 'two', {3, ARGV[1], false}, redis.status_reply('OK')}", [], ['🚀']);
    expect(reply).toEqual([1, 'two', [3, '🚀', null], 'OK']);
  });
});

describe('Redis errors', () => {
  it('reach the caller verbatim, with the command appended by the client', async () => {
    const redis = client();
    await expect(redis.evalsha(UNKNOWN_SHA, [], [])).rejects.toThrow(
      `NOSCRIPT No matching script. Please use EVAL., command was: ${JSON.stringify(['evalsha', UNKNOWN_SHA, 0])}`,
    );
    const k = key();
    await redis.set(k, 'not a list');
    await expect(redis.lpush(k, 'x')).rejects.toThrow(/^WRONGTYPE Operation against a key holding the wrong kind of value, command was:/);
  });

  it("let the client's own NOSCRIPT fallback (Script.exec) load the script", async () => {
    const redis = client();
    const script = redis.createScript<string>(`return ARGV[1] .. '${key('script')}'`);
    expect(await script.exec([], ['x'])).toMatch(/^xscript:/);
    expect(await script.evalsha([], ['y'])).toMatch(/^yscript:/);
  });
});

describe('pipeline', () => {
  it('runs every command in one request, in order, each on its own', async () => {
    const redis = client();
    const [k, n] = [key(), key('n')];
    env.bridge.resetCounts();
    const results = await redis.pipeline().set(k, text).get(k).incr(n).evalsha(UNKNOWN_SHA, [], []).incr(n).exec({ keepErrors: true });
    expect(results).toEqual([
      { result: 'OK', error: undefined },
      { result: text, error: undefined },
      { result: 1, error: undefined },
      { result: undefined, error: 'NOSCRIPT No matching script. Please use EVAL.' },
      { result: 2, error: undefined },
    ]);
    expect(env.bridge.requests).toEqual({ total: 1, byPath: { '/pipeline': 1 } });
  });

  it('makes exec() throw naming the failed command, after the others ran', async () => {
    const redis = client();
    const n = key('n');
    await expect(redis.pipeline().incr(n).evalsha(UNKNOWN_SHA, [], []).incr(n).exec()).rejects.toThrow(
      'Command 2 [ evalsha ] failed: NOSCRIPT No matching script. Please use EVAL.',
    );
    expect(await env.direct.get(n)).toBe('2');
  });
});

describe('multi-exec', () => {
  it('runs the commands as MULTI/EXEC in one request', async () => {
    const redis = client();
    const k = key();
    env.bridge.resetCounts();
    expect(await redis.multi().set(k, '1').incr(k).get(k).exec()).toEqual(['OK', 2, 2]);
    expect(env.bridge.requests).toEqual({ total: 1, byPath: { '/multi-exec': 1 } });
  });

  it('gives a command that fails while running its own error; the others still apply, as in Redis', async () => {
    const redis = client();
    const [s, t] = [key('s'), key('t')];
    const results = await redis.multi().set(s, 'text').incr(s).set(t, 'applied').exec({ keepErrors: true });
    expect(results).toEqual([
      { result: 'OK', error: undefined },
      { result: undefined, error: 'ERR value is not an integer or out of range' },
      { result: 'OK', error: undefined },
    ]);
    expect(await env.direct.get(t)).toBe('applied');
  });
});

describe('auto-pipelining', () => {
  it('batches concurrent commands into /pipeline requests (writes and reads separately)', async () => {
    const redis = client({ enableAutoPipelining: true });
    const keys = [key(), key(), key()];
    env.bridge.resetCounts();
    expect(await Promise.all(keys.map((k, i) => redis.set(k, `${text}${i}`)))).toEqual(['OK', 'OK', 'OK']);
    expect(await Promise.all([...keys, key('missing')].map((k) => redis.get(k)))).toEqual([`${text}0`, `${text}1`, `${text}2`, null]);
    expect(env.bridge.requests).toEqual({ total: 2, byPath: { '/pipeline': 2 } });
  });

  it('is the client default: a lone command goes to /pipeline', async () => {
    const redis = new Redis({ url: env.bridge.url, token, enableTelemetry: false });
    env.bridge.resetCounts();
    expect(await redis.get(key())).toBeNull();
    expect(env.bridge.requests).toEqual({ total: 1, byPath: { '/pipeline': 1 } });
  });

  it("rejects only the failed command's promise", async () => {
    const redis = client({ enableAutoPipelining: true });
    const k = key();
    const [set, evalsha] = await Promise.allSettled([redis.set(k, 'v'), redis.evalsha(UNKNOWN_SHA, [], [])]);
    expect(set).toEqual({ status: 'fulfilled', value: 'OK' });
    expect(evalsha.status).toBe('rejected');
    expect((evalsha as PromiseRejectedResult).reason).toHaveProperty('message', 'Command failed: NOSCRIPT No matching script. Please use EVAL.');
  });
});

describe('authorization', () => {
  it('makes the client throw on a wrong token, and runs nothing', async () => {
    const k = key();
    const redis = client({ token: 'wrong' });
    await expect(redis.set(k, 'v')).rejects.toThrow(`Unauthorized, command was: ${JSON.stringify(['set', k, 'v'])}`);
    expect(await env.direct.exists(k)).toBe(0);
  });
});

describe('request counting', () => {
  it('counts one redis.get as one request at /', async () => {
    const redis = client();
    env.bridge.resetCounts();
    expect(env.bridge.requests).toEqual({ total: 0, byPath: {} });
    await redis.get(key());
    expect(env.bridge.requests).toEqual({ total: 1, byPath: { '/': 1 } });
  });
});
