import { ConfigurationError, createHttpLimit, errorPrefix, type Admission } from '@tollgate/core';
import { withProxyLimits } from './layers.js';
import type { NextTollgateOptions } from './options.js';
import { refusalResponse } from './response.js';

const ADAPTER = 'adapter-next';

/** How a request went: core's admission, with a refusal already turned into its `Response`. */
export type NextAdmission = Exclude<Admission, { kind: 'refused' }> | { readonly kind: 'refused'; readonly response: Response };

/**
 * Validates the options once (core's and the adapter's own callbacks) and returns the per-request
 * decision, with the client IP taken only from the app's `ip` option. A `route` behind a proxy lists
 * the policies the proxy forwarded in its IETF headers, on admissions and refusals alike.
 */
export function createNextLimit<Req extends Request>(options: NextTollgateOptions<Req>, layer: 'proxy' | 'route', callbacks: Record<string, unknown> = {}): (request: Req) => Promise<NextAdmission> {
  const admit = createHttpLimit(options, ADAPTER);
  const { ip, onLimited = refusalResponse } = options;
  // Next.js trusts no client address, so without either every request would match no limit.
  if (options.identify === undefined && ip === undefined) {
    throw new ConfigurationError(`${errorPrefix(ADAPTER)} pass identify (the caller as your app authenticates it) or ip (where a proxy in front of the app puts the client address)`);
  }
  for (const [name, value] of Object.entries({ ip, onLimited, ...callbacks })) {
    if (value !== undefined && typeof value !== 'function') throw new ConfigurationError(`${errorPrefix(ADAPTER)} ${name} must be a function`);
  }
  // The route's own choice of header families holds: without 'ietf', it sends no proxy policies either.
  const merge = layer === 'route' && (options.headers ?? ['ietf']).includes('ietf');
  return async (request) => {
    const admission = await admit(request, ip && (() => ip(request)));
    if (admission.kind === 'skipped') return admission;
    if (admission.kind === 'allowed') return merge ? { ...admission, headers: withProxyLimits(admission.headers, request) } : admission;
    const response = merge ? { ...admission.response, headers: withProxyLimits(admission.response.headers, request) } : admission.response;
    return { kind: 'refused', response: await onLimited(request, { decision: admission.decision, response }) };
  };
}
