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
export function capMaxTokens(body: Body, cap: number): Body {
  const present = MAX_TOKEN_FIELDS.filter((field) => typeof body[field] === 'number');
  if (present.length === 0) return { ...body, [CAP_FIELD]: cap };
  const next = { ...body };
  for (const field of present) next[field] = Math.min(body[field] as number, cap);
  return next;
}

/** A call's size, for comparing two models' prices on it. */
export interface CallSize {
  readonly inputTokens: number;
  readonly outputTokens: number;
}

/**
 * Whether `candidate` costs no more than `reference` (for a call of `size`, or a reference call of
 * a thousand tokens in and out); true when either has no price: the ladder applies as written.
 */
export type NoDearer = (candidate: string, reference: string, size?: CallSize) => boolean;

/**
 * Applies a degradation step to a chat request: the step's model replaces the requested one
 * unless it would cost more (a client asking for a cheap model is never moved to a dearer one),
 * its `maxTokens` caps the output (or sets a limit where the request has none).
 */
export function applyStep(body: Body, step: DegradeStep | undefined, noDearer: NoDearer): Body {
  let next = body;
  if (step?.model !== undefined && (typeof body.model !== 'string' || noDearer(step.model, body.model))) next = { ...next, model: step.model };
  if (step?.maxTokens !== undefined) next = capMaxTokens(next, step.maxTokens);
  return next;
}

/** How the gateway rewrote a request, and the headers that tell the client. */
export interface Rewrite {
  readonly changed: boolean;
  readonly headers: Record<string, string>;
}

/**
 * What the client is told about the request as sent: the `x-tollgate-*` headers (the model and
 * output cap sent upstream, the step and why). The request counts as degraded when it is past the
 * first rung of the ladder, or had its model replaced or its own output limit lowered.
 */
export function describeRewrite(requested: Body, sent: Body, step: DegradeStep | undefined, tier: string): Rewrite {
  const asked = requestedMaxTokens(requested);
  const maxTokens = requestedMaxTokens(sent);
  const changed = (step?.step ?? 0) > 0 || sent.model !== requested.model || (asked !== undefined && maxTokens !== asked);
  const headers: Record<string, string> = { 'x-tollgate-tier': tier, 'x-tollgate-model': String(sent.model), 'x-tollgate-degraded': String(changed) };
  if (step) {
    headers['x-tollgate-degrade-step'] = String(step.step);
    headers['x-tollgate-budget-used'] = step.usageRatio.toFixed(4);
  }
  if (maxTokens !== undefined) headers['x-tollgate-max-tokens'] = String(maxTokens);
  if (sent.model !== requested.model) headers['x-tollgate-requested-model'] = String(requested.model);
  return { changed, headers };
}
