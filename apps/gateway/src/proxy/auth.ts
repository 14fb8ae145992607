import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Caller, LivePolicy } from '../policy.js';
import { openAiError } from './errors.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The caller behind the request's API key; set on every `/v1` request that gets past authentication. */
    caller: Caller | null;
  }
}

/** The token of an `Authorization: Bearer <token>` header. */
export function bearerToken(request: FastifyRequest): string | undefined {
  return /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '')?.[1];
}

/** The API key a client sent: `Authorization: Bearer <key>` (OpenAI's SDKs), or `x-api-key` (Anthropic's). */
export function apiKeyOf(request: FastifyRequest): string | undefined {
  const header = request.headers['x-api-key'];
  return bearerToken(request) ?? (typeof header === 'string' && header !== '' ? header : undefined);
}

/**
 * An `onRequest` hook that admits only API keys the configuration lists, answering others with a
 * 401 (the SDKs raise `AuthenticationError` for it). Nothing is counted for a bad key: there is no
 * caller to count it against.
 */
export function authenticate(policy: LivePolicy) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<unknown> => {
    const key = apiKeyOf(request);
    const caller = key === undefined ? undefined : policy.callerOf(key);
    if (caller) {
      request.caller = caller;
      return undefined;
    }
    const message = key === undefined
      ? 'You didn\'t provide an API key. Send it as "Authorization: Bearer <key>" or "x-api-key: <key>" (the OpenAI and Anthropic SDKs do this with apiKey).'
      : 'Incorrect API key provided. Use a key listed under keys: in the gateway\'s configuration.';
    return reply.code(401).send(openAiError(message, 'invalid_request_error', 'invalid_api_key'));
  };
}
