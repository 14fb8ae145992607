import type { DegradeStep } from '../policy/degrade.js';
import type { Demand } from '../pricing/demand.js';
import type { Identity } from '../policy/identity.js';
import type { Lease } from '../limiter/lease-types.js';
import type { AcquireDecision, AcquireOptions, Limiter } from '../limiter/limiter-types.js';
import type { HeaderFamily } from './headers.js';
import type { HttpRefusal } from './refusal.js';

/** What every framework adapter takes: how to find the caller and the demand, and what to send. */
export interface HttpLimitOptions<Req> {
  /** The limiter that decides for these routes (a route with other limits takes another limiter). */
  limiter: Limiter;
  /**
   * Who is calling: the app's authenticated user, API key or session, from the request as the app
   * has verified it (nothing a client sends, such as an `X-User-ID` header, can be trusted by
   * default). The adapter adds `ip` from the framework's trusted-proxy logic unless this returns one
   * (grouped the same way: IPv6 by `ipv6Subnet`), or `ip: null` to leave the IP scope out.
   * @default the client IP alone, as the framework resolves it (the limits must key on `ip`)
   * @example (req) => ({ user: req.auth.userId, apiKey: req.auth.keyId })
   */
  identify?(req: Req): Identity | Promise<Identity>;
  /**
   * What the request will use, estimated before the handler runs: tokens, cost, model. The lease
   * reserves it, and the handler records the actual usage.
   * @default one request
   * @example (req) => ({ tokens: estimateTokens(req.body), model: req.body.model })
   */
  demand?(req: Req): Demand | undefined | Promise<Demand | undefined>;
  /**
   * Requests to let through unlimited and uncounted (health checks, an allow-list).
   * @default none
   */
  skip?(req: Req): boolean | Promise<boolean>;
  /**
   * Which rate-limit header families to send; `[]` sends none (`Retry-After` and `retry-after-ms`
   * still go with a refusal). Add `'openai'` for clients written against OpenAI's headers.
   * @default ['ietf']
   */
  headers?: readonly HeaderFamily[];
  /**
   * The IPv6 prefix length that identifies one client: one user usually holds a whole /64.
   * @default 64
   */
  ipv6Subnet?: number;
  /** Lease options for these routes (TTL, caps on LLM calls and tool calls). */
  lease?: AcquireOptions;
  /**
   * Response statuses after which the request does not count: its charge against `requests`
   * limits is refunded when the response ends (express-rate-limit's `skipFailedRequests`). Tokens
   * and cost recorded on the lease stay charged.
   * @default none: every admitted request counts
   * @example refundWhen: (status) => status >= 500 // a failing upstream does not use up the caller's quota
   */
  refundWhen?(status: number): boolean;
  /**
   * Called when releasing a lease fails (the store is unreachable). The lease expires by its TTL,
   * so nothing leaks for long.
   * @default a `console.warn`
   */
  onReleaseError?(error: unknown): void;
  /**
   * Epoch ms, for the reset times in headers.
   * @default Date.now
   */
  clock?: () => number;
  /**
   * Where misconfiguration warnings go, each at most once per middleware (see `HttpWarning` for
   * their codes); `false` turns them off.
   * @default console.warn
   * @example onWarning: (warning) => logger.warn({ code: warning.code }, warning.message)
   */
  onWarning?: ((warning: HttpWarning) => void) | false;
}

/** A misconfiguration an adapter noticed in the traffic, reported once. */
export interface HttpWarning {
  /**
   * `TOLLGATE_FORWARDED_UNTRUSTED`: a request carried `X-Forwarded-For` while the framework does not
   * trust proxies, so `ip` limits key on the proxy's address (every client behind it shares one
   * budget) — or, if no proxy is in front, a client tried to pick its own address, which was ignored.
   */
  readonly code: 'TOLLGATE_FORWARDED_UNTRUSTED';
  readonly message: string;
}

/** What an adapter tells core about its framework, once. */
export interface FrameworkHooks<Req> {
  /** Whether a request carries a forwarded-for header that the framework's proxy settings ignore. */
  forwardedUntrusted?(req: Req): boolean;
  /** How to trust proxies in this framework, for the warning. */
  trustProxyHint?: string;
}

/** What an admitted request carries: `req.tollgate` in Express, `request.tollgate` in Fastify. */
export interface TollgateContext {
  /** The decision that admitted the request: every limit's state, the tier. */
  readonly decision: AcquireDecision & { allowed: true };
  /** The request's lease: record each LLM call's usage on it (`lease.record(...)`). */
  readonly lease: Lease;
  /** The degradation step to apply (model, max tokens), when the policy has a ladder. */
  readonly degrade: DegradeStep | undefined;
  /**
   * Releases the lease: refunds what was reserved and not used, frees the concurrency slot, and,
   * given the response's status, refunds the request when `refundWhen` says so. The adapter calls
   * it when the response ends or the client goes away; calling it earlier is safe. Never rejects
   * (failures go to `onReleaseError`).
   */
  release(status?: number): Promise<void>;
}

/** A refused request, as every adapter's `onLimited` receives it. */
export interface TollgateRefusal {
  /** The refusing decision: `deniedBy`, `retryAfterMs`, `reason` (`limited`, or a store failure). */
  readonly decision: AcquireDecision & { allowed: false };
  /** What the default sends: status 429 (or 503 when the store failed), headers, OpenAI-style JSON body. */
  readonly response: HttpRefusal;
}

/** How a request went through the limiter. */
export type Admission =
  | { readonly kind: 'skipped' }
  | { readonly kind: 'allowed'; readonly headers: Record<string, string>; readonly context: TollgateContext }
  | ({ readonly kind: 'refused' } & TollgateRefusal);

/**
 * The client address an adapter's framework trusts, or a function returning it: adapters pass a
 * function, so that the framework's trusted-proxy logic runs only when a limit keys on `ip`.
 */
export type ClientIp = string | undefined | (() => string | undefined);
