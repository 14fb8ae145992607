/**
 * For framework adapters: the HTTP conventions every adapter shares. An adapter calls
 * `createHttpLimit` with its framework's hooks (how to read a header, the client IP, when a response
 * closes) and gets one `admit(req)` per request: identity, demand, decision, rate-limit headers,
 * the refusal body, and the lease released when the response finishes.
 *
 * @module @tollgate/core/http
 */
export { createHttpLimit } from './admit.js';
export type { Admission, ClientIp, FrameworkHooks, HttpLimitOptions, HttpWarning, TollgateContext, TollgateRefusal } from './types.js';
export { DEFAULT_HEADER_FAMILIES, rateLimitHeaders } from './headers.js';
export type { HeaderFamily } from './headers.js';
export { ipIdentity } from './ip.js';
export { ReleaseOnClose } from './release-on-close.js';
export { refusalResponse } from './refusal.js';
export type { HttpErrorBody, HttpRefusal } from './refusal.js';
export { ConfigurationError, errorPrefix, InvalidInputError, TollgateError } from '../errors.js';
