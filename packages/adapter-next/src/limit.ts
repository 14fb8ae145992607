import { ConfigurationError, createHttpLimit, type Admission } from '@tollgate/core';
import type { NextTollgateOptions } from './options.js';
import { refusalResponse } from './response.js';

const ADAPTER = 'adapter-next';

/** How a request went: core's admission, with a refusal already turned into its `Response`. */
export type NextAdmission = Exclude<Admission, { kind: 'refused' }> | { readonly kind: 'refused'; readonly response: Response };

/**
 * Validates the options once (core's and the adapter's own callbacks) and returns the per-request
 * decision, with the client IP taken only from the app's `ip` option.
 */
export function createNextLimit<Req extends Request>(options: NextTollgateOptions<Req>, callbacks: Record<string, unknown> = {}): (request: Req) => Promise<NextAdmission> {
  const admit = createHttpLimit(options, ADAPTER);
  const { ip, onLimited = refusalResponse } = options;
  // Next.js trusts no client address, so without either every request would match no limit.
  if (options.identify === undefined && ip === undefined) {
    throw new ConfigurationError(`[tollgate] [${ADAPTER}] pass identify (the caller as your app authenticates it) or ip (where a proxy in front of the app puts the client address)`);
  }
  for (const [name, value] of Object.entries({ ip, onLimited, ...callbacks })) {
    if (value !== undefined && typeof value !== 'function') throw new ConfigurationError(`[tollgate] [${ADAPTER}] ${name} must be a function`);
  }
  return async (request) => {
    const admission = await admit(request, ip && (() => ip(request)));
    if (admission.kind !== 'refused') return admission;
    return { kind: 'refused', response: await onLimited(request, { decision: admission.decision, response: admission.response }) };
  };
}
