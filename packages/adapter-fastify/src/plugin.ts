import { ConfigurationError, errorPrefix } from '@tollgate/core';
import type { FastifyPluginAsync, RouteOptions } from 'fastify';
import fp from 'fastify-plugin';
import { ADAPTER, routeLimit, type RouteLimit } from './hook.js';
import type { FastifyTollgateOptions } from './options.js';

/** Marks a route whose `config.tollgate` one registration has applied already. */
const OVERRIDDEN = Symbol('tollgate.overridden');

const routeName = (route: RouteOptions) => `${[route.method].flat().join(',')} ${route.url}`;

const tollgatePlugin: FastifyPluginAsync<FastifyTollgateOptions> = async (fastify, options) => {
  // Validated now, so a malformed plugin option fails `register`, not the first request.
  const defaults = routeLimit(options);
  // One limit per distinct `config.tollgate` object: Fastify passes the same one for a GET route
  // and the HEAD route it adds, and an app may share one config between routes.
  const overrides = new WeakMap<object, RouteLimit>();

  // Registered again in a child context (another limiter there), the decorator already exists.
  if (!fastify.hasRequestDecorator('tollgate')) fastify.decorateRequest('tollgate', null);

  fastify.addHook('onRoute', (route) => {
    const config = route.config?.tollgate;
    if (config === false) return;
    let limit = defaults;
    if (config !== undefined) {
      // Registered at two levels, both registrations see the route: its own options must apply
      // once (with the outermost registration's, which sees it first), not once per registration.
      if ((route as RouteOptions & { [OVERRIDDEN]?: true })[OVERRIDDEN]) return;
      (route as RouteOptions & { [OVERRIDDEN]?: true })[OVERRIDDEN] = true;
      if (config === null || typeof config !== 'object') {
        throw new ConfigurationError(`${errorPrefix(ADAPTER)} ${routeName(route)}: config.tollgate must be false or an object of options, got ${JSON.stringify(config)}`);
      }
      limit = overrides.get(config) ?? withRoute(route, () => routeLimit({ ...options, ...config }));
      overrides.set(config, limit);
    }
    // A route-level hook runs after the context's hooks of the same phase (authentication
    // included), and after the route's own, so `identify` sees what they set.
    if (limit.phase === 'onRequest') route.onRequest = [...[route.onRequest ?? []].flat(), limit.hook];
    else route.preHandler = [...[route.preHandler ?? []].flat(), limit.hook];
  });
};

/** Names the route in a configuration error about its `config.tollgate`. */
function withRoute(route: RouteOptions, build: () => RouteLimit): RouteLimit {
  try {
    return build();
  } catch (error) {
    if (!(error instanceof ConfigurationError)) throw error;
    throw new ConfigurationError(`${error.message} (in config.tollgate of ${routeName(route)})`, { cause: error });
  }
}

/**
 * Fastify plugin (Fastify 5) that decides on every request to the routes of the context it is
 * registered in with one limiter call. An admitted request goes on with the rate-limit headers set
 * and `request.tollgate` holding its decision and lease; a refused one gets a 429 (503 when the
 * store failed and the policy denies). The lease is released when the response closes: after it
 * is sent, after an error response, or when the client goes away mid-stream. Errors from
 * `identify`, `demand` or `skip` go to Fastify's error handler.
 *
 * It applies to routes declared after it is registered: `await app.register(tollgate, ...)` first.
 * A route's `config.tollgate` overrides the options for that route, or is `false` to leave it
 * unlimited; each route's options are validated when the route is declared.
 *
 * @example
 * await app.register(tollgate, { limiter, identify: (request) => ({ user: request.user.id }) });
 * app.post('/v1/chat', { config: { tollgate: { limiter: chatLimiter, demand: () => ({ tokens: 2000 }) } } }, async (request) => {
 *   const { lease, degrade } = request.tollgate!;
 *   // ... call the model named by degrade?.model, then:
 *   await lease.record({ model, inputTokens, outputTokens });
 *   return completion;
 * });
 * app.get('/health', { config: { tollgate: false } }, async () => ({ ok: true }));
 */
export const tollgate = fp(tollgatePlugin, { fastify: '5.x', name: '@tollgate/adapter-fastify' });
