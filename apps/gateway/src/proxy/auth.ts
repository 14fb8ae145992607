import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ApiKeys } from '../keys/api-keys.js';
import type { Caller, LivePolicy } from '../policy.js';
import { openAiError } from './errors.js';
import { FailedAuthentications } from './failed-authentications.js';

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
 * An `onRequest` hook that admits only the configuration's API keys and those issued through the
 * admin API (in force: not revoked, not expired), answering others with a 401 (the SDKs raise
 * `AuthenticationError` for it), or a 503 when the issued keys cannot be read. Nothing is counted
 * for a bad key: there is no caller to count it against. An address whose keys failed
 * `MAX_FAILED_AUTHENTICATIONS` times this minute gets a 429 for a key that would need a read of
 * the store (the file's keys, and issued keys looked up within the last second, still pass).
 */
export function authenticate(policy: LivePolicy, keys: ApiKeys) {
  const failures = new FailedAuthentications();
  return async (request: FastifyRequest, reply: FastifyReply): Promise<unknown> => {
    const key = apiKeyOf(request);
    const waitMs = key === undefined ? 0 : failures.retryAfterMs(request.ip);
    let caller: Caller | undefined;
    try {
      caller = key === undefined ? undefined : (policy.callerOf(key) ?? (await issuedCaller(policy, keys, key, waitMs === 0)));
    } catch (error) {
      request.log.error({ err: error }, 'reading the issued API keys failed');
      return reply.code(503).send(openAiError('The gateway could not check the API key: its store failed. Retry shortly.', 'api_error', 'store_unavailable'));
    }
    if (caller) {
      request.caller = caller;
      return undefined;
    }
    if (waitMs > 0) {
      const seconds = Math.ceil(waitMs / 1000);
      return reply
        .code(429)
        .header('retry-after', String(seconds))
        .send(openAiError(`Too many unknown API keys came from this address: keys are not looked up for it for ${seconds} s. Check the key your client sends.`, 'invalid_request_error', 'too_many_failed_authentications'));
    }
    if (key !== undefined) failures.failed(request.ip);
    const message = key === undefined
      ? 'You didn\'t provide an API key. Send it as "Authorization: Bearer <key>" or "x-api-key: <key>" (the OpenAI and Anthropic SDKs do this with apiKey).'
      : 'Incorrect API key provided: it is unknown, revoked or expired. Use a key listed under keys: in the gateway\'s configuration, or one its admin API issued.';
    return reply.code(401).send(openAiError(message, 'invalid_request_error', 'invalid_api_key'));
  };
}

/** The caller behind an issued key in force, while its user is still in the configuration; with `read` false, only if its lookup is remembered. */
async function issuedCaller(policy: LivePolicy, keys: ApiKeys, secret: string, read: boolean): Promise<Caller | undefined> {
  const issued = await keys.find(secret, read);
  if (issued === undefined || !policy.config.users.has(issued.user)) return undefined;
  return { ...policy.callerFor(issued.user, issued.name), ...(issued.models && { models: issued.models }) };
}
