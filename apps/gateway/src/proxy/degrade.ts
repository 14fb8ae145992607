import type { DegradeStep } from '@tollgate/core';

type Body = Record<string, unknown>;

/** The output-limit fields of a chat request, in the order OpenAI reads them. */
const MAX_TOKEN_FIELDS = ['max_completion_tokens', 'max_tokens'] as const;
/** Where a cap goes when the request sets none (what current OpenAI models read). */
const CAP_FIELD = 'max_completion_tokens';

/** The output limit a request sets, if any. */
export function requestedMaxTokens(body: Body): number | undefined {
  return MAX_TOKEN_FIELDS.map((field) => body[field]).find((value): value is number => typeof value === 'number');
}

/** The body with its output limit no higher than `cap` (set when it had none). */
function capMaxTokens(body: Body, cap: number): Body {
  const present = MAX_TOKEN_FIELDS.filter((field) => typeof body[field] === 'number');
  if (present.length === 0) return { ...body, [CAP_FIELD]: cap };
  const next = { ...body };
  for (const field of present) next[field] = Math.min(body[field] as number, cap);
  return next;
}

/** A request as the degradation step rewrote it, and the headers that say so. */
export interface Degraded {
  readonly body: Body;
  readonly changed: boolean;
  readonly headers: Record<string, string>;
}

/** Whether `candidate` costs no more than `requested` (true when either has no price: the ladder applies as written). */
export type NoDearer = (candidate: string, requested: string) => boolean;

/**
 * Applies the decision's degradation step to a chat request: the step's model replaces the
 * requested one unless it would cost more (a client asking for a cheap model is never moved to a
 * dearer one), its `maxTokens` caps the output (or sets a limit where the request has none). The
 * request counts as degraded when it is past the first rung of the ladder, or had its model
 * replaced or its own output limit lowered. The `x-tollgate-*` headers tell the client what was
 * sent upstream and why.
 */
export function degrade(body: Body, step: DegradeStep | undefined, tier: string, noDearer: NoDearer): Degraded {
  let next = body;
  if (step?.model !== undefined && (typeof body.model !== 'string' || noDearer(step.model, body.model))) next = { ...next, model: step.model };
  if (step?.maxTokens !== undefined) next = capMaxTokens(next, step.maxTokens);
  const asked = requestedMaxTokens(body);
  const maxTokens = requestedMaxTokens(next);
  const changed = (step?.step ?? 0) > 0 || next.model !== body.model || (asked !== undefined && maxTokens !== asked);
  const headers: Record<string, string> = { 'x-tollgate-tier': tier, 'x-tollgate-model': String(next.model), 'x-tollgate-degraded': String(changed) };
  if (step) {
    headers['x-tollgate-degrade-step'] = String(step.step);
    headers['x-tollgate-budget-used'] = step.usageRatio.toFixed(4);
  }
  if (maxTokens !== undefined) headers['x-tollgate-max-tokens'] = String(maxTokens);
  if (next.model !== body.model) headers['x-tollgate-requested-model'] = String(body.model);
  return { body: next, changed, headers };
}
