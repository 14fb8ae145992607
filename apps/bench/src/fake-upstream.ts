/**
 * The upstream every contender of the gateway's CPU suite forwards to, in its own process:
 * `fake-upstream.ts [chunkDelayMs]`. An OpenAI-compatible `POST /v1/chat/completions` that answers
 * at once with `fake-answers.ts`'s JSON or stream (with the usage chunk when asked for it), so that
 * what is measured is the proxy in front of it, not the model. With `chunkDelayMs` (the soak), a
 * stream's events are written that far apart, so that a client can leave in the middle of one.
 */
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { completion, stream, streamEvents } from './fake-answers.js';

const chunkDelayMs = Number(process.argv[2] ?? 0);

/** Writes one event every `chunkDelayMs`, stopping if the gateway hangs up (its client left). */
function paced(res: ServerResponse, events: string[]): void {
  let next = 0;
  const write = () => {
    if (res.destroyed) return;
    if (next === events.length - 1) res.end(events[next]);
    else {
      res.write(events[next++]);
      setTimeout(write, chunkDelayMs);
    }
  };
  write();
}

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
    const includeUsage = request.stream_options?.include_usage === true;
    if (chunkDelayMs > 0) paced(res, streamEvents(model, includeUsage));
    else res.end(stream(model, includeUsage));
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
