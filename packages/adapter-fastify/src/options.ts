import type { HttpLimitOptions, TollgateContext, TollgateRefusal } from '@tollgate/core';
import type { FastifyReply, FastifyRequest } from 'fastify';

/** The Fastify lifecycle hook in which the limiter decides. */
export type TollgateHook = 'onRequest' | 'preHandler';

/**
 * Options of the `tollgate` plugin: core's shared HTTP options with Fastify's request, plus where
 * in the lifecycle to decide and how to answer a refused request.
 */
export interface FastifyTollgateOptions extends HttpLimitOptions<FastifyRequest> {
  /**
   * The hook in which the limiter decides. `'onRequest'` decides before the body is read, so a
   * refused request costs no parsing; but `request.body` is still `undefined` there. Choose
   * `'preHandler'` when `demand` (or `identify`) reads the parsed body, e.g. to estimate tokens
   * from the messages. Either way the plugin's hook runs after the hooks your app added to the same
   * phase (authentication included), so `identify` sees what they set.
   * @default 'onRequest'
   * @example
   * { hook: 'preHandler', demand: (request) => ({ tokens: estimateTokens(request.body) }) }
   */
  hook?: TollgateHook;
  /**
   * Answers a refused request instead of the default, which sends `refusal.response` as it is: its
   * status, its headers and its JSON body. It behaves like an async route handler: send the reply
   * and return it (`return reply.code(429).send(...)`), or return the payload to send. A thrown
   * error goes to Fastify's error handler. The route's handler never runs for a refused request.
   * @default sends `refusal.response`
   * @example
   * onLimited: (request, reply, { response }) =>
   *   reply.code(response.status).headers(response.headers).send({ message: 'Slow down' })
   */
  onLimited?(request: FastifyRequest, reply: FastifyReply, refusal: TollgateRefusal): unknown;
}

/**
 * A route's `config.tollgate`: `false` leaves the route unlimited; an object overrides the plugin's
 * options for this route (any of them, e.g. a limiter and a demand of its own).
 * @example
 * app.post('/v1/images', { config: { tollgate: { limiter: imageLimiter } } }, handler)
 */
export type TollgateRouteConfig = false | Partial<FastifyTollgateOptions>;

declare module 'fastify' {
  interface FastifyRequest {
    /**
     * Set by the `tollgate` plugin on an admitted request: the decision, the lease to record LLM
     * usage on, and the degradation step. `null` on skipped requests and on `tollgate: false`
     * routes; absent on routes outside the context the plugin is registered in.
     */
    tollgate: TollgateContext | null;
  }
  interface FastifyContextConfig {
    /** Per-route Tollgate options: `false` for none, or overrides of the plugin's options. */
    tollgate?: TollgateRouteConfig;
  }
}

export type { TollgateRefusal };
