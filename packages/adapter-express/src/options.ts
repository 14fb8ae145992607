import type { HttpLimitOptions, TollgateContext, TollgateRefusal } from '@tollgate/core';
import type { NextFunction, Request, Response } from 'express';

declare global {
  // Express's own extension point: augmenting it types `req.tollgate` in every handler.
  namespace Express {
    interface Request {
      /**
       * Set by `tollgate()` on an admitted request: the decision, the lease to record LLM usage on,
       * and the degradation step. `undefined` on skipped requests and on routes without the
       * middleware. When several `tollgate()` middlewares run on one request, the last one's context.
       * On an Express app's request it is an accessor of the app's request prototype (cheaper than a
       * property added to each request), so it is not among the request's own enumerable keys.
       */
      tollgate?: TollgateContext;
    }
  }
}

/**
 * Options of `tollgate()`: core's shared HTTP options with Express's `Request`, plus how to answer
 * a refused request.
 */
export interface ExpressTollgateOptions extends HttpLimitOptions<Request> {
  /**
   * Sends the response for a refused request instead of the default, which sends
   * `refusal.response` as it is: its status, its headers and its JSON body. It may also call
   * `next()` (to let the request through anyway) or `next(error)`; a thrown error or a rejection
   * goes to `next(error)`.
   * @default sends `refusal.response`
   * @example
   * onLimited: (req, res, next, { response }) =>
   *   res.status(response.status).set(response.headers).json({ message: 'Slow down', retryAfterMs: response.body.error.retry_after_ms })
   */
  onLimited?(req: Request, res: Response, next: NextFunction, refusal: TollgateRefusal): void | Promise<void>;
}

export type { TollgateRefusal };
