/**
 * The upstream every contender of the gateway's CPU suite forwards to, in its own process:
 * `fake-upstream.ts`. An OpenAI-compatible `POST /v1/chat/completions` that answers at once with
 * `fake-answers.ts`'s JSON or stream (with the usage chunk when asked for it), so that what is
 * measured is the proxy in front of it, not the model.
 */
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { completion, stream } from './fake-answers.js';

function answer(res: ServerResponse, body: string): void {
  let request: { model?: unknown; stream?: unknown; stream_options?: { include_usage?: unknown } };
  try {
    request = JSON.parse(body) as typeof request;
  } catch {
    res.writeHead(400).end();
    return;
  }
  const model = typeof request.model === 'string' ? request.model : 'gpt-4o';
  if (request.stream === true) {
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
    res.end(stream(model, request.stream_options?.include_usage === true));
  } else {
    res.writeHead(200, { 'content-type': 'application/json' }).end(completion(model));
  }
}

const server = createServer((req, res) => {
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (chunk: string) => (body += chunk));
  req.on('end', () => answer(res, body));
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => process.send!({ port: (server.address() as AddressInfo).port }));
