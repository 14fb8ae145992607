import { CONCURRENCY_RETRY_MS } from '../limiter/decision.js';
import type { Decision, LimitState } from '../limiter/decision-types.js';
import type { Resource } from '../policy/limits.js';

/**
 * Families of rate-limit response headers:
 * - `'ietf'`: `RateLimit-Policy` and `RateLimit` of draft-ietf-httpapi-ratelimit-headers-10, one item
 *   per limit (`"rpm";q=20;w=60` and `"rpm";r=7;t=41`).
 * - `'openai'`: `x-ratelimit-{limit,remaining,reset}-{requests,tokens}` in OpenAI's format, for the
 *   most restrictive request limit and token limit; on a refusing limit, the reset is when the
 *   refused demand would pass (what a client should wait), not when the limit is empty again.
 * - `'legacy'`: `X-RateLimit-Limit`, `-Remaining` and `-Reset` (epoch seconds) of the most
 *   restrictive request limit, for clients written against GitHub-style headers.
 */
export type HeaderFamily = 'ietf' | 'openai' | 'legacy';

/** The families sent unless the app chooses: the IETF draft; the others are opt-in. */
export const DEFAULT_HEADER_FAMILIES: readonly HeaderFamily[] = ['ietf'];

/**
 * Draft-10 quota units: requests are the default and `concurrent-requests` is registered; tokens,
 * USD cents and tool calls have no registered unit, so they are named plainly (a client that does not
 * know a unit can skip that item).
 */
const QUOTA_UNITS: Record<Resource, string | undefined> = {
  requests: undefined,
  concurrency: 'concurrent-requests',
  tokens: 'tokens',
  cost: 'usd-cents',
  toolCalls: 'tool-calls',
};

/** Whole quota units: header values are integers, and cost limits count in USD cents. */
const units = (state: LimitState, amount: number) => Math.floor(state.resource === 'cost' ? amount * 100 + 1e-9 : amount);

/**
 * Seconds until a limit frees up: for a refusing limit, until the refused demand would pass (as
 * `Retry-After`); for a concurrency limit, no later than a slot is likely to free.
 */
function resetSeconds(state: LimitState, now: number): number | undefined {
  let ms = state.retryAfterMs ?? Math.max(0, state.resetAt - now);
  if (state.resource === 'concurrency') ms = Math.min(ms, CONCURRENCY_RETRY_MS);
  return Number.isFinite(ms) ? Math.ceil(ms / 1000) : undefined;
}

/** The limit of one resource with the least left (the one a client will hit first). */
function tightest(limits: readonly LimitState[], resource: Resource): LimitState | undefined {
  let best: LimitState | undefined;
  for (const state of limits) {
    if (state.resource !== resource) continue;
    if (!best || state.remaining < best.remaining || (state.remaining === best.remaining && state.resetAt > best.resetAt)) best = state;
  }
  return best;
}

/** OpenAI's duration style: `20ms`, `1s`, `6m0s`, `1h2m3s`. */
function openAiDuration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.ceil(ms))}ms`;
  const total = Math.ceil(ms / 1000);
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = total % 60;
  return `${hours ? `${hours}h` : ''}${hours || minutes ? `${minutes}m` : ''}${seconds}s`;
}

/**
 * The rate-limit headers describing a decision, for the chosen families, plus `Retry-After`
 * (seconds) and `retry-after-ms` on a refusal. `now` is epoch ms (the limits' `resetAt` is too).
 * Header names are lowercase.
 */
export function rateLimitHeaders(decision: Decision, families: readonly HeaderFamily[], now: number): Record<string, string> {
  const headers: Record<string, string> = {};
  const { limits } = decision;
  if (limits.length > 0 && families.includes('ietf')) {
    // Built by concatenation, item by item: these two run on every admitted request.
    let policy = '';
    let state = '';
    for (let i = 0; i < limits.length; i++) {
      const limit = limits[i]!;
      const separator = i === 0 ? '' : ', ';
      const unit = QUOTA_UNITS[limit.resource];
      policy += `${separator}"${limit.name}";q=${units(limit, limit.limit)}`;
      if (unit !== undefined) policy += `;qu="${unit}"`;
      if (limit.windowMs !== undefined) policy += `;w=${Math.ceil(limit.windowMs / 1000)}`;
      const reset = resetSeconds(limit, now);
      state += `${separator}"${limit.name}";r=${units(limit, limit.remaining)}`;
      if (reset !== undefined) state += `;t=${reset}`;
    }
    headers['ratelimit-policy'] = policy;
    headers['ratelimit'] = state;
  }
  if (families.includes('openai')) {
    for (const [resource, suffix] of [['requests', 'requests'], ['tokens', 'tokens']] as const) {
      const state = tightest(limits, resource);
      if (!state) continue;
      headers[`x-ratelimit-limit-${suffix}`] = String(units(state, state.limit));
      headers[`x-ratelimit-remaining-${suffix}`] = String(units(state, state.remaining));
      const resetMs = state.retryAfterMs ?? Math.max(0, state.resetAt - now);
      if (Number.isFinite(resetMs)) headers[`x-ratelimit-reset-${suffix}`] = openAiDuration(resetMs);
    }
  }
  if (families.includes('legacy')) {
    const state = tightest(limits, 'requests');
    if (state) {
      headers['x-ratelimit-limit'] = String(units(state, state.limit));
      headers['x-ratelimit-remaining'] = String(units(state, state.remaining));
      const resetAt = Math.max(state.resetAt, now + (state.retryAfterMs ?? 0));
      if (Number.isFinite(resetAt)) headers['x-ratelimit-reset'] = String(Math.ceil(resetAt / 1000));
    }
  }
  if (!decision.allowed && Number.isFinite(decision.retryAfterMs)) {
    headers['retry-after'] = String(Math.ceil(decision.retryAfterMs / 1000));
    headers['retry-after-ms'] = String(decision.retryAfterMs);
  }
  return headers;
}
