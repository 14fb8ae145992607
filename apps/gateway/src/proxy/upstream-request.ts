import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { Readable } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';

/** An upstream's answer, its body not yet read. */
export interface UpstreamResponse {
  readonly status: number;
  readonly ok: boolean;
  /** Node's parsed headers: lower-case names. */
  readonly headers: IncomingHttpHeaders;
  /** The body, decoded, to stream; destroying it ends the call. */
  readonly body: Readable;
  /** The whole body; rejects if the connection is lost, or the call given up, before its end. */
  bytes(): Promise<Buffer>;
}

export interface UpstreamRequestInit {
  readonly method: string;
  readonly headers: Record<string, string>;
  readonly body?: string | Uint8Array;
}

// Connections are kept open between calls, as fetch's pool keeps them.
const AGENTS = { 'http:': new HttpAgent({ keepAlive: true }), 'https:': new HttpsAgent({ keepAlive: true }) };
const REQUESTS = { 'http:': httpRequest, 'https:': httpsRequest };

/** The decoders of the encodings an upstream may compress with although it was asked for none. */
const DECODERS: Record<string, () => NodeJS.ReadWriteStream> = { gzip: createGunzip, 'x-gzip': createGunzip, deflate: createInflate, br: createBrotliDecompress };

interface Target {
  readonly send: typeof httpRequest;
  readonly options: { protocol: string; hostname: string; port: string; path: string; agent: HttpAgent };
}

/** Each upstream URL called, parsed once: a gateway calls a handful (one per route and upstream). */
const targets = new Map<string, Target | undefined>();

function targetOf(url: string): Target | undefined {
  if (targets.has(url)) return targets.get(url);
  const parsed = new URL(url);
  const protocol = parsed.protocol as keyof typeof AGENTS;
  const send = Object.hasOwn(REQUESTS, protocol) ? REQUESTS[protocol] : undefined;
  // An IPv6 host is written in brackets in a URL, and without them for a socket.
  const hostname = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  const target = send && { send, options: { protocol, hostname, port: parsed.port, path: `${parsed.pathname}${parsed.search}`, agent: AGENTS[protocol] } };
  targets.set(url, target);
  return target;
}

/**
 * One call to an upstream with `node:http` (or `https`): a request through `fetch` costs the
 * gateway several times the CPU (its WHATWG headers, body and stream objects). Given up when `signal`
 * aborts, with the signal's reason as the error (a `TimeoutError`, an `AbortError`); a call that
 * could not connect fails with the socket's error and its `code` (`ECONNREFUSED`, …).
 */
export function requestUpstream(url: string, init: UpstreamRequestInit, signal: AbortSignal): Promise<UpstreamResponse> {
  const target = targetOf(url);
  if (target === undefined) return Promise.reject(new TypeError(`The upstream URL ${url} is neither http: nor https:.`));
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const call = target.send({ ...target.options, method: init.method, headers: init.headers }, (message) => resolve(responseOf(message)));
    const giveUp = () => call.destroy(signal.reason as Error);
    signal.addEventListener('abort', giveUp, { once: true });
    call.once('close', () => signal.removeEventListener('abort', giveUp));
    call.once('error', reject);
    call.end(init.body);
  });
}

function responseOf(message: IncomingMessage): UpstreamResponse {
  const status = message.statusCode ?? 502;
  const decoder = DECODERS[String(message.headers['content-encoding'] ?? '').trim().toLowerCase()];
  const body: Readable = decoder ? (message.pipe(decoder()) as unknown as Readable) : message;
  // A decoder does not see its source fail: the source's error is passed on to it.
  if (decoder) message.once('error', (error) => body.destroy(error));
  return {
    status,
    ok: status >= 200 && status < 300,
    headers: message.headers,
    body,
    bytes: async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of body) chunks.push(chunk as Buffer);
      if (!message.complete) throw Object.assign(new Error('The upstream closed the connection before the end of its answer.'), { code: 'ECONNRESET' });
      return Buffer.concat(chunks);
    },
  };
}
