import type { FastifyReply, FastifyRequest } from 'fastify';
import { openAiError } from './errors.js';

/** Where the gateway forwards to, resolved: the configured API or the simulated one. */
export interface Upstream {
  /** Base URL including `/v1`, no trailing slash. */
  readonly baseUrl: string;
  readonly apiKey: string | undefined;
  readonly timeoutMs: number;
  /** The built-in simulated upstream (demo mode). */
  readonly simulated: boolean;
}

/**
 * The request headers a client may send on to the upstream (an allow-list: anything else stays
 * here). Never its `Authorization` (the gateway key), nor `OpenAI-Organization` / `OpenAI-Project`:
 * the operator's upstream key decides whose account pays, not the client.
 */
const FORWARDED_REQUEST_HEADERS = ['accept', 'content-type', 'user-agent', 'openai-beta', 'x-request-id'];

/** Response headers that describe one hop, or the encoding fetch has already undone: not passed back. */
const HOP_HEADERS = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length', 'content-encoding', 'proxy-connection', 'upgrade', 'trailer', 'te', 'date', 'server']);

/** The headers to send upstream: the client's allowed ones, and the upstream's own key. */
export function upstreamHeaders(request: FastifyRequest, upstream: Upstream): Headers {
  const headers = new Headers();
  for (const name of FORWARDED_REQUEST_HEADERS) {
    const value = request.headers[name];
    if (typeof value === 'string') headers.set(name, value);
  }
  if (upstream.apiKey !== undefined) headers.set('authorization', `Bearer ${upstream.apiKey}`);
  return headers;
}

/**
 * Starts the reply with the upstream's status and the response headers worth passing back
 * (request ids, processing time, content type), marked when the upstream is the simulated one.
 */
export function replyFrom(reply: FastifyReply, response: Response, upstream: Upstream): FastifyReply {
  const headers: Record<string, string> = {};
  response.headers.forEach((value, name) => {
    if (!HOP_HEADERS.has(name)) headers[name] = value;
  });
  reply.code(response.status).headers(headers);
  if (upstream.simulated) reply.header('x-tollgate-upstream', 'simulated');
  return reply;
}

/** Fires when the client goes away before its response is complete: the upstream call is then abandoned. */
export function clientGone(reply: FastifyReply): AbortSignal {
  const gone = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) gone.abort();
  });
  return gone.signal;
}

/**
 * Calls the upstream. The call is abandoned when `abandon` fires (the client went away) or after
 * the upstream's timeout.
 */
export function callUpstream(upstream: Upstream, path: string, init: { method: string; headers: Headers; body?: string }, abandon: AbortSignal): Promise<Response> {
  // The body is the gateway's own serialization of the (possibly rewritten) request.
  if (init.body !== undefined) init.headers.set('content-type', 'application/json');
  return fetch(`${upstream.baseUrl}${path}`, { ...init, signal: AbortSignal.any([abandon, AbortSignal.timeout(upstream.timeoutMs)]) });
}

/** Connection failures: the upstream never received the request, so it billed nothing. */
const NOT_CONNECTED = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT']);

/**
 * Whether an upstream call that failed before its response may have reached the upstream: it
 * timed out, was abandoned, or lost a connection the request went out on. The upstream may then
 * have worked on it and billed it; one that could not be connected to (or a URL fetch refuses)
 * billed nothing.
 */
export function reachedUpstream(error: unknown): boolean {
  const name = (error as Error)?.name;
  if (name === 'TimeoutError' || name === 'AbortError') return true;
  const code = ((error as Error)?.cause as NodeJS.ErrnoException | undefined)?.code;
  return code !== undefined && !NOT_CONNECTED.has(code);
}

/** The answer to a client whose upstream call failed before any response: 504 on timeout, else 502. */
export function upstreamFailure(error: unknown): { status: 502 | 504; body: ReturnType<typeof openAiError> } {
  if ((error as Error)?.name === 'TimeoutError') return { status: 504, body: openAiError('The upstream API did not answer in time.', 'api_error', 'upstream_timeout') };
  return { status: 502, body: openAiError(`The upstream API could not be reached (${(error as Error)?.message ?? String(error)}).`, 'api_error', 'upstream_unreachable') };
}
