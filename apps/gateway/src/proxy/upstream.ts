import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ApiFamily } from '../config/schema.js';
import { openAiError } from './errors.js';
import { requestUpstream, type UpstreamResponse } from './upstream-request.js';

/** Where the gateway forwards one family's requests to, resolved: a configured API or the simulated one. */
export interface Upstream {
  /** Base URL including `/v1`, no trailing slash. */
  readonly baseUrl: string;
  readonly apiKey: string | undefined;
  readonly timeoutMs: number;
  /** The built-in simulated upstream (demo mode). */
  readonly simulated: boolean;
}

/** Each API family's upstream; a family without one is not served. */
export type Upstreams = Readonly<Partial<Record<ApiFamily, Upstream>>>;

/**
 * Per family, the request headers a client may send on to the upstream (an allow-list: anything
 * else stays here) and how the upstream's key is sent. Never the client's own key (the gateway
 * key, in `Authorization` or `x-api-key`), nor `OpenAI-Organization` / `OpenAI-Project`: the
 * operator's upstream key decides whose account pays, not the client. Anthropic's version and
 * beta headers choose the API's behaviour, and pass.
 */
const FAMILY_HEADERS: Record<ApiFamily, { readonly forwarded: readonly string[]; readonly key: (key: string) => readonly [string, string] }> = {
  openai: { forwarded: ['accept', 'content-type', 'user-agent', 'openai-beta', 'x-request-id'], key: (key) => ['authorization', `Bearer ${key}`] },
  anthropic: { forwarded: ['accept', 'content-type', 'user-agent', 'anthropic-version', 'anthropic-beta', 'x-request-id'], key: (key) => ['x-api-key', key] },
};

/** Response headers that describe one hop, or the encoding already undone: not passed back. */
const HOP_HEADERS = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length', 'content-encoding', 'proxy-connection', 'upgrade', 'trailer', 'te', 'date', 'server']);

/** The headers to send upstream: the client's allowed ones, and the upstream's own key. */
export function upstreamHeaders(request: FastifyRequest, upstream: Upstream, family: ApiFamily): Record<string, string> {
  const { forwarded, key } = FAMILY_HEADERS[family];
  const headers: Record<string, string> = {};
  for (const name of forwarded) {
    const value = request.headers[name];
    if (typeof value === 'string') headers[name] = value;
  }
  if (upstream.apiKey !== undefined) {
    const [name, value] = key(upstream.apiKey);
    headers[name] = value;
  }
  return headers;
}

/**
 * Starts the reply with the upstream's status and the response headers worth passing back
 * (request ids, processing time, content type), marked when the upstream is the simulated one.
 */
export function replyFrom(reply: FastifyReply, response: UpstreamResponse, upstream: Upstream): FastifyReply {
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(response.headers)) {
    if (value !== undefined && !HOP_HEADERS.has(name)) headers[name] = value;
  }
  reply.code(response.status).headers(headers);
  if (upstream.simulated) reply.header('x-tollgate-upstream', 'simulated');
  return reply;
}

/** Why an upstream call may be given up before it ends. */
export interface Cancellation {
  /** Aborts the call: with an `AbortError` when the client went away, a `TimeoutError` after the upstream's timeout. */
  readonly signal: AbortSignal;
  /** Whether the client went away before its response was complete. */
  readonly clientGone: boolean;
}

/**
 * Cancels the upstream call of one request when the client goes away before its response is
 * complete, or after the upstream's timeout. One controller and one timer per request, the timer
 * cleared as soon as the response closes: `AbortSignal.timeout` would keep its timer and its signal
 * alive for the whole timeout (ten minutes by default) after each call ended, and
 * `AbortSignal.any` would add a third signal per call.
 */
export function cancellation(reply: FastifyReply, timeoutMs: number): Cancellation {
  const controller = new AbortController();
  let gone = false;
  const timer = setTimeout(() => controller.abort(new DOMException('The upstream did not answer in time.', 'TimeoutError')), timeoutMs);
  // Never what keeps the process up: a stopping gateway closes its connections.
  timer.unref();
  reply.raw.once('close', () => {
    clearTimeout(timer);
    if (reply.raw.writableFinished) return;
    gone = true;
    controller.abort();
  });
  return {
    signal: controller.signal,
    get clientGone() {
      return gone;
    },
  };
}

/** Calls the upstream, given up when `cancel` fires (the client went away, or the upstream's timeout passed). */
export function callUpstream(upstream: Upstream, path: string, init: { method: string; headers: Record<string, string>; body?: string | Uint8Array }, cancel: AbortSignal): Promise<UpstreamResponse> {
  // The body is the gateway's own serialization of the (possibly rewritten) request.
  if (init.body !== undefined) init.headers['content-type'] = 'application/json';
  return requestUpstream(`${upstream.baseUrl}${path}`, init, cancel);
}

/** Connection failures: the upstream never received the request, so it billed nothing. */
const NOT_CONNECTED = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT']);

/**
 * Whether an upstream call that failed before its response may have reached the upstream: it
 * timed out, was abandoned, or lost a connection the request went out on. The upstream may then
 * have worked on it and billed it; one that could not be connected to (or whose URL is no HTTP
 * URL) billed nothing.
 */
export function reachedUpstream(error: unknown): boolean {
  const name = (error as Error)?.name;
  if (name === 'TimeoutError' || name === 'AbortError') return true;
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code !== undefined && !NOT_CONNECTED.has(code);
}

/** The answer to a client whose upstream call failed before any response: 504 on timeout, else 502. */
export function upstreamFailure(error: unknown): { status: 502 | 504; body: ReturnType<typeof openAiError> } {
  if ((error as Error)?.name === 'TimeoutError') return { status: 504, body: openAiError('The upstream API did not answer in time.', 'api_error', 'upstream_timeout') };
  return { status: 502, body: openAiError(`The upstream API could not be reached (${(error as Error)?.message ?? String(error)}).`, 'api_error', 'upstream_unreachable') };
}
