/**
 * A Fastify 5 plugin with per-route config: one decision per request, the lease released when the
 * reply ends.
 *
 * @module @tollgate/adapter-fastify
 */
export { tollgate } from './plugin.js';
export type { FastifyTollgateOptions, TollgateHook, TollgateRefusal, TollgateRouteConfig } from './options.js';
export type { TollgateContext } from '@tollgate/core';
