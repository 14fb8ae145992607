/**
 * Express middleware (Express 4 and 5): one decision per request, the lease released when the
 * response ends.
 *
 * @module @tollgate/adapter-express
 */
export { tollgate } from './tollgate.js';
export type { ExpressTollgateOptions, TollgateRefusal } from './options.js';
export type { TollgateContext } from '@tollgate/core';
