import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import type { RunningGateway } from '../src/gateway.js';
import { client, gatewayWith, HELLO, POLICY, usedOf, writeConfig } from './support.js';

/** A chat request's body as sent, with the content type a JSON client sends. */
async function post(gateway: RunningGateway, body: string, key = 'sk-test-alice'): Promise<{ status: number; json: { error?: { message: string; type: string; code: string | null } } }> {
  const response = await fetch(`${gateway.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body });
  return { status: response.status, json: await response.json() };
}

/** A JSON chat request whose extra field nests `depth` arrays deep (the body itself is one level more). */
const nested = (depth: number) => `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"x":${'['.repeat(depth)}${']'.repeat(depth)}}`;

/** Whether the gateway counted an upstream failure (it must not, for a request it refused itself). */
const upstreamFailures = async (gateway: RunningGateway) => /tollgate_upstream_responses_total\{status="0"\}/.test(await (await fetch(`${gateway.url}/metrics`)).text());

describe('request bodies the gateway refuses before anything is counted or sent', () => {
  it.each([
    ['null', 'null'],
    ['a string', '"x"'],
    ['a list', '[1]'],
    ['a number', '5'],
  ])('a body that is %s: 400 in OpenAI\'s shape', async (_what, body) => {
    const gateway = await gatewayWith(writeConfig());

    const { status, json } = await post(gateway, body);

    expect(status).toBe(400);
    expect(json.error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_request', message: 'The request body must be a JSON object.' });
    expect(await usedOf(gateway.policy.limiter, { user: 'alice' })).toMatchObject({ rpm: 0 });
  });

  it('JSON nested deeper than 64 levels: 400 in OpenAI\'s shape, no upstream failure; 64 levels pass', async () => {
    const gateway = await gatewayWith(writeConfig());

    const tooDeep = await post(gateway, nested(64));
    const bomb = await post(gateway, nested(10_000));
    const deepest = await post(gateway, nested(63));

    expect([tooDeep.status, bomb.status]).toEqual([400, 400]);
    expect(bomb.json.error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_request', message: 'The request body is nested deeper than 64 levels.' });
    expect(deepest.status).toBe(200);
    expect(await upstreamFailures(gateway)).toBe(false);
    expect(await usedOf(gateway.policy.limiter, { user: 'alice' })).toMatchObject({ rpm: 1 });
  });

  it('a chat body over listen.maxBodyBytes: 413 in OpenAI\'s shape', async () => {
    const gateway = await gatewayWith(writeConfig(POLICY, { listen: '{ host: 127.0.0.1, port: 0, maxBodyBytes: 65536 }' }));
    const content = 'x'.repeat(70_000);

    const { status, json } = await post(gateway, JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content }] }));

    expect(status).toBe(413);
    expect(json.error).toMatchObject({ type: 'invalid_request_error', code: 'FST_ERR_CTP_BODY_TOO_LARGE' });
    expect(await usedOf(gateway.policy.limiter, { user: 'alice' })).toMatchObject({ rpm: 0 });
  });

  it('by default a chat body of 5 MB is too large, one of 1 MB is not', async () => {
    const gateway = await gatewayWith(writeConfig());
    const body = (bytes: number) => JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'word '.repeat(bytes / 5) }], max_tokens: 5 });

    // bob's tier (pro) has room for the 200 000 tokens of the larger prompt.
    expect((await post(gateway, body(5_000_000), 'sk-test-bob')).status).toBe(413);
    expect((await post(gateway, body(1_000_000), 'sk-test-bob')).status).toBe(200);
  });
});

/** Sends `head` on a raw connection and never the rest; resolves with what the server answers before it closes. */
function stall(gateway: RunningGateway, head: string): Promise<string> {
  const { hostname, port } = new URL(gateway.url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.write(head));
    let answer = '';
    socket.on('data', (chunk) => (answer += chunk));
    socket.on('error', reject);
    socket.on('close', () => resolve(answer));
  });
}

describe('clients that send their request slowly', () => {
  const slow = (chunkDelayMs = 2) => writeConfig(POLICY, { chunkDelayMs, listen: '{ host: 127.0.0.1, port: 0, headersTimeoutMs: 200, requestTimeoutMs: 400 }' });

  it('a body that never finishes arriving gets a 408 in OpenAI\'s shape and the connection closes, charging nothing', async () => {
    const gateway = await gatewayWith(slow());

    const answer = await stall(gateway, 'POST /v1/chat/completions HTTP/1.1\r\nhost: gateway\r\nauthorization: Bearer sk-test-alice\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{"model":');

    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(answer).toContain('"code":"request_timeout"');
    expect(await usedOf(gateway.policy.limiter, { user: 'alice' })).toMatchObject({ rpm: 0 });
  });

  it('headers that never finish arriving get a 408 and the connection closes', async () => {
    const gateway = await gatewayWith(slow());

    expect(await stall(gateway, 'POST /v1/chat/completions HTTP/1.1\r\nhost: gateway\r\n')).toMatch(/^HTTP\/1\.1 408 /);
  });

  it('a response that takes longer than the request timeout is not cut: the timeout bounds only receiving the request', async () => {
    // 50 ms between chunks: the stream lasts several times the 400 ms request timeout.
    const gateway = await gatewayWith(slow(50));

    const stream = await client(gateway, 'sk-test-bob').chat.completions.create({ model: 'gpt-4o', messages: HELLO, max_tokens: 40, stream: true });
    let finish: string | null = null;
    for await (const chunk of stream) finish = chunk.choices[0]?.finish_reason ?? finish;

    expect(finish).not.toBeNull();
  });
});

describe('large bodies, decided in turn per caller', () => {
  const CAROL = `
tiers:
  t:
    limits:
      - { name: tpm, scope: user, resource: tokens, limit: 150000, window: 1m }
users:
  carol: { tier: t }
keys:
  sk-test-carol: { user: carol }
`;
  /** A chat body of `words` words, about one token each: 100 KB for 20,000. */
  const chat = (words: number) => JSON.stringify({ model: 'gpt-4o', max_tokens: 5, messages: [{ role: 'user', content: 'word '.repeat(words) }] });

  it('answers every large body of a caller sending many at once (served, refused, malformed or abandoned), and its next one', async () => {
    const gateway = await gatewayWith(writeConfig(CAROL));
    const send = (body: string, signal?: AbortSignal) =>
      fetch(`${gateway.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: 'Bearer sk-test-carol', 'content-type': 'application/json' }, body, signal }).then(
        async (response) => (await response.arrayBuffer(), response.status),
        (error: Error) => error.name,
      );
    const abandoned = () => {
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 1);
      return send(chat(20_000), controller.signal);
    };
    const malformed = `{"model":"gpt-4o","messages":[${'x'.repeat(100_000)}`;

    const statuses = await Promise.all([send(chat(20_000)), send(chat(200_000)), send(malformed), abandoned(), send(chat(20_000)), send(chat(200_000)), send(malformed), abandoned(), send(chat(20_000))]);

    expect(statuses.filter((_, i) => i % 4 === 0)).toEqual([200, 200, 200]);
    expect([statuses[1], statuses[5]]).toEqual([429, 429]);
    expect([statuses[2], statuses[6]]).toEqual([400, 400]);
    expect(await send(chat(20_000))).toBe(200);
  });

  it('a large prompt reaches the upstream as it was sent, with the output cap the gateway reserved', async () => {
    const forwarded: Array<Record<string, unknown>> = [];
    const gateway = await gatewayWith(writeConfig(CAROL), { onSimulatedRequest: (body) => forwarded.push(body) });
    const messages = [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'quote " backslash \\ newline \n é 東京 🚀 '.repeat(3_000) },
    ];

    const response = await fetch(`${gateway.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: 'Bearer sk-test-carol', 'content-type': 'application/json' }, body: JSON.stringify({ model: 'gpt-4o', messages }) });

    expect(response.status).toBe(200);
    expect(forwarded).toHaveLength(1);
    expect(forwarded[0]!.messages).toEqual(messages);
    expect(forwarded[0]!.max_completion_tokens).toBe(Number(response.headers.get('x-tollgate-max-tokens')));
  });

  it('a large body with an object key of 2048 characters: 400, nothing counted', async () => {
    const gateway = await gatewayWith(writeConfig(CAROL));

    const { status, json } = await post(gateway, JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x'.repeat(100_000) }], metadata: { ['k'.repeat(2048)]: 'v' } }), 'sk-test-carol');

    expect(status).toBe(400);
    expect(json.error?.message).toBe('The request body has an object key of 2048 characters or more.');
    expect(await usedOf(gateway.policy.limiter, { user: 'carol' })).toMatchObject({ tpm: 0 });
  });
});
