import type { TollgateContext } from '@tollgate/core';
import type { NextRouteContext, TollgateRouteContext, WithTollgateOptions } from './options.js';
import { createNextLimit } from './limit.js';
import { releaseWhenSent } from './response.js';

/**
 * Wraps an App Router route handler so that every request is decided with one limiter call first.
 * A refused request gets a 429 (503 when the store failed and the policy denies) with an
 * OpenAI-style JSON body, and the handler does not run. An admitted request runs the handler with
 * `tollgate` (decision, lease, degradation step) added to its context, and its response gets the
 * rate-limit headers. The lease is released when the response body has been sent (a response
 * without a body: as the handler returns), when the body stream errors or the client disconnects
 * mid-stream, and when the handler throws. Give a route its own limits by wrapping it with its own
 * limiter. Uses Web APIs only: the route may run on the Node.js or the edge runtime.
 *
 * @example
 * // app/api/chat/route.ts
 * export const POST = withTollgate(
 *   async (request, { tollgate }) => {
 *     const model = tollgate.degrade?.model ?? 'gpt-4o';
 *     const completion = await callModel(model, await request.json());
 *     await tollgate.lease.record({ model, inputTokens: completion.usage.prompt_tokens, outputTokens: completion.usage.completion_tokens });
 *     return Response.json(completion);
 *   },
 *   {
 *     limiter,
 *     identify: async (request) => ({ user: (await verifySession(request)).userId }),
 *     demand: async (request) => ({ tokens: estimateTokens(await request.clone().json()) }),
 *   },
 * );
 */
export function withTollgate<Req extends Request = Request, Ctx = NextRouteContext>(
  handler: (request: Req, context: TollgateRouteContext<Ctx>) => Response | Promise<Response>,
  options: WithTollgateOptions<Req> & { skip?: undefined },
): (request: Req, context: Ctx) => Promise<Response>;
/**
 * `withTollgate` with a `skip` option: the handler also runs for the requests `skip` lets through,
 * unlimited and uncounted, with `tollgate: null`.
 * @example
 * export const POST = withTollgate(async (request, { tollgate }) => {
 *   if (tollgate) await tollgate.lease.record(usage);
 *   return Response.json(result);
 * }, { limiter, identify, skip: (request) => isInternal(request) });
 */
export function withTollgate<Req extends Request = Request, Ctx = NextRouteContext>(
  handler: (request: Req, context: TollgateRouteContext<Ctx, TollgateContext | null>) => Response | Promise<Response>,
  options: WithTollgateOptions<Req>,
): (request: Req, context: Ctx) => Promise<Response>;
export function withTollgate<Req extends Request, Ctx>(
  handler: (request: Req, context: TollgateRouteContext<Ctx, TollgateContext | null>) => Response | Promise<Response>,
  options: WithTollgateOptions<Req>,
): (request: Req, context: Ctx) => Promise<Response> {
  const decide = createNextLimit(options, 'route');
  return async (request, context) => {
    const admission = await decide(request);
    if (admission.kind === 'refused') return admission.response;
    if (admission.kind === 'skipped') return handler(request, { ...context, tollgate: null });
    const { context: tollgate, headers } = admission;
    try {
      const response = await handler(request, { ...context, tollgate });
      // Inside the try too: a response that cannot be passed on (its body already read) must not
      // keep the lease until its TTL.
      return await releaseWhenSent(response, headers, () => tollgate.release(response.status), request.signal);
    } catch (error) {
      // Next.js answers a handler that throws with a 500.
      await tollgate.release(500);
      throw error;
    }
  };
}
