import type { Demand } from '../pricing/demand.js';
import { ConfigurationError, errorPrefix, InvalidInputError } from '../errors.js';
import type { Identity } from '../policy/identity.js';
import { RELEASED } from '../limiter/lease.js';
import type { ReleaseOptions } from '../limiter/lease-types.js';
import type { AcquireDecision, Limiter } from '../limiter/limiter-types.js';
import { DEFAULT_HEADER_FAMILIES, rateLimitHeaders, type HeaderFamily } from './headers.js';
import { ipIdentity } from './ip.js';
import { acquireNow, isInternalLimiter, scopesUsed } from '../limiter/internal.js';
import { andThen, isPromise, type MaybePromise } from '../util/sync.js';
import { refusalResponse } from './refusal.js';
import type { Admission, ClientIp, FrameworkHooks, HttpLimitOptions, HttpWarning } from './types.js';

const FAMILIES: readonly HeaderFamily[] = ['ietf', 'openai', 'legacy'];
const SKIPPED: Admission = { kind: 'skipped' };

const REFUND_REQUEST: ReleaseOptions = { refundRequests: true };

/** The default `identify`: nothing but the address the adapter adds. */
const NO_FIELDS: Identity = {};
const byAddress = (): Identity => NO_FIELDS;

const warn = (warning: HttpWarning) => console.warn(`${errorPrefix()} ${warning.code}: ${warning.message}`);

function forwardedMessage(adapter: string, hint: string | undefined): string {
  return (
    `[${adapter}] a request carried X-Forwarded-For, but the app does not trust proxies, so ip limits key on the address of whatever ` +
    `connected (behind a proxy, every client shares the proxy's budget). If a proxy is in front of the app, trust it${hint ? ` (${hint})` : ''}; ` +
    'if not, a client sent the header itself and it was rightly ignored. This warning is shown once.'
  );
}

const warnReleaseFailed = (error: unknown) => {
  console.warn(`${errorPrefix()} releasing a lease failed; it will expire by its TTL: ${(error as Error)?.message ?? String(error)}`);
};

/**
 * The framework-neutral part of every adapter: validates the options once, and returns the
 * function an adapter calls per request with the client IP its framework trusts. Its answer is a
 * promise, or the admission itself when everything it calls answers synchronously (an in-process
 * store and synchronous hooks): an adapter that handles both spares each request a few microtask
 * hops. It never throws: errors reject. A promise it returns is a native `Promise`.
 */
export function createHttpLimit<Req>(
  options: HttpLimitOptions<Req>,
  adapter: string,
  framework: FrameworkHooks<Req> = {},
): (req: Req, clientIp: ClientIp) => MaybePromise<Admission> {
  const fail = (message: string): never => {
    throw new ConfigurationError(`${errorPrefix(adapter)} ${message}`);
  };
  const { limiter, identify = byAddress, demand, skip, headers = DEFAULT_HEADER_FAMILIES, ipv6Subnet = 64, lease, onReleaseError = warnReleaseFailed, clock = Date.now, onWarning = warn, refundWhen } =
    options ?? ({} as HttpLimitOptions<Req>);
  if (typeof limiter?.acquire !== 'function') fail('limiter must be a limiter from createLimiter()');
  for (const [name, value] of [['identify', identify], ['demand', demand], ['skip', skip], ['onReleaseError', onReleaseError], ['clock', clock], ['refundWhen', refundWhen]] as const) {
    if (value !== undefined && typeof value !== 'function') fail(`${name} must be a function`);
  }
  if (onWarning !== false && typeof onWarning !== 'function') fail('onWarning must be a function, or false');
  const scopes = isInternalLimiter(limiter) ? limiter[scopesUsed] : undefined;
  if (identify === byAddress && scopes && !scopes.has('ip') && !scopes.has('global')) {
    fail(`identify(req) was left out, so callers are told apart by their IP alone, but no limit keys on ip (scopes: ${[...scopes].join(', ')}); pass identify, e.g. (req) => ({ user: req.user.id })`);
  }
  if (!Array.isArray(headers) || headers.some((family) => !FAMILIES.includes(family))) {
    fail(`headers must be a list of ${FAMILIES.map((f) => `'${f}'`).join(', ')}, got ${JSON.stringify(headers)}`);
  }
  if (!Number.isInteger(ipv6Subnet) || ipv6Subnet < 1 || ipv6Subnet > 128) fail(`ipv6Subnet must be a whole number from 1 to 128, got ${String(ipv6Subnet)}`);
  // A limiter from createLimiter decides synchronously over an in-process store, and says which
  // scopes its limits use; any other Limiter goes through its public, promise-returning API.
  const acquire = isInternalLimiter(limiter)
    ? (identity: Identity, demanded: Demand | undefined) => limiter[acquireNow](identity, demanded, lease)
    : (identity: Identity, demanded: Demand | undefined) => limiter.acquire(identity, demanded, lease);
  const usesIp = !isInternalLimiter(limiter) || (limiter[scopesUsed]?.has('ip') ?? true);
  const { forwardedUntrusted } = framework;
  let forwardedWarned = onWarning === false || forwardedUntrusted === undefined;
  const addressOf = (req: Req, clientIp: ClientIp): string | undefined => {
    if (!forwardedWarned && forwardedUntrusted!(req)) {
      forwardedWarned = true;
      (onWarning as (warning: HttpWarning) => void)({ code: 'TOLLGATE_FORWARDED_UNTRUSTED', message: forwardedMessage(adapter, framework.trustProxyHint) });
    }
    return typeof clientIp === 'function' ? clientIp() : clientIp;
  };

  const admitted = (decision: AcquireDecision): Admission => {
    if (!decision.allowed) return { kind: 'refused', decision, response: refusalResponse(decision, headers, clock()) };
    const release = (status?: number) => {
      const released = decision.lease.release(status !== undefined && refundWhen?.(status) ? REFUND_REQUEST : undefined);
      // Released at once (an in-process store): nothing can fail any more.
      if (released === RELEASED) return released;
      return released.catch((error: unknown) => {
        try {
          onReleaseError(error);
        } catch {
          // A failing error handler must not become an unhandled rejection: adapters release with `void`.
        }
      });
    };
    return {
      kind: 'allowed',
      headers: rateLimitHeaders(decision, headers, clock()),
      context: { decision, lease: decision.lease, degrade: decision.degrade, release },
    };
  };
  // The steps of one request, each going on at once when what it called answered synchronously (the
  // usual case: an in-process store and synchronous hooks), and through the promise otherwise. Plain
  // functions rather than a chain of callbacks, so a synchronous request allocates none of them.
  const decideFor = (req: Req, identity: Identity, demanded: Demand | undefined, clientIp: ClientIp): MaybePromise<Admission> => {
    if (typeof identity !== 'object' || identity === null) {
      throw new InvalidInputError(`${errorPrefix(adapter)} identify(req) must return an identity object such as { user: 'u1' }, got ${String(identity)}`);
    }
    // An ip from identify() wins (null leaves the IP scope out); either way it is grouped like the framework's.
    const ip = identity.ip !== undefined ? identity.ip : usesIp ? addressOf(req, clientIp) : undefined;
    const decision = acquire(ip ? { ...identity, ip: ipIdentity(ip, ipv6Subnet) } : identity, demanded);
    return isPromise(decision) ? decision.then(admitted) : admitted(decision);
  };
  const demandFor = (req: Req, identity: Identity, clientIp: ClientIp): MaybePromise<Admission> => {
    const demanded = demand?.(req);
    return isPromise(demanded) ? demanded.then((settled) => decideFor(req, identity, settled, clientIp)) : decideFor(req, identity, demanded, clientIp);
  };
  const decide = (req: Req, clientIp: ClientIp): MaybePromise<Admission> => {
    const identity = identify(req);
    return isPromise(identity) ? identity.then((settled) => demandFor(req, settled, clientIp)) : demandFor(req, identity, clientIp);
  };
  return (req, clientIp) => {
    let admission: MaybePromise<Admission>;
    try {
      admission = skip ? andThen(skip(req), (skipped) => (skipped ? SKIPPED : decide(req, clientIp))) : decide(req, clientIp);
    } catch (error) {
      return Promise.reject(error);
    }
    // Hooks may return any thenable: hand adapters a native promise, which `instanceof` can tell.
    return isPromise(admission) && !(admission instanceof Promise) ? Promise.resolve(admission) : admission;
  };
}
