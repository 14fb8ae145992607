import type { TollgateProxyOptions } from './options.js';
import { forwardedHeaders } from './layers.js';
import { createNextLimit } from './limit.js';

/**
 * The limiter in `proxy.ts` (Next.js 16's name for middleware), deciding before any route runs: a
 * refused request gets a 429 (503 when the store failed and the policy denies) and never reaches
 * its route; an admitted one continues (see `onAllowed` to send the rate-limit headers with it).
 * A proxy cannot hold a lease across the route, so the lease is released at once: request limits
 * count every request; a token or cost `demand` is checked (refused when it does not fit) and then
 * refunded, since the proxy never sees the actual usage; concurrency limits only count decisions in
 * progress. Record usage and hold concurrency slots in route handlers, with `withTollgate`.
 *
 * @example
 * // proxy.ts
 * export const proxy = tollgateProxy({ limiter, identify: (request) => ({ apiKey: apiKeyOf(request) }) });
 * export const config = { matcher: '/api/:path*' };
 */
export function tollgateProxy<Req extends Request = Request>(options: TollgateProxyOptions<Req>): (request: Req) => Promise<Response | undefined> {
  const { onAllowed } = options;
  const decide = createNextLimit(options, 'proxy', { onAllowed });
  return async (request) => {
    const admission = await decide(request);
    if (admission.kind === 'skipped') return undefined;
    if (admission.kind === 'refused') return admission.response;
    await admission.context.release();
    const { headers } = admission;
    return onAllowed?.(request, {
      decision: admission.context.decision,
      headers,
      get requestHeaders() {
        return forwardedHeaders(request, headers);
      },
    });
  };
}
