/**
 * A proxy and a route that both limit a request: the proxy hands its IETF rate-limit fields to the
 * route in request headers, and the route's response lists the proxy's policies before its own, one
 * item per policy (draft-ietf-httpapi-ratelimit-headers-10 allows several in one field). Next.js
 * sends a header the proxy set on the response instead of the route's, so the proxy's fields travel
 * on the request and only the route writes them.
 */

/** The request header carrying the proxy's `RateLimit` field to the route. */
export const PROXY_RATELIMIT = 'x-tollgate-proxy-ratelimit';
/** The request header carrying the proxy's `RateLimit-Policy` field to the route. */
export const PROXY_RATELIMIT_POLICY = 'x-tollgate-proxy-ratelimit-policy';

/** Longer forwarded fields are ignored: a proxy's few limits fit in far less. */
const MAX_FIELD = 4096;

/**
 * One item as Tollgate writes it: a quoted name, then `;key=integer` or `;key="string"` parameters,
 * then `, ` or the end. Anything else (a client's guess at the syntax) makes the field ignored.
 */
const ITEM = /"([^"\\\x00-\x1f\x7f]{1,256})"((?:;[a-z]{1,8}=(?:\d{1,16}|"[^"\\\x00-\x1f\x7f]{0,64}"))*)(?:, |$)/y;

/** The items of a forwarded field by name, in order; undefined when it is absent or malformed. */
function itemsOf(field: string | null): Map<string, string> | undefined {
  if (field === null || field.length === 0 || field.length > MAX_FIELD) return undefined;
  const items = new Map<string, string>();
  ITEM.lastIndex = 0;
  while (ITEM.lastIndex < field.length) {
    const match = ITEM.exec(field);
    if (match === null) return undefined;
    items.set(match[1]!, `"${match[1]}"${match[2]}`);
  }
  return items;
}

/** The names of the items of a field Tollgate wrote. */
function namesOf(field: string | undefined): Set<string> {
  return new Set(field === undefined ? [] : (itemsOf(field)?.keys() ?? []));
}

/**
 * The request's headers for the route behind a proxy: its own, with the proxy's IETF fields under
 * `PROXY_RATELIMIT*` (any a client sent replaced, or removed when the proxy sends no IETF fields).
 */
export function forwardedHeaders(request: Request, headers: Record<string, string>): Headers {
  const forwarded = new Headers(request.headers);
  forwarded.delete(PROXY_RATELIMIT);
  forwarded.delete(PROXY_RATELIMIT_POLICY);
  const state = headers['ratelimit'];
  const policy = headers['ratelimit-policy'];
  if (state !== undefined && policy !== undefined) {
    forwarded.set(PROXY_RATELIMIT, state);
    forwarded.set(PROXY_RATELIMIT_POLICY, policy);
  }
  return forwarded;
}

/**
 * The route's rate-limit headers with the proxy's policies first, as the proxy forwarded them: an
 * item the route also has (same name) is the route's. Only the IETF fields merge; the other
 * families describe one limit each and stay the route's. A forwarded field that is malformed, or
 * whose two fields do not list the same policies, is ignored.
 */
export function withProxyLimits(headers: Record<string, string>, request: Request): Record<string, string> {
  const state = itemsOf(request.headers.get(PROXY_RATELIMIT));
  const policy = itemsOf(request.headers.get(PROXY_RATELIMIT_POLICY));
  if (state === undefined || policy === undefined || state.size !== policy.size) return headers;
  const own = namesOf(headers['ratelimit-policy']);
  let addedState = '';
  let addedPolicy = '';
  for (const [name, item] of policy) {
    const current = state.get(name);
    if (current === undefined) return headers;
    if (own.has(name)) continue;
    addedState += `${addedState ? ', ' : ''}${current}`;
    addedPolicy += `${addedPolicy ? ', ' : ''}${item}`;
  }
  if (addedState === '') return headers;
  const join = (first: string, second: string | undefined) => (second ? `${first}, ${second}` : first);
  return { ...headers, 'ratelimit-policy': join(addedPolicy, headers['ratelimit-policy']), ratelimit: join(addedState, headers['ratelimit']) };
}
