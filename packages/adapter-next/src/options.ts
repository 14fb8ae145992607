import type { AcquireDecision, HttpLimitOptions, TollgateContext, TollgateRefusal } from '@tollgate/core';

/**
 * Options shared by `withTollgate` and `tollgateProxy`: core's HTTP options with the Web `Request`
 * (or `NextRequest`), plus where the client IP comes from and how to answer a refused request.
 */
export interface NextTollgateOptions<Req extends Request = Request> extends HttpLimitOptions<Req> {
  /**
   * The client IP, for limits scoped to `ip`. Next.js (since 15) has no trusted-proxy setting, no
   * `request.ip`, and an `X-Forwarded-For` a client sends reaches the app unchanged, so by default
   * no IP is used and `ip`-scoped limits do not apply. Read a header only where a proxy in front of
   * the app overwrites it with the address it saw (Vercel sets `x-real-ip`; nginx with
   * `proxy_set_header X-Real-IP $remote_addr`): elsewhere a client could pick a fresh identity per
   * request. IPv6 addresses are grouped by `ipv6Subnet`.
   * @default none: no `ip` scope
   * @example ip: (request) => request.headers.get('x-real-ip') ?? undefined // behind Vercel
   */
  ip?(request: Req): string | undefined;
  /**
   * Answers a refused request instead of the default, which responds with `refusal.response` as it
   * is: its status, its headers and its JSON body. The route handler never runs for a refused request.
   * @default `Response.json(refusal.response.body, { status, headers })`
   * @example
   * onLimited: (request, { response }) =>
   *   Response.json({ message: 'Slow down' }, { status: response.status, headers: response.headers })
   */
  onLimited?(request: Req, refusal: TollgateRefusal): Response | Promise<Response>;
}

/** Options of `withTollgate`: the shared options, for one route handler. */
export type WithTollgateOptions<Req extends Request = Request> = NextTollgateOptions<Req>;

/** An admitted request, as `tollgateProxy`'s `onAllowed` receives it. */
export interface TollgateProxyAdmission {
  /** The decision that admitted the request (its lease is already released). */
  readonly decision: AcquireDecision & { allowed: true };
  /** The rate-limit headers describing the decision (lowercase names), for the response. */
  readonly headers: Record<string, string>;
  /**
   * The request's headers plus the proxy's `RateLimit` and `RateLimit-Policy` fields (replacing any
   * a client sent), for a route wrapped with `withTollgate`: continue with
   * `NextResponse.next({ request: { headers: requestHeaders } })` and the route's responses, its
   * refusals included, list the proxy's policies before its own.
   */
  readonly requestHeaders: Headers;
}

/** Options of `tollgateProxy`: the shared options, plus what an admitted request continues with. */
export interface TollgateProxyOptions<Req extends Request = Request> extends NextTollgateOptions<Req> {
  /**
   * What the proxy returns for an admitted request. By default it returns nothing, which lets the
   * request continue to its route without the proxy's rate-limit headers. To send them, continue
   * with `NextResponse.next(...)` (import it in your `proxy.ts`: this package does not load `next`
   * at runtime): to a route wrapped with `withTollgate`, with `{ request: { headers: requestHeaders } }`,
   * so that the route's headers list the proxy's limits with its own; to any other route, with
   * `{ headers }`, Next's way for a proxy to add response headers. Never send `{ headers }` to a
   * `withTollgate` route: for a header both set, Next.js sends the proxy's value, and the route's
   * responses, its 429s included, would describe only the proxy's limits.
   * @default returns `undefined`: the request continues without the headers
   * @example
   * onAllowed: (request, { headers, requestHeaders }) =>
   *   request.nextUrl.pathname.startsWith('/api/chat') // routes wrapped with withTollgate
   *     ? NextResponse.next({ request: { headers: requestHeaders } })
   *     : NextResponse.next({ headers })
   */
  onAllowed?(request: Req, admission: TollgateProxyAdmission): Response | undefined | Promise<Response | undefined>;
}

/**
 * What the route handler wrapped by `withTollgate` receives as its second argument: the route's
 * context from Next.js plus `tollgate`.
 * @example
 * withTollgate(async (request, context: TollgateRouteContext<RouteContext<'/api/chats/[id]'>>) => {
 *   const { id } = await context.params;
 *   await context.tollgate.lease.record(usage);
 * }, options)
 */
export type TollgateRouteContext<Ctx, Tollgate extends TollgateContext | null = TollgateContext> = Ctx & {
  /**
   * The admitted request's decision, lease (record each LLM call's usage on it) and degradation
   * step. `null` on requests that `skip` let through (typed nullable only when `skip` is set).
   */
  readonly tollgate: Tollgate;
};

/**
 * The context Next.js passes to an App Router route handler, as `withTollgate` types it unless the
 * handler annotates its own: for typed params, annotate the context as
 * `TollgateRouteContext<RouteContext<'/api/users/[id]'>>` (Next's generated `RouteContext`).
 */
export interface NextRouteContext {
  /** The dynamic segments' values. */
  params: Promise<Record<string, string | string[] | undefined>>;
}

export type { TollgateRefusal };
