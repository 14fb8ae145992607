export { tollgate } from './plugin.js';
export type { FastifyTollgateOptions, TollgateHook, TollgateRefusal, TollgateRouteConfig } from './options.js';
export type { TollgateContext } from '@tollgate/core';
