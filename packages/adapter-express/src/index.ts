export { tollgate } from './tollgate.js';
export type { ExpressTollgateOptions, TollgateRefusal } from './options.js';
export type { TollgateContext } from '@tollgate/core';
