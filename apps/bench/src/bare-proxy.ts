/**
 * The floor of the gateway's CPU suite, in its own process: `bare-proxy.ts <upstream base URL>`.
 * What any proxy of chat completions has to do and nothing more: `node:http`, `JSON.parse` of the
 * body, `fetch` to the upstream with the body serialised again, and the answer passed back (a
 * stream as it arrives). No key, no limit, no estimate, no metering.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';

const upstream = process.argv[2]!;

const server = createServer((req, res) => {
  let text = '';
  req.setEncoding('utf8');
  req.on('data', (chunk: string) => (text += chunk));
  req.on('end', async () => {
    try {
      const body = JSON.parse(text) as Record<string, unknown>;
      const response = await fetch(`${upstream}/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      res.writeHead(response.status, { 'content-type': response.headers.get('content-type') ?? 'application/json' });
      if (body.stream === true && response.body) Readable.fromWeb(response.body as import('node:stream/web').ReadableStream).pipe(res);
      else res.end(await response.text());
    } catch {
      res.writeHead(502).end();
    }
  });
});
server.listen(0, '127.0.0.1', () => process.send!({ port: (server.address() as AddressInfo).port }));
// Exit normally on SIGTERM, so a server run with --cpu-prof writes its profile.
process.on('SIGTERM', () => process.exit(0));
