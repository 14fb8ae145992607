import { ConfigurationError, createHttpLimit, errorPrefix, ReleaseOnClose, type Admission, type FrameworkHooks } from '@tollgate/core';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { ExpressTollgateOptions, TollgateRefusal } from './options.js';
import { exposeContext } from './request-context.js';

const ADAPTER = 'adapter-express';

function setHeaders(res: Response, headers: Record<string, string>): void {
  for (const name in headers) res.setHeader(name, headers[name]!);
}

const sendRefusal: NonNullable<ExpressTollgateOptions['onLimited']> = (_req, res, _next, { response }) => {
  setHeaders(res, response.headers);
  res.status(response.status).json(response.body);
};

/**
 * Express middleware (Express 4 and 5) that decides on every request it sees with one limiter
 * call. An admitted request goes on with the rate-limit headers set and `req.tollgate` holding its
 * decision and lease; a refused one gets a 429 (503 when the store failed and the policy denies).
 * The lease is released when the response closes: after it is sent, after an error response, or
 * when the client goes away mid-stream. Errors from `identify`, `demand` or `skip` go to `next(error)`.
 * Mount another `tollgate()` on a route to give that route limits of its own.
 *
 * @example
 * app.use('/v1', tollgate({
 *   limiter,
 *   identify: (req) => ({ user: req.user.id }),
 *   demand: (req) => ({ tokens: estimateTokens(req.body), model: req.body.model }),
 * }));
 * app.post('/v1/chat', async (req, res) => {
 *   const { lease, degrade } = req.tollgate!;
 *   // ... call the model named by degrade?.model ...
 *   await lease.record({ model, inputTokens, outputTokens });
 *   res.json(completion);
 * });
 */
/** Express resolves `req.ip` from `X-Forwarded-For` only from proxies its `trust proxy` setting trusts. */
const EXPRESS: FrameworkHooks<Request> = {
  forwardedUntrusted: (req) => req.headers['x-forwarded-for'] !== undefined && req.ip === req.socket.remoteAddress,
  trustProxyHint: "app.set('trust proxy', 1) for one proxy",
};

export function tollgate(options: ExpressTollgateOptions): RequestHandler {
  const admit = createHttpLimit(options, ADAPTER, EXPRESS);
  const onLimited = options.onLimited ?? sendRefusal;
  if (typeof onLimited !== 'function') throw new ConfigurationError(`${errorPrefix(ADAPTER)} onLimited must be a function`);

  /** One request's state, and its lease until the response closes: one object per request. */
  class Pending extends ReleaseOnClose {
    constructor(
      private readonly req: Request,
      private readonly res: Response,
      private readonly next: NextFunction,
    ) {
      super();
    }

    protected override status(): number {
      return this.res.statusCode;
    }

    /** Whether the request goes on to the route; a refusal has answered it (onLimited may be async). */
    proceed(admission: Admission): boolean | Promise<boolean> {
      if (admission.kind === 'skipped') return true;
      const { req, res, next } = this;
      if (admission.kind === 'refused') {
        const refusal: TollgateRefusal = { decision: admission.decision, response: admission.response };
        return Promise.resolve(onLimited(req, res, next, refusal)).then(() => false);
      }
      const { context, headers } = admission;
      // Nobody left to answer: the slot is freed now, and nothing is spent on the handler.
      if (!this.hold(context)) return false;
      setHeaders(res, headers);
      exposeContext(req, context);
      return true;
    }

    /** The asynchronous path: the admission, then the route (or the error handler). */
    settle(admission: Promise<Admission>): void {
      admission.then((settled) => this.proceed(settled)).then((go) => {
        if (go) this.next();
      }, this.next);
    }
  }

  return (req, res, next) => {
    // Listen before deciding: a client that leaves while the limiter decides closes the response
    // before there is a lease.
    const pending = new Pending(req, res, next);
    res.on('close', pending.onClose);

    // `() => req.ip`: Express's trusted-proxy logic runs only if a limit keys on the IP.
    const admission = admit(req, () => req.ip);
    if (admission instanceof Promise) return pending.settle(admission);
    // Decided synchronously (an in-process store): go on without a microtask hop.
    let go: boolean | Promise<boolean>;
    try {
      go = pending.proceed(admission);
    } catch (error) {
      next(error);
      return;
    }
    if (go instanceof Promise) {
      go.then((going) => {
        if (going) next();
      }, next);
    } else if (go) {
      next();
    }
  };
}
