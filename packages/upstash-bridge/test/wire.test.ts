/**
 * The exact wire format, with raw fetch: what the client relies on, and what other Upstash REST
 * clients would see.
 */
import { describe, expect, it } from 'vitest';
import { b64, key, post, setupBridge, UNKNOWN_SHA } from './support.js';

const env = setupBridge();
const url = () => env.bridge.url;

const NOSCRIPT = 'NOSCRIPT No matching script. Please use EVAL.';
const NESTED = "return {1, 'two', {3, false}, redis.status_reply('OK')}";

describe('POST /', () => {
  it('answers JSON with the result', async () => {
    const k = key();
    expect(await post(url(), '/', ['SET', k, 'v'])).toEqual({ status: 200, json: { result: 'OK' }, contentType: 'application/json' });
  });

  it('encodes strings as UTF-8 text without Upstash-Encoding', async () => {
    const k = key();
    await post(url(), '/', ['SET', k, 'é🚀']);
    expect((await post(url(), '/', ['GET', k])).json).toEqual({ result: 'é🚀' });
  });

  it('encodes strings as base64 of their bytes with Upstash-Encoding: base64, except a top-level OK', async () => {
    const k = key();
    expect((await post(url(), '/', ['SET', k, 'é🚀'], { base64: true })).json).toEqual({ result: 'OK' });
    expect((await post(url(), '/', ['GET', k], { base64: true })).json).toEqual({ result: b64('é🚀') });
    expect((await post(url(), '/', ['PING'], { base64: true })).json).toEqual({ result: b64('PONG') });
  });

  it('is binary-safe in base64 mode', async () => {
    const reply = await post(url(), '/', ['EVAL', 'return string.char(0, 255, 128)', 0], { base64: true });
    expect(reply.json).toEqual({ result: Buffer.from([0, 255, 128]).toString('base64') });
  });

  it('sends integers as JSON numbers and nil as null', async () => {
    const k = key();
    expect((await post(url(), '/', ['INCR', k], { base64: true })).json).toEqual({ result: 1 });
    expect((await post(url(), '/', ['GET', key('missing')], { base64: true })).json).toEqual({ result: null });
  });

  it('sends arrays recursively, encoding every nested string (a nested OK included)', async () => {
    expect((await post(url(), '/', ['EVAL', NESTED, 0])).json).toEqual({ result: [1, 'two', [3, null], 'OK'] });
    expect((await post(url(), '/', ['EVAL', NESTED, 0], { base64: true })).json).toEqual({ result: [1, b64('two'), [3, null], b64('OK')] });
  });

  it('sends number and boolean arguments to Redis as text', async () => {
    const k = key();
    await post(url(), '/', ['SET', k, 41]);
    expect((await post(url(), '/', ['INCRBY', k, 1])).json).toEqual({ result: 42 });
    await post(url(), '/', ['SET', k, true]);
    expect(await env.direct.get(k)).toBe('true');
  });

  it('passes a Redis error through verbatim as HTTP 400, never base64-encoded', async () => {
    expect(await post(url(), '/', ['EVALSHA', UNKNOWN_SHA, 0], { base64: true })).toMatchObject({ status: 400, json: { error: NOSCRIPT } });
  });
});

describe('POST /pipeline', () => {
  it('runs each command on its own, in order, with a result or an error each', async () => {
    const k = key();
    const reply = await post(url(), '/pipeline', [['SET', k, 'v'], ['GET', k], ['EVALSHA', UNKNOWN_SHA, 0], ['INCR', k], ['APPEND', k, 'w']], { base64: true });
    expect(reply.status).toBe(200);
    expect(reply.json).toEqual([
      { result: 'OK' },
      { result: b64('v') },
      { error: NOSCRIPT },
      { error: 'ERR value is not an integer or out of range' },
      { result: 2 },
    ]);
  });
});

describe('POST /multi-exec', () => {
  it('runs the commands in a transaction, with a result or an error each', async () => {
    const k = key();
    const reply = await post(url(), '/multi-exec', [['SET', k, 'v'], ['INCR', k], ['GET', k]]);
    expect(reply).toMatchObject({ status: 200, json: [{ result: 'OK' }, { error: 'ERR value is not an integer or out of range' }, { result: 'v' }] });
  });

  it('runs nothing and answers HTTP 400 EXECABORT, naming the commands Redis refused to queue', async () => {
    const k = key();
    const reply = await post(url(), '/multi-exec', [['SET', k, 'v'], ['NOSUCHCOMMAND', k], ['GET']]);
    expect(reply.status).toBe(400);
    const { error } = reply.json as { error: string };
    expect(error).toMatch(/^EXECABORT Transaction discarded because of previous errors\. /);
    expect(error).toContain("command 2 [ NOSUCHCOMMAND ]: ERR unknown command 'NOSUCHCOMMAND'");
    expect(error).toContain("command 3 [ GET ]: ERR wrong number of arguments for 'get' command");
    expect(await env.direct.exists(k)).toBe(0);
  });

  it('leaves the shared connection usable after an aborted transaction', async () => {
    await post(url(), '/multi-exec', [['NOSUCHCOMMAND']]);
    expect((await post(url(), '/', ['PING'])).json).toEqual({ result: 'PONG' });
  });
});

describe('bad requests', () => {
  it.each([
    ['/', '{"unterminated', /^the body is not valid JSON/],
    ['/', { command: 'GET' }, /^the body must be a JSON array/],
    ['/', [], /^the body is empty/],
    ['/', ['GET', null], /^the body, element 1: expected a string, number or boolean, got null/],
    ['/', ['GET', { k: 1 }], /^the body, element 1: expected a string, number or boolean, got object/],
    ['/', ['SUBSCRIBE', 'channel'], /^the body: SUBSCRIBE is not supported by upstash-bridge/],
    ['/', ['MULTI'], /^the body: MULTI is not supported/],
    ['/pipeline', ['GET', 'k'], /^command 1 must be a JSON array/],
    ['/pipeline', [], /^the body is an empty array/],
    ['/pipeline', [['PING'], []], /^command 2 is empty/],
    ['/multi-exec', [['PING'], ['SELECT', 1]], /^command 2: SELECT is not supported/],
  ])('POST %s %j → 400', async (path, body, message) => {
    const reply = await post(url(), path, body);
    expect(reply.status).toBe(400);
    expect((reply.json as { error: string }).error).toMatch(message);
  });

  it('runs no command of a pipeline with a bad one', async () => {
    const k = key();
    expect((await post(url(), '/pipeline', [['SET', k, 'v'], ['GET', null]])).status).toBe(400);
    expect(await env.direct.exists(k)).toBe(0);
  });

  it('answers 404 for a path it does not serve, such as the GET-style /get/<key>', async () => {
    const reply = await post(url(), '/get/k', []);
    expect(reply.status).toBe(404);
    expect((reply.json as { error: string }).error).toMatch(/^no such path \/get\/k/);
  });

  it('answers 405 to anything but POST', async () => {
    const res = await fetch(`${url()}/`, { headers: { authorization: 'Bearer test-token' } });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('POST');
    expect(await res.json()).toEqual({ error: 'GET is not supported: upstash-bridge takes POST only' });
  });
});

describe('authorization', () => {
  it.each([
    ['no Authorization header', null],
    ['a wrong token', 'Bearer wrong'],
    ['another scheme', 'Basic dGVzdC10b2tlbg=='],
    ['a bare token', 'test-token'],
  ])('answers 401 to %s, and runs nothing', async (_, auth) => {
    const k = key();
    for (const [path, body] of [['/', ['SET', k, 'v']], ['/pipeline', [['SET', k, 'v']]], ['/multi-exec', [['SET', k, 'v']]]] as const) {
      expect(await post(url(), path, body, { auth })).toEqual({ status: 401, json: { error: 'Unauthorized' }, contentType: 'application/json' });
    }
    expect(await env.direct.exists(k)).toBe(0);
  });
});
