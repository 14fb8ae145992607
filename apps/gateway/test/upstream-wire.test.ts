import { createServer, type IncomingHttpHeaders } from 'node:http';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { afterTest, client, eventually, gatewayWith, usedOf, writeConfig } from './support.js';

const ANSWER = { id: 'chatcmpl-1', object: 'chat.completion', created: 1, model: 'gpt-4o', choices: [{ index: 0, message: { role: 'assistant', content: 'Hi!' }, finish_reason: 'stop' }], usage: { prompt_tokens: 11, completion_tokens: 7, total_tokens: 18 } };

/** An upstream that gzips every answer, asked to or not, and keeps each request's headers and a count of its connections. */
async function gzippingUpstream(): Promise<{ url: string; seen: IncomingHttpHeaders[]; sockets: () => number }> {
  const seen: IncomingHttpHeaders[] = [];
  let sockets = 0;
  const server = createServer((request, response) => {
    seen.push(request.headers);
    request.resume();
    request.on('end', () => response.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip', 'x-request-id': 'req-1' }).end(gzipSync(JSON.stringify(ANSWER))));
  });
  server.on('connection', () => sockets++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  afterTest(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}/v1`, seen, sockets: () => sockets };
}

describe("the gateway's upstream calls", () => {
  it('read an answer the upstream compressed unasked: the client gets it plain, with its request id, and its usage is charged', async () => {
    const upstream = await gzippingUpstream();
    const gateway = await gatewayWith(writeConfig(undefined, { upstream: upstream.url }));

    const { data, response } = await client(gateway, 'sk-test-bob').chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 10 }).withResponse();

    expect(data.choices[0]!.message.content).toBe('Hi!');
    expect(response.headers.get('content-encoding')).toBeNull();
    expect(response.headers.get('x-request-id')).toBe('req-1');
    expect(upstream.seen[0]!['accept-encoding']).toBeUndefined();
    expect(await eventually(() => usedOf(gateway.policy.limiter, { user: 'bob' }), (used) => used.tpm === 18)).toMatchObject({ tpm: 18 });
  });

  it('keep their connections open: a second call goes on the first one\'s socket', async () => {
    const upstream = await gzippingUpstream();
    const gateway = await gatewayWith(writeConfig(undefined, { upstream: upstream.url }));
    const openai = client(gateway, 'sk-test-bob');

    for (let i = 0; i < 3; i++) await openai.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 10 });

    expect(upstream.seen).toHaveLength(3);
    expect(upstream.sockets()).toBe(1);
  });
});
