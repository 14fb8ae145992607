import type { Decision } from '../limiter/decision-types.js';
import { rateLimitHeaders, type HeaderFamily } from './headers.js';

/** The JSON body of a refused request: OpenAI's error shape, so OpenAI clients read it as theirs. */
export interface HttpErrorBody {
  error: {
    /** What ran out: the refusing limit's resource (`requests`, `tokens`, …), or `service_unavailable`. */
    type: string;
    /**
     * `rate_limit_exceeded`; `rate_limiter_unavailable` when the store failed and the policy denies;
     * `no_identity` when the request carries nothing any limit keys on.
     */
    code: 'rate_limit_exceeded' | 'rate_limiter_unavailable' | 'no_identity';
    /** For people: which limit, how much is used, when to retry. */
    message: string;
    /** The refusing limit's name (`null` when the store failed). */
    limit: string | null;
    /** Ms until the same request would pass (`null` when it never can). */
    retry_after_ms: number | null;
    /** OpenAI's field, always `null`: kept so clients that read it find it. */
    param: null;
  };
}

/** A response to send instead of running the handler. */
export interface HttpRefusal {
  /**
   * 429 when a limit refused; 503 when the store failed and `onStoreError` denies; 403 when the
   * request's identity matches no limit (an `identify` that ran before authentication, say).
   */
  status: 429 | 503 | 403;
  /** Lowercase header names: the chosen rate-limit families, `Retry-After` and `retry-after-ms`. */
  headers: Record<string, string>;
  body: HttpErrorBody;
}

/**
 * OpenAI's SDKs honour `retry-after-ms` only up to a minute and otherwise retry on their own short
 * backoff: beyond that, tell them not to retry at all (a daily budget will not come back in 2 s).
 */
const CLIENT_RETRY_HORIZON_MS = 60_000;

const seconds = (ms: number) => (Number.isFinite(ms) ? `${Math.ceil(ms / 1000)}s` : 'never');

/** The response for a refused decision: 429 with the refusing limit, or 503 when the store failed. */
export function refusalResponse(decision: Decision, families: readonly HeaderFamily[], now: number): HttpRefusal {
  const headers = rateLimitHeaders(decision, families, now);
  const retryable = decision.retryAfterMs <= CLIENT_RETRY_HORIZON_MS;
  headers['x-should-retry'] = String(retryable);
  if (decision.reason === 'timeout' || decision.reason === 'store-error') {
    return {
      status: 503,
      headers,
      body: {
        error: {
          type: 'service_unavailable',
          code: 'rate_limiter_unavailable',
          message: `The rate limiter could not decide (${decision.reason}); the request was refused. Retry shortly.`,
          limit: null,
          retry_after_ms: decision.retryAfterMs,
          param: null,
        },
      },
    };
  }
  if (decision.reason === 'no-identity') {
    return {
      status: 403,
      headers,
      body: {
        error: {
          type: 'invalid_request_error',
          code: 'no_identity',
          message: 'The request carries no identity that any limit applies to (no user, key or address the policy keys on), so it was refused. Identify the caller first.',
          limit: null,
          retry_after_ms: null,
          param: null,
        },
      },
    };
  }
  const denied = decision.deniedBy[0];
  const what = denied ? `${denied.name} (${denied.resource}): limit ${denied.limit}, used ${denied.used}` : 'a limit';
  const when = Number.isFinite(decision.retryAfterMs) ? `Please try again in ${seconds(decision.retryAfterMs)}.` : 'The request asks for more than the limit allows; it cannot pass.';
  return {
    status: 429,
    headers,
    body: {
      error: {
        type: denied?.resource ?? 'requests',
        code: 'rate_limit_exceeded',
        message: `Rate limit reached on ${what}. ${when}`,
        limit: denied?.name ?? null,
        retry_after_ms: Number.isFinite(decision.retryAfterMs) ? decision.retryAfterMs : null,
        param: null,
      },
    },
  };
}
