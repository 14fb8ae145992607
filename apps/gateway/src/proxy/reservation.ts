import { withOutputCap, type LlmDemand } from '@tollgate/llm';
import type { NoDearer, Output } from './degrade.js';

type Body = Record<string, unknown>;

/**
 * A request made to fit what was reserved for it, so that what is sent can never cost more than
 * the reservation: the output is capped at the reserved output (per choice: the estimate reserves
 * the cap times `n`), set when the request has no cap; and a model dearer than the one reserved
 * for is replaced by it. The estimate is made with the ladder's step that `check` saw, and the
 * decision may pick another step (a refund in between moves the caller back up the ladder): the
 * decision's step applies only as far as the reservation covers it. A request of an API without
 * output (embeddings) is reserved as it is sent: nothing to fit.
 */
export function withinReservation(body: Body, reserved: LlmDemand, noDearer: NoDearer, output: Output): Body {
  if (output === undefined) return body;
  const choices = typeof body.n === 'number' && body.n > 1 ? body.n : 1;
  const model = typeof body.model === 'string' && noDearer(body.model, reserved.model, reserved) ? body.model : reserved.model;
  return withOutputCap({ ...body, model }, output.format, Math.floor(reserved.outputTokens / choices));
}
