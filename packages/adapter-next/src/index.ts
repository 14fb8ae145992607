/**
 * Next.js route handlers (`withTollgate`) and `proxy.ts` (`tollgateProxy`), on Web APIs only.
 *
 * @module @tollgate/adapter-next
 */
export { withTollgate } from './route.js';
export { tollgateProxy } from './proxy.js';
export type {
  NextRouteContext,
  NextTollgateOptions,
  TollgateProxyAdmission,
  TollgateProxyOptions,
  TollgateRefusal,
  TollgateRouteContext,
  WithTollgateOptions,
} from './options.js';
export type { TollgateContext } from '@tollgate/core';
