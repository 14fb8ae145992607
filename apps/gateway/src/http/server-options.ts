import { STATUS_CODES, type ServerOptions } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyServerOptions } from 'fastify';
import type { Listen } from '../config/schema.js';
import { openAiError } from '../proxy/errors.js';

/**
 * The body limit of every route but chat completions (which has `listen.maxBodyBytes`): the admin
 * API's bodies are a few dozen bytes.
 */
export const SMALL_BODY_BYTES = 16 * 1024;

/** The most often Node looks for requests past their timeouts (its default, 30 s, would let one run 30 s over). */
const MAX_CHECK_INTERVAL_MS = 1_000;

/** What a client that broke the HTTP exchange is told, by Node's error code. */
const CLIENT_ERRORS: Record<string, { status: number; message: (listen: Listen) => string; code: string }> = {
  ERR_HTTP_REQUEST_TIMEOUT: { status: 408, message: (l) => `The request did not arrive in time (headers within ${l.headersTimeoutMs} ms, the whole request within ${l.requestTimeoutMs} ms).`, code: 'request_timeout' },
  HPE_HEADER_OVERFLOW: { status: 431, message: () => 'The request headers are too large.', code: 'headers_too_large' },
};
const BAD_REQUEST = { status: 400, message: () => 'The request is not valid HTTP.', code: 'bad_request' };

/**
 * Fastify's options that bound what one client can hold: the time to send the headers and the
 * whole request (a client that trickles its body holds a connection without being in flight), and
 * the body size. Neither timeout touches a response: a stream may take as long as the upstream does.
 */
export function serverOptions(listen: Listen): Pick<FastifyServerOptions, 'requestTimeout' | 'bodyLimit' | 'clientErrorHandler'> & { http: ServerOptions } {
  return {
    requestTimeout: listen.requestTimeoutMs,
    http: { headersTimeout: listen.headersTimeoutMs, connectionsCheckingInterval: Math.min(MAX_CHECK_INTERVAL_MS, Math.ceil(listen.headersTimeoutMs / 4)) },
    bodyLimit: SMALL_BODY_BYTES,
    clientErrorHandler: (error: Error & { code?: string }, socket: Socket) => {
      // A reset connection has nobody left to answer.
      if (error.code === 'ECONNRESET' || socket.destroyed) return;
      const { status, message, code } = CLIENT_ERRORS[error.code ?? ''] ?? BAD_REQUEST;
      const body = JSON.stringify(openAiError(message(listen), 'invalid_request_error', code));
      if (socket.writable) {
        socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
      }
      socket.destroy();
    },
  };
}
