/**
 * An Upstash-compatible REST endpoint in front of a real redis-server, so `@upstash/redis` (which
 * speaks HTTP) can be tested against real Redis, and a serverless app can use local Redis in
 * development. A dev tool: plain HTTP, one shared connection, no limits. Not for production.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { Redis } from 'ioredis';
import { BadRequest, encodeReply, parseCommand, parseCommands, parseJson, type Entry } from './protocol.js';
import { runMultiExec, runOne, runPipeline, type Outcome } from './redis.js';

/** Options for {@link startBridge}. */
export interface BridgeOptions {
  /**
   * The Redis to forward to: host and port, or a `redis://` URL (which may carry a password and a
   * database number).
   * @example { port: 6379 }
   * @example 'redis://127.0.0.1:6379/0'
   */
  redis: { host?: string; port: number } | string;
  /**
   * The token clients must send as `Authorization: Bearer <token>`: the value of
   * `UPSTASH_REDIS_REST_TOKEN` in the app. Must not be empty.
   */
  token: string;
  /**
   * The HTTP port to listen on; 0 lets the OS pick a free one (read it from {@link Bridge.url}).
   * @default 0
   */
  port?: number;
  /**
   * The address to listen on. Loopback by default: the bridge has no TLS and should not be reachable
   * from other machines.
   * @default '127.0.0.1'
   */
  host?: string;
}

/** A running bridge, from {@link startBridge}. */
export interface Bridge {
  /**
   * The base URL to give the client (`UPSTASH_REDIS_REST_URL`).
   * @example 'http://127.0.0.1:41234'
   */
  readonly url: string;
  /**
   * HTTP requests received since start or the last {@link Bridge.resetCounts}: every request,
   * including unauthorized, malformed and held ones, by URL path (`/`, `/pipeline`,
   * `/multi-exec`, …). A copy, taken when read.
   */
  readonly requests: { total: number; byPath: Record<string, number> };
  /** Sets the request counts back to zero. */
  resetCounts(): void;
  /**
   * While on, every request is accepted and then held: no command runs and no response is ever
   * sent, so a client's timeout fires (for testing timeouts). Turning it off affects new requests
   * only: held requests stay held until their client gives up or {@link Bridge.close} destroys them.
   */
  hang(on: boolean): void;
  /**
   * Stops the HTTP server, destroying open sockets (held requests included), then quits the Redis
   * connection. Safe to call more than once.
   */
  close(): Promise<void>;
}

/** The paths the bridge serves, and how each runs its body. */
const routes: Record<string, (redis: Redis, body: unknown, base64: boolean) => Promise<{ status: number; json: unknown }>> = {
  // One command: its result, or Redis' error as HTTP 400 (the client reads `error` from any non-2xx).
  '/': async (redis, body, base64) => {
    const outcome = await runOne(redis, parseCommand(body, 'the body'));
    return 'error' in outcome ? { status: 400, json: outcome } : { status: 200, json: entry(outcome, base64) };
  },
  '/pipeline': async (redis, body, base64) => {
    const outcomes = await runPipeline(redis, parseCommands(body));
    return { status: 200, json: outcomes.map((outcome) => entry(outcome, base64)) };
  },
  // A transaction Redis refused to queue ran nothing, so there are no per-command results to give:
  // the whole request fails with HTTP 400 and the EXECABORT text naming the refused commands.
  '/multi-exec': async (redis, body, base64) => {
    const outcomes = await runMultiExec(redis, parseCommands(body));
    if ('aborted' in outcomes) return { status: 400, json: { error: outcomes.aborted } };
    return { status: 200, json: outcomes.map((outcome) => entry(outcome, base64)) };
  },
};

function entry(outcome: Outcome, base64: boolean): Entry {
  // Error text stays plain even in base64 mode: the client never decodes `error`.
  return 'error' in outcome ? { error: outcome.error } : { result: encodeReply(outcome.reply, base64) };
}

function send(res: ServerResponse, status: number, json: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(json));
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** Connects to Redis first (so a wrong address fails here, not on the first request). */
async function connectRedis(target: BridgeOptions['redis']): Promise<Redis> {
  const redis = typeof target === 'string' ? new Redis(target, { lazyConnect: true }) : new Redis({ ...target, lazyConnect: true });
  // Connection failures reach callers as HTTP 502s; without a listener ioredis would also print
  // every reconnect attempt. The last one is kept because connect() rejects with a vaguer
  // "Connection is closed." than the socket error behind it.
  let lastError: Error | undefined;
  redis.on('error', (error: Error) => {
    lastError = error;
  });
  try {
    await redis.connect();
    return redis;
  } catch (error) {
    redis.disconnect();
    const where = typeof target === 'string' ? target : `${target.host ?? '127.0.0.1'}:${target.port}`;
    const cause = lastError ?? (error as Error);
    throw new Error(`[upstash-bridge] could not connect to Redis at ${where}: ${cause.message}`, { cause });
  }
}

/**
 * Starts a bridge: connects to Redis, then listens for Upstash REST requests.
 *
 * @example
 * ```ts
 * const bridge = await startBridge({ redis: { port: 6379 }, token: 'dev' });
 * const redis = new Redis({ url: bridge.url, token: 'dev' }); // from '@upstash/redis'
 * await redis.set('greeting', 'hello');
 * await bridge.close();
 * ```
 */
export async function startBridge(options: BridgeOptions): Promise<Bridge> {
  const { token, port = 0, host = '127.0.0.1' } = options;
  if (typeof token !== 'string' || token === '') throw new TypeError('[upstash-bridge] `token` must be a non-empty string');
  const redis = await connectRedis(options.redis);

  let counts = { total: 0, byPath: {} as Record<string, number> };
  let hanging = false;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://bridge').pathname;
    counts.total += 1;
    counts.byPath[path] = (counts.byPath[path] ?? 0) + 1;
    // Held: never answered. The socket stays open until the client gives up or close() runs.
    if (hanging) return;

    // A plain comparison: this is a loopback dev tool, not a place where timing attacks matter.
    if (req.headers.authorization !== `Bearer ${token}`) return send(res, 401, { error: 'Unauthorized' });
    if (req.method !== 'POST') return send(res, 405, { error: `${req.method} is not supported: upstash-bridge takes POST only` }, { allow: 'POST' });
    const route = routes[path];
    if (!route) return send(res, 404, { error: `no such path ${path}: upstash-bridge serves POST /, /pipeline and /multi-exec` });

    const base64 = String(req.headers['upstash-encoding']).toLowerCase() === 'base64';
    try {
      const { status, json } = await route(redis, parseJson(await readBody(req)), base64);
      send(res, status, json);
    } catch (error) {
      if (error instanceof BadRequest) return send(res, 400, { error: error.message });
      // Not Redis answering with an error: the connection to it failed.
      send(res, 502, { error: `[upstash-bridge] Redis request failed: ${(error as Error).message}` });
    }
  }

  const server = createServer((req, res) => void handle(req, res));
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    redis.disconnect();
    throw error;
  }
  const address = server.address() as { port: number };
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`;

  let closing: Promise<void> | undefined;
  return {
    url,
    get requests() {
      return { total: counts.total, byPath: { ...counts.byPath } };
    },
    resetCounts() {
      counts = { total: 0, byPath: {} };
    },
    hang(on) {
      hanging = on;
    },
    close() {
      closing ??= (async () => {
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          // close() alone waits for open sockets (keep-alive and held requests) to end by themselves.
          server.closeAllConnections();
        });
        await redis.quit().catch(() => redis.disconnect());
      })();
      return closing;
    },
  };
}
